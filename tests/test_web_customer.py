"""The customer's journeys through the web front end, in real Chromium.

Each test does what a person does (fills labelled fields, presses buttons),
asserts on what the screen says, then on what the API stored. One browser and
one live server serve the module; every test starts from a fresh page load.
"""

import re
import time

import pytest
from bson import ObjectId

from tests.browser import wait
from tests.factories import balance_cents
from tests.helpers import sent_reset_code
from tests.web import downloaded, policy_violations, web_session


@pytest.fixture(scope="module")
def session():
    with web_session() as web:
        yield web


@pytest.fixture
def web(session):
    """The module's browser; afterwards, no policy violation or uncaught error."""
    session.console()  # forget what earlier tests logged
    yield session
    assert policy_violations(session.console()) == []


def user_id(person: dict) -> ObjectId:
    return ObjectId(person["user"]["id"])


def movements(web, number: str) -> list[dict]:
    """The account's posted movements (refused ones are journalled too)."""
    found = web.db()["transactions"].find(
        {"account_number": number, "status": "posted"}
    )
    return list(found)


def tokens_in_urls(web) -> list[str]:
    return [
        m["params"]["request"]["url"]
        for m in web.network()
        if m["method"] == "Network.requestWillBeSent"
        and m["params"]["request"]["url"].startswith("http")
        and re.search(r"eyJ|token", m["params"]["request"]["url"])
    ]


def test_sign_up_then_out_then_in_again(web):
    web.open("/app/signup")
    web.fill("Username", "Newcomer_1")
    web.fill("Password", "a-long-enough-Passphrase")
    web.fill("Full name", "Nora Newcomer")
    web.press("Open my account")
    text = web.wait_text("Welcome!")
    assert web.heading() == "Overview"
    number = re.search(r"Your account (\d{10}) is open with 0.00 USD", text).group(1)
    assert (
        "Nora Newcomer (customer)"
        in web.driver.find_element("css selector", ".who").text
    )
    assert web.driver.find_element("css selector", ".total-balance").text == "0.00 USD"
    # The tokens live in the page's memory only.
    stored = web.storage()
    assert stored["local"] == {} and stored["session"] == {} and stored["cookie"] == ""
    assert "token" not in stored["url"] and "eyJ" not in stored["url"]

    web.press("Sign out")
    web.wait_text("You are signed out.")
    assert web.heading() == "Sign in"
    user = web.db()["users"].find_one({"username": "newcomer_1"})
    assert user["full_name"] == "Nora Newcomer"
    assert (
        web.db()["accounts"].find_one({"account_number": number})["user_id"]
        == user["_id"]
    )
    assert len(user.get("ended_sessions") or {}) == 1  # logout revoked it

    web.fill("Username", "newcomer_1")
    web.fill("Password", "not-the-password")
    web.press("Sign in")
    assert "Invalid username or password." in web.wait_problem("Invalid username")
    web.fill("Password", "a-long-enough-Passphrase")
    web.press("Sign in")
    web.wait_text("Total balance")
    assert tokens_in_urls(web) == []


def test_sign_up_refusal_names_the_field(web):
    taken = web.customer("taken")
    web.open("/app/signup")
    web.fill("Username", taken["username"])
    web.fill("Password", "a-long-enough-Passphrase")
    web.press("Open my account")
    web.wait_problem("That username is taken.")
    web.fill("Username", "fresh_name")
    web.fill("Password", "password")
    web.press("Open my account")
    web.wait_problem("The request is not valid.")
    error = web.driver.find_element("css selector", "[aria-invalid='true']")
    assert error.get_attribute("name") == "password"
    described = error.get_attribute("aria-describedby").split()
    said = [web.driver.find_element("id", i).text for i in described]
    assert "Is too common; choose another." in said
    assert web.db()["users"].find_one({"username": "fresh_name"}) is None


def test_overview_shows_balances_this_month_and_the_chart(web):
    carol = web.customer("carol", cents=150_000)
    web.call("POST", "/withdraw", carol["headers"], {"amount": "200.25"})
    web.sign_in(carol["username"])
    assert web.heading() == "Overview"
    find = web.driver.find_element
    assert find("css selector", ".total-balance").text == "1,299.75 USD"
    assert find("css selector", ".income").text == "1,500.00 USD"
    assert find("css selector", ".expenses").text == "200.25 USD"
    recent = web.main_text()
    assert "−200.25 USD" in recent and "+1,500.00 USD" in recent
    image = find("css selector", "img.chart-image")
    wait(web.driver).until(
        lambda d: d.execute_script("return arguments[0].naturalWidth > 0", image)
    )
    assert image.get_attribute("src").startswith("blob:")  # fetched with the token
    find("css selector", "details.figures-table summary").click()
    month = time.strftime("%Y-%m", time.gmtime())
    (row,) = [
        r.text
        for r in web.driver.find_elements(
            "css selector", "details.figures-table tbody tr"
        )
        if r.text.startswith(month)
    ]
    assert row == f"{month} 1,500.00 USD 200.25 USD 1,299.75 USD 2"


def test_history_filters_and_pages(web):
    carol = web.customer("hist", cents=100_000)
    for n in range(22):
        web.call("POST", "/deposit", carol["headers"], {"amount": f"1.{n:02d}"})
    web.call("POST", "/withdraw", carol["headers"], {"amount": "7.00"})
    web.sign_in(carol["username"], then="/app/history")
    rows = "main tbody tr"
    assert len(web.driver.find_elements("css selector", rows)) == 20
    web.press("Show more")
    assert len(web.driver.find_elements("css selector", rows)) == 24
    assert "End of the list." in web.main_text()
    web.choose("Type", "Withdrawal")
    web.press("Show")
    shown = web.driver.find_elements("css selector", rows)
    assert len(shown) == 1 and "−7.00 USD" in shown[0].text
    web.choose("Type", "Any type")
    web.fill("From", "01012001")  # the date control's keyboard entry
    web.fill("To", "01012001")
    web.press("Show")
    assert "No movements match." in web.main_text()


def test_deposit_withdraw_and_transfer_are_exact_and_confirmed(web):
    carol, dave = web.customer("exact"), web.customer("payee")
    web.sign_in(carol["username"])
    for amount, balance in (("0.10", "0.10"), ("0.20", "0.30")):
        web.go("Deposit")
        web.fill("Amount", amount)
        web.press("Review")
        assert "Check and confirm" in web.main_text()
        assert web.driver.find_element("css selector", ".confirm-amount").text == (
            f"{amount} USD"
        )
        web.press("Confirm the deposit")
        assert f"New balance {balance} USD" in web.wait_text("Deposit made")
    assert balance_cents(web.app, carol["number"]) == 30

    web.go("Withdraw")
    web.fill("Amount", "0.05")
    web.press("Review")
    web.press("Confirm the withdraw")
    assert "New balance 0.25 USD" in web.wait_text("Withdrawal made")

    web.go("Transfer")
    web.fill("Or to account number", dave["number"])
    web.fill("Amount", "0.15")
    web.fill("Description", "Lunch")
    web.press("Review")
    assert dave["number"] in web.main_text()
    web.press("Change")  # back to the form, the values kept
    assert web.field("Amount").get_attribute("value") == "0.15"
    web.press("Review")
    web.press("Confirm the transfer")
    assert "New balance 0.10 USD" in web.wait_text("Transfer sent")
    assert balance_cents(web.app, carol["number"]) == 10
    assert balance_cents(web.app, dave["number"]) == 15
    web.go("Overview")
    assert web.driver.find_element("css selector", ".total-balance").text == "0.10 USD"


def test_a_double_click_on_confirm_moves_money_once(web):
    carol = web.customer("double")
    web.sign_in(carol["username"], then="/app/deposit")
    web.fill("Amount", "10.00")
    web.press("Review")
    web.double_press("Confirm the deposit")
    web.wait_text("Deposit made")
    assert len(movements(web, carol["number"])) == 1
    assert balance_cents(web.app, carol["number"]) == 1_000


def test_a_resubmit_after_a_lost_answer_moves_money_once(web):
    carol = web.customer("lost")
    web.sign_in(carol["username"], then="/app/deposit")
    web.fill("Amount", "25.00")
    web.press("Review")
    web.lose_answers.paths.append("/deposit")
    web.press("Confirm the deposit")
    # The deposit was made, but the browser never heard: it says so.
    assert "The answer was lost" in web.wait_problem("lost")
    assert balance_cents(web.app, carol["number"]) == 2_500
    web.press("Confirm the deposit")  # the same Idempotency-Key: a replay
    assert "New balance 25.00 USD" in web.wait_text("Deposit made")
    assert len(movements(web, carol["number"])) == 1
    keys = web.db()["idempotency_keys"].count_documents({"user_id": user_id(carol)})
    assert keys == 1


def test_refusals_show_the_detail_next_to_the_form(web):
    carol = web.customer("refused", cents=2_000)
    web.sign_in(carol["username"], then="/app/withdraw")
    web.fill("Amount", "1.234")
    web.press("Review")  # refused here, before anything is sent
    assert "at most two decimals" in web.main_text()
    web.fill("Amount", "50.00")
    web.press("Review")
    web.press("Confirm the withdraw")
    problem = web.wait_problem("Insufficient funds")
    assert "20.00" in problem and "50.00" in problem
    assert balance_cents(web.app, carol["number"]) == 2_000

    web.go("Transfer")
    web.fill("Or to account number", "0000000000")
    web.fill("Amount", "1.00")
    web.press("Review")
    web.press("Confirm the transfer")
    web.wait_problem("Account not found.")
    assert balance_cents(web.app, carol["number"]) == 2_000
    assert len(movements(web, carol["number"])) == 1  # the funding only


def test_goals_open_add_take_out_and_close(web):
    carol = web.customer("saver", cents=10_000)
    web.sign_in(carol["username"], then="/app/goals")
    web.fill("Name", "Bike")
    web.fill("Target amount", "100.00")
    web.press("Open the goal")
    web.wait_text("Goal “Bike” opened.")
    web.press("Add money to Bike")
    web.fill("Amount", "30.00")
    web.press("Review")
    web.press("Confirm adding")
    assert "Bike now holds 30.00 USD." in web.wait_text("now holds")
    assert "30% of the target" in web.main_text()
    assert "Still to save\n70.00 USD" in web.main_text()
    web.press("Take money out of Bike")
    web.fill("Amount", "10.00")
    web.press("Review")
    web.press("Confirm taking out")
    web.wait_text("Bike now holds 20.00 USD.")
    assert balance_cents(web.app, carol["number"]) == 8_000
    web.press("Close the goal Bike")
    web.press("Yes, close it")
    text = web.wait_text("is closed")
    assert f"20.00 USD went back to {carol['number']}" in text
    assert balance_cents(web.app, carol["number"]) == 10_000
    goal = web.db()["goals"].find_one({"name": "Bike"})
    assert goal["status"] == "closed"


def test_payees_show_the_name_check(web):
    carol = web.customer("payer")
    randy = web.customer("randy", full_name="Randall Stone")
    maria = web.customer("maria", full_name="Maria Lopez")
    other = web.customer("other", full_name="Olga Other")
    web.sign_in(carol["username"], then="/app/payees")
    web.fill("Account number", randy["number"])
    web.fill("Account holder's name", "Randall Stone")
    web.press("Check and add")
    assert "Name check: Match" in web.wait_text("Randall Stone added.")
    web.fill("Account number", maria["number"])
    web.fill("Account holder's name", "M Lopez")
    web.fill("Nickname", "Landlady")
    web.press("Check and add")
    text = web.wait_text("Landlady added.")
    assert "Close match: the account holder is Maria Lopez." in text
    web.fill("Account number", other["number"])
    web.fill("Account holder's name", "Somebody Else")
    web.press("Check and add")
    assert "does not match the account holder" in web.wait_problem("does not match")
    web.check("The name does not match, and I still want to add this payee")
    web.press("Check and add")
    assert "No match" in web.wait_text("Somebody Else added.")
    stored = {
        p["name"]: p["name_check"]["result"]
        for p in web.db()["payees"].find({"user_id": user_id(carol)})
    }
    assert stored == {
        "Randall Stone": "match",
        "M Lopez": "close_match",
        "Somebody Else": "no_match",
    }


def test_scheduled_transfers_place_pause_resume_cancel(web, session):
    carol, dave = web.customer("sched", cents=10_000), web.customer("rent")
    banker = web.staff()
    web.sign_in(carol["username"], then="/app/scheduled")
    web.fill("Or to account number", dave["number"])
    web.fill("Amount", "12.50")
    today = web.driver.execute_script("return new Date().toISOString().slice(0, 10)")
    web.driver.execute_script(
        "arguments[0].value = arguments[1]", web.field("First payment on"), today
    )
    web.choose("Repeat", "Monthly")
    web.fill("How many payments", "3")
    web.press("Schedule it")
    text = web.wait_text("Scheduled: 12.50 USD")
    assert f"every month from {today}, 3 times" in text
    web.call("POST", "/banker/jobs/scheduled_transfers/run", banker["headers"])
    assert balance_cents(web.app, dave["number"]) == 1_250
    name = f"12.50 USD to {dave['number']}"
    web.press(f"Pause {name}")
    web.wait_text("Paused:")
    web.press(f"Resume {name}")
    web.wait_text("Resumed:")
    web.press(f"Runs of {name}")
    runs = web.wait_text("Succeeded")
    assert today in runs
    web.press(f"Cancel {name}")
    web.press("Yes, cancel it")
    web.wait_text("Cancelled:")
    order = web.db()["scheduled_transfers"].find_one(
        {"to_account_number": dave["number"]}
    )
    assert order["status"] == "cancelled" and order["runs_made"] == 1


def test_statements_view_and_download(web):
    carol = web.customer("stmt", cents=5_000)
    web.call("POST", "/withdraw", carol["headers"], {"amount": "12.34"})
    month = time.strftime("%Y-%m", time.gmtime())
    web.sign_in(carol["username"], then="/app/statements")
    web.press(f"View {month}")
    text = web.wait_text("Closing balance")
    assert "Opening balance\n0.00 USD" in text and "Money out\n12.34 USD" in text
    assert web.driver.find_element("css selector", ".closing-balance").text == (
        "37.66 USD"
    )
    web.press(f"Download {month} as CSV")
    web.wait_text("Downloaded")
    name = f"statement-{carol['number']}-{month}.csv"
    csv = wait(web.driver).until(lambda d: downloaded(web.downloads, name))
    assert b"12.34" in csv and b"50.00" in csv


def test_loans_apply_see_the_schedule_and_repay(web):
    carol = web.customer("borrower", cents=50_000)
    banker = web.staff()
    web.sign_in(carol["username"], then="/app/loans")
    web.fill("Amount", "1000.00")
    web.fill("Term in months", "12")
    web.fill("Purpose", "A bike")
    web.press("Apply")
    text = web.wait_text("Application sent")
    assert "1,000.00 USD is submitted" in text
    assert text.count("88.85 USD") >= 11 and "88.84 USD" in text
    loan = web.db()["loans"].find_one({"purpose": "A bike"})
    loan_id = str(loan["_id"])
    web.call("POST", f"/banker/loans/{loan_id}/approve", banker["headers"])
    web.call("POST", f"/banker/loans/{loan_id}/disburse", banker["headers"])
    assert balance_cents(web.app, carol["number"]) == 150_000
    web.go("Loans")
    web.press("1,000.00 USD over 12 months")
    assert "Outstanding\n1,000.00 USD" in web.wait_text("Repay")
    assert web.field("Amount").get_attribute("value") == "88.85"
    web.press("Review")
    web.press("Confirm the repayment")
    text = web.wait_text("Repaid 88.85 USD")
    assert "outstanding 911.15 USD" in text
    assert balance_cents(web.app, carol["number"]) == 150_000 - 8_885


def test_a_large_withdrawal_waits_for_approval_and_can_be_cancelled(web):
    carol = web.customer("big", cents=2_000_000)
    web.sign_in(carol["username"], then="/app/withdraw")
    web.fill("Amount", "10000.00")
    web.press("Review")
    web.press("Confirm the withdraw")
    assert "waiting for a banker's approval" in web.wait_text("waiting")
    web.go("Approvals")
    assert "Pending approval" in web.main_text()
    web.press("Cancel the withdrawal of 10,000.00 USD")
    web.wait_text("The withdrawal of 10,000.00 USD is cancelled")
    approval = web.db()["approvals"].find_one({"from_account_number": carol["number"]})
    assert approval["status"] == "cancelled"
    assert balance_cents(web.app, carol["number"]) == 2_000_000


def test_notifications_are_listed_and_marked_read(web):
    carol, dave = web.customer("told"), web.customer("sender", cents=500_000)
    banker = web.staff()
    web.call(
        "POST",
        "/transfers",
        dave["headers"],
        {"to_account_number": carol["number"], "amount": "1500.00"},
    )
    web.call("POST", "/banker/jobs/notifications/run", banker["headers"])
    web.sign_in(carol["username"], then="/app/notifications")
    (row,) = web.driver.find_elements("css selector", "main tbody tr")
    assert "Money received" in row.text
    assert f"1,500.00 USD arrived in your account {carol['number']}" in row.text
    web.press("Mark “Money received” as read")
    web.wait_text("Read 20")
    stored = web.db()["notifications"].find_one(
        {"user_id": user_id(carol), "channel": "in_app", "event": "incoming_transfer"}
    )
    assert stored["read_at"] is not None


def test_profile_password_and_daily_limit(web):
    carol = web.customer("profile", cents=20_000)
    web.sign_in(carol["username"], then="/app/settings")
    web.fill("Full name", "Carol Prof")
    web.fill("Mobile phone", "12345")
    web.press("Save my details")
    web.wait_problem("The request is not valid.")
    web.fill("Mobile phone", "+447700900123")
    web.press("Save my details")
    web.wait_text("Your details are saved.")
    assert (
        "Carol Prof (customer)" in web.driver.find_element("css selector", ".who").text
    )

    web.fill("Current password", "wrong-password-here")
    web.fill("New password", "another-Passphrase-9")
    web.press("Change the password")
    web.wait_problem("current password")
    web.fill("Current password", carol["password"])
    web.fill("New password", "another-Passphrase-9")
    web.press("Change the password")
    web.wait_text("Your password is changed.")

    web.fill("New daily limit", "50.00")
    web.press("Set the limit")
    web.wait_text("Your daily limit is now 50.00 USD.")
    assert web.driver.find_element("css selector", ".daily-limit").text == "50.00 USD"
    web.go("Withdraw")
    web.fill("Amount", "60.00")
    web.press("Review")
    web.press("Confirm the withdraw")
    problem = web.wait_problem("Daily limit exceeded")
    assert "Daily limit 50.00, sent today 0.00, left today 50.00." in problem
    assert balance_cents(web.app, carol["number"]) == 20_000

    web.sign_in(carol["username"], "another-Passphrase-9")
    assert web.heading() == "Overview"
    user = web.db()["users"].find_one({"username": carol["username"]})
    assert user["full_name"] == "Carol Prof" and user["phone"] == "+447700900123"


def test_password_reset_by_code(web):
    carol = web.customer("forgot", email="forgot@example.com")
    web.open("/app/login")
    web.press("Forgot your password?")
    assert web.heading() == "Reset your password"
    form = web.driver.find_element("css selector", "form[aria-label='Ask for a code']")
    web.fill("Username", carol["username"], scope=form)
    web.press("Send me a code")
    web.wait_text("a code is on its way")
    code = sent_reset_code(web.app, carol["username"])
    web.fill("Code", "00000000")
    web.fill("New password", "reset-Passphrase-77")
    web.press("Set the new password")
    web.wait_problem("code")
    web.fill("Code", code)
    web.fill("New password", "reset-Passphrase-77")
    web.press("Set the new password")
    web.wait_text("Your password is changed")
    web.sign_in(carol["username"], "reset-Passphrase-77")
    assert web.heading() == "Overview"


def test_an_ended_session_signs_the_page_out_and_says_why(web):
    carol = web.customer("ended", cents=1_000)
    web.sign_in(carol["username"], then="/app/history")
    # Another device changes the password: this session is over.
    web.call(
        "POST",
        "/auth/change-password",
        carol["headers"],
        {
            "current_password": carol["password"],
            "new_password": "changed-elsewhere-Pass1",
        },
    )
    web.go("Deposit")
    text = web.wait_text("You were signed out")
    assert "revoked" in text
    assert web.heading() == "Sign in"


def test_an_expired_access_token_is_refreshed_without_the_person_noticing(web):
    carol = web.customer("refreshed", cents=4_200)
    web.sign_in(carol["username"], then="/app/deposit")
    web.lose_answers.expired.append("/transactions")
    web.driver.get_log("performance")
    web.go("History")
    assert "+42.00 USD" in web.main_text()
    sent = [
        (m["params"]["request"]["method"], m["params"]["request"]["url"])
        for m in web.network()
        if m["method"] == "Network.requestWillBeSent"
        and m["params"]["request"]["url"].startswith(web.server)
    ]
    paths = [url.removeprefix(web.server).split("?")[0] for _, url in sent]
    # Refused once as expired, refreshed, asked again.
    assert paths.count("/transactions") == 2
    assert ("POST", f"{web.server}/auth/refresh") in sent
    assert web.heading() == "History"
