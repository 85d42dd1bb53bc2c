"""The staff's journeys through the web front end, in real Chromium.

Bankers find accounts and people, freeze and close accounts, work the
approvals, review and loans queues, read the report, check the ledger and the
audit log; auditors see the same screens with nothing to press.
"""

import time

import pytest
from bson import ObjectId

from tests.browser import wait
from tests.factories import balance_cents, flagged_deposit
from tests.web import downloaded, policy_violations, web_session


@pytest.fixture(scope="module")
def session():
    with web_session() as web:
        yield web


@pytest.fixture
def web(session):
    session.console()
    yield session
    assert policy_violations(session.console()) == []


def rows(web) -> list[str]:
    return [
        row.text for row in web.driver.find_elements("css selector", "main tbody tr")
    ]


def test_find_freeze_unfreeze_and_close_accounts(web):
    carol = web.customer("frost", cents=1_000)
    empty = web.call("POST", "/accounts", carol["headers"], {"kind": "savings"})
    banker = web.staff()
    web.sign_in(banker["username"])
    assert web.heading() == "Accounts"
    web.fill("Username starts with", carol["username"])
    web.press("Show")
    assert len(rows(web)) == 2
    web.press(f"Freeze {carol['number']}")
    web.wait_text(f"{carol['number']} is now frozen.")
    assert (
        web.db()["accounts"].find_one({"account_number": carol["number"]})["status"]
        == "frozen"
    )
    refused = web.app.test_client().post(
        "/deposit", json={"amount": "1.00"}, headers=carol["headers"]
    )
    assert refused.get_json()["code"] == "account_frozen"
    web.press(f"Unfreeze {carol['number']}")
    web.wait_text(f"{carol['number']} is now active.")
    web.press(f"Close {carol['number']}")
    web.press("Yes, close it")
    web.wait_problem("Only an account with a zero balance")
    web.press(f"Close {empty['account_number']}")
    web.press("Yes, close it")
    web.wait_text(f"{empty['account_number']} is now closed.")
    assert balance_cents(web.app, carol["number"]) == 1_000
    assert (
        web.db()["accounts"].find_one({"account_number": empty["account_number"]})[
            "status"
        ]
        == "closed"
    )


def test_customers_are_found_and_disabled(web):
    carol = web.customer("person", full_name="Pat Person")
    banker = web.staff()
    web.sign_in(banker["username"], then="/app/staff/customers")
    web.fill("Username starts with", carol["username"])
    web.press("Show")
    assert "Pat Person" in rows(web)[0]
    web.press(f"Disable {carol['username']}")
    web.wait_text(f"{carol['username']} is now disabled.")
    user = web.db()["users"].find_one({"_id": ObjectId(carol["user"]["id"])})
    assert user["active"] is False


def test_transactions_filter_by_customer_and_type(web):
    carol = web.customer("ledgered", cents=10_000)
    web.call("POST", "/withdraw", carol["headers"], {"amount": "3.21"})
    banker = web.staff()
    web.sign_in(banker["username"], then="/app/staff/transactions")
    web.fill("Customer username", carol["username"])
    web.press("Show")
    assert len(rows(web)) == 2
    web.choose("Type", "Withdrawal")
    web.press("Show")
    (only,) = rows(web)
    assert "−3.21 USD" in only and carol["username"] in only
    web.visit(f"/app/staff/transactions?account_number={carol['number']}")
    assert len(rows(web)) == 2


def test_approvals_queue_approve_and_reject(web):
    carol = web.customer("whale", cents=3_000_000)
    for amount in ("10000.00", "12000.00"):
        web.call("POST", "/withdraw", carol["headers"], {"amount": amount})
    banker = web.staff()
    web.sign_in(banker["username"], then="/app/staff/approvals")
    who = carol["username"]
    web.press(f"Approve the withdrawal of 10,000.00 USD by {who}")
    web.wait_text("Approved: posted.")
    web.press(f"Reject the withdrawal of 12,000.00 USD by {who}")
    web.fill("Reason", "Call the customer first")
    web.press("Reject")
    web.wait_text("Rejected: rejected.")
    assert balance_cents(web.app, carol["number"]) == 2_000_000
    found = {
        a["amount_cents"]: a
        for a in web.db()["approvals"].find({"from_account_number": carol["number"]})
    }
    assert found[1_000_000]["status"] == "posted"
    assert found[1_200_000]["status"] == "rejected"
    assert found[1_200_000]["reason"] == "Call the customer first"


def test_review_queue_closes_a_flagged_movement(web):
    carol = web.customer("flagged")
    review_id = flagged_deposit(web.app, carol["number"])
    banker = web.staff()
    web.sign_in(banker["username"], then="/app/staff/reviews")
    assert carol["username"] in web.main_text()
    web.choose("Outcome", "Legitimate")
    web.fill("Note", "Salary bonus")
    web.press("Close the review")
    web.wait_text("Closed as legitimate.")
    review = web.db()["reviews"].find_one({"_id": ObjectId(review_id)})
    assert review["status"] == "closed" and review["outcome"] == "legitimate"


def test_loans_queue_approve_disburse_and_reject(web):
    carol, dave = web.customer("lendee", cents=1_000), web.customer("refusee")
    products = web.call("GET", "/loan-products", carol["headers"])["items"]
    product = products[0]["id"]
    for person, amount in ((carol, "2000.00"), (dave, "900.00")):
        web.call(
            "POST",
            "/loans",
            person["headers"],
            {"product_id": product, "amount": amount, "term_months": 12},
        )
    banker = web.staff()
    web.sign_in(banker["username"], then="/app/staff/loans")
    web.press(f"Approve the loan of 2,000.00 USD to {carol['username']}")
    web.wait_text("Approved: now approved")
    web.press(f"Reject the loan of 900.00 USD to {dave['username']}")
    web.fill("Reason", "Income too low")
    web.press("Reject")
    web.wait_text("Rejected (rejected).")
    web.choose("Status", "Approved")
    web.press("Show")
    web.press(f"Disburse the loan of 2,000.00 USD to {carol['username']}")
    web.double_press("Yes, disburse")
    web.wait_text("Disbursed: the loan is active.")
    assert balance_cents(web.app, carol["number"]) == 201_000
    loans = {str(loan["user_id"]): loan for loan in web.db()["loans"].find({})}
    assert loans[carol["user"]["id"]]["status"] == "active"
    assert loans[dave["user"]["id"]]["status"] == "rejected"


def test_ledger_check_and_trial_balance(web):
    web.customer("books", cents=12_345)
    banker = web.staff()
    web.sign_in(banker["username"], then="/app/staff/ledger")
    text = web.wait_text("The ledger checks out")
    assert "Total 0.00 USD" in text


def test_audit_log_filters_and_verifies(web):
    carol = web.customer("audited")
    banker = web.staff()
    web.sign_in(banker["username"], then="/app/staff/audit")
    web.fill("Who (username)", carol["username"])
    web.press("Show")
    assert any("Login success" in row for row in rows(web)), rows(web)
    web.press("Verify the chain")
    web.wait_text("The audit log is intact")


def test_monthly_report(web):
    web.customer("reported", cents=5_000)
    banker = web.staff()
    month = time.strftime("%Y-%m", time.gmtime())
    report = web.call(
        "GET",
        "/banker/reports/monthly",
        banker["headers"],
        query_string={"month": month},
    )
    web.sign_in(banker["username"], then="/app/staff/report")
    text = web.wait_text(f"Customers in {month}")
    assert f"Total\n{report['customers']['total']}" in text
    deposits = report["movements"]["deposit"]
    row = next(r for r in rows(web) if r.startswith("Deposit"))
    assert row == f"Deposit {deposits['count']} {money(deposits['volume'])} USD"
    web.press("Download as CSV")
    web.wait_text("Downloaded")
    csv = wait(web.driver).until(
        lambda d: downloaded(web.downloads, f"report-{month}.csv")
    )
    assert month.encode() in csv


def money(amount: str) -> str:
    """The screen's grouping of an amount: "12345.60" -> "12,345.60"."""
    whole, cents = amount.split(".")
    return f"{int(whole):,}.{cents}"


def test_an_auditor_reads_every_screen_and_can_press_nothing(web):
    carol = web.customer("watched", cents=2_000_000)
    web.call("POST", "/withdraw", carol["headers"], {"amount": "10000.00"})
    auditor = web.staff("auditor")
    web.sign_in(auditor["username"])
    for label in (
        "Accounts",
        "Customers",
        "Transactions",
        "Approvals",
        "Reviews",
        "Loans",
        "Ledger check",
        "Audit log",
    ):
        web.go(label)
        assert web.problems() == [], (label, web.problems())
        buttons = {
            b.text
            for b in web.driver.find_elements("css selector", "main button")
            if b.is_displayed()
        }
        # Only the filters' "Show" (and re-reading); nothing that changes anything.
        assert buttons <= {
            "Show",
            "Show more",
            "Check the ledger again",
            "Verify the chain",
        }, (label, buttons)
    web.go("Approvals")
    assert carol["username"] in web.main_text()
