"""The dashboard: a customer's first screen in one call, in a fixed number of
round trips whatever their history."""

from datetime import UTC, datetime, timedelta

from app.core.statements import Month
from app.models import ledger
from app.models.account import AccountModel
from tests import history
from tests.factories import fund
from tests.helpers import assert_problem


def post(client, customer, path: str, body: dict, status: int = 201) -> dict:
    response = client.post(path, headers=customer["headers"], json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def dashboard(client, customer) -> dict:
    response = client.get("/dashboard", headers=customer["headers"])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_first_screen_shows_what_the_customer_holds(
    app, client, customer, other_customer, banker
):
    primary = customer["account"]["account_number"]
    post(client, customer, "/deposit", {"amount": "500.00"})
    savings = post(client, customer, "/accounts", {"kind": "savings"})
    closing = post(client, customer, "/accounts", {"kind": "savings"})
    goal = post(client, customer, "/goals", {"name": "Bike", "target_amount": "300.00"})
    post(client, customer, f"/goals/{goal['id']}/deposits", {"amount": "120.00"})
    to_savings = {"to_account_number": savings["account_number"], "amount": "80.00"}
    post(client, customer, "/transfers", to_savings)
    post(client, customer, "/transfers",
         {"to_account_number": other_customer["account"]["account_number"],
          "amount": "25.00"})  # fmt: skip
    post(client, customer, "/withdraw", {"amount": "15.00"})
    patched = client.patch(
        f"/banker/accounts/{closing['account_number']}",
        headers=banker["headers"],
        json={"status": "closed"},
    )
    assert patched.status_code == 200
    # A loan owed: shown, not subtracted from what the customer holds.
    with app.app_context():
        account = AccountModel().find_by_number(primary)
        owner = {"_id": account["user_id"], "username": "carol"}
        loan = AccountModel().create(owner, "USD", kind="loan")
        ledger.transfer(loan, primary, 200_00, "Loan",
                        terms=ledger.Terms(floor_cents=-200_00))  # fmt: skip
    body = dashboard(client, customer)
    assert body["currency"] == "USD"
    # 500 + 200 (the loan's money) - 25 - 15 out: 660.00 across checking,
    # savings and the goal.
    assert body["total_balance"] == "660.00"
    shown = [(a["account_number"], a["balance"]) for a in body["accounts"]]
    assert shown[0] == (primary, "460.00")
    assert set(shown[1:]) == {(savings["account_number"], "80.00"),
                              (loan["account_number"], "-200.00")}  # fmt: skip
    assert body["this_month"] == {"income": "500.00", "expenses": "40.00"}
    assert [t["type"] for t in body["recent"]] == [
        "transfer_in",
        "transfer_out",
        "withdrawal",
        "transfer_out",
        "transfer_in",
    ]
    assert len(body["recent"]) == 5
    assert [(g["name"], g["balance"]) for g in body["goals"]] == [("Bike", "120.00")]
    assert body["goals"][0]["progress"]["percent"] == 40


def test_a_closed_goal_is_not_on_the_first_screen(client, customer):
    post(client, customer, "/deposit", {"amount": "10.00"})
    goal = post(client, customer, "/goals", {"name": "Gone"})
    post(client, customer, f"/goals/{goal['id']}/deposits", {"amount": "4.00"})
    assert (
        client.delete(f"/goals/{goal['id']}", headers=customer["headers"]).status_code
        == 200
    )
    body = dashboard(client, customer)
    assert body["goals"] == []
    assert body["total_balance"] == "10.00"


def test_a_new_customer_sees_zeros(client, customer):
    body = dashboard(client, customer)
    assert body["total_balance"] == "0.00"
    assert body["this_month"] == {"income": "0.00", "expenses": "0.00"}
    assert body["recent"] == [] and body["goals"] == []
    assert [a["primary"] for a in body["accounts"]] == [True]


def test_this_month_counts_only_this_month(app, client, customer, monkeypatch):
    zone = app.config["BANK_TIMEZONE"]
    start = Month.of(datetime.now(UTC), zone).start(zone)
    clock = history.install(monkeypatch, history.Clock(start - timedelta(days=3)))
    fund(app, customer["account"]["account_number"], 70_00)  # last month
    clock.at(start + timedelta(hours=1))
    fund(app, customer["account"]["account_number"], 5_00)
    assert dashboard(client, customer)["this_month"]["income"] == "5.00"


def test_the_dashboard_costs_the_same_round_trips_whatever_the_history(
    app, client, customer
):
    number = customer["account"]["account_number"]
    post(client, customer, "/goals", {"name": "Trip"})

    def counted() -> history.Reads:
        reads = history.count_reads(app)
        try:
            dashboard(client, customer)
        finally:
            history.stop_counting(app, reads)
        return reads

    fund(app, number, 1_00)
    first = counted()
    for _ in range(40):
        fund(app, number, 1_00)
    later = counted()
    assert later.calls == first.calls
    # The user (with its sessions), the accounts, the goals, this month's
    # entries, the last five: one round trip each.
    assert len(first.calls) <= 6, first.calls
    # This month's 41 entries, and the newest six (five and the one that says
    # more follow).
    assert later.documents["transactions"] == 41 + 6


def test_the_dashboard_is_the_customers(client, banker, auditor):
    for staff in (banker, auditor):
        assert_problem(client.get("/dashboard", headers=staff["headers"]), 403,
                       "forbidden")  # fmt: skip
    assert_problem(client.get("/dashboard"), 401, "token_missing")
