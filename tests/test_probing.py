"""What a caller can learn by probing, and limits that must hold under races."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from bson import ObjectId

from app.db import get_db
from app.models.account import AccountModel, luhn_digit
from app.models.user import UserModel
from tests.conftest import register
from tests.factories import fund
from tests.helpers import call


def set_status(app, number: str, status: str) -> None:
    with app.app_context():
        get_db()["accounts"].update_one(
            {"account_number": number}, {"$set": {"status": status}}
        )


def unused_number(app) -> str:
    """A well-formed account number (valid check digit) that names no account."""
    with app.app_context():
        for body in range(123456789, 123456889):
            number = f"{body:09d}" + luhn_digit(f"{body:09d}")
            if AccountModel().find_by_number(number) is None:
                return number
    raise AssertionError("no unused number")


# -- transfers: no oracle on the target ----------------------------------------


@pytest.mark.parametrize("source_state", ["empty", "frozen", "closed"])
def test_a_transfer_the_caller_cannot_pay_says_nothing_about_the_target(
    app, client, customer, other_customer, source_state
):
    """Unknown, live, frozen and closed targets get one and the same answer."""
    me = customer["account"]["account_number"]
    if source_state != "empty":
        set_status(app, me, source_state)
    with app.app_context():
        them = UserModel().find_by_id(other_customer["user"]["id"])
        targets = {
            "unknown": unused_number(app),
            "live": other_customer["account"]["account_number"],
            "frozen": AccountModel().create(them, "USD")["account_number"],
            "closed": AccountModel().create(them, "USD")["account_number"],
        }
    set_status(app, targets["frozen"], "frozen")
    set_status(app, targets["closed"], "closed")
    answers = {}
    for name, number in targets.items():
        response = client.post(
            "/transfers",
            headers=customer["headers"],
            json={"to_account_number": number, "amount": "5.00"},
        )
        body = response.get_json()
        answers[name] = (response.status_code, body["code"], body["detail"])
    assert len(set(answers.values())) == 1, answers
    expected = {
        "empty": "insufficient_funds",
        "frozen": "account_frozen",
        "closed": "account_closed",
    }[source_state]
    assert answers["unknown"][:2] == (409, expected)


def test_a_caller_who_can_pay_is_told_why_the_target_refused(
    app, client, customer, other_customer
):
    """Paying is allowed to reveal what a payment would: a missing or frozen
    target (the contract's 404 and 409 account_frozen)."""
    me = customer["account"]["account_number"]
    fund(app, me, 10_000)
    unknown = client.post(
        "/transfers",
        headers=customer["headers"],
        json={"to_account_number": unused_number(app), "amount": "5.00"},
    )
    assert unknown.status_code == 404
    assert unknown.get_json()["code"] == "account_not_found"
    theirs = other_customer["account"]["account_number"]
    set_status(app, theirs, "frozen")
    frozen = client.post(
        "/transfers",
        headers=customer["headers"],
        json={"to_account_number": theirs, "amount": "5.00"},
    )
    assert frozen.status_code == 409
    assert frozen.get_json()["code"] == "account_frozen"


# -- login history --------------------------------------------------------------


def test_login_history_shows_nothing_from_before_the_user_existed(app, client):
    """Attempts under a name before anyone held it are not the new holder's."""
    for _ in range(2):
        response = client.post(
            "/auth/login",
            json={"username": "mallory", "password": "guessing-ahead-1"},
            headers={"User-Agent": "prober/1.0"},
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        )
        assert response.status_code == 401
    mallory = register(client, "mallory")
    client.post(
        "/auth/login",
        json={"username": "mallory", "password": "a-wrong-password-2"},
        headers={"User-Agent": "mallory-phone"},
    )
    items = client.get("/auth/logins", headers=mallory["headers"]).get_json()["items"]
    agents = [item["user_agent"] for item in items]
    assert "prober/1.0" not in agents
    assert all(item["ip"] != "203.0.113.9" for item in items)
    # Her own attempts since registering are all there: the register fixture's
    # successful login and the failure after it.
    assert [item["outcome"] for item in items] == ["failure", "success"]


# -- the account limit -----------------------------------------------------------


def test_parallel_openings_stop_exactly_at_the_limit(
    app, customer, banker, server, fast_switching
):
    """24 openings at once, from the customer and from a banker: exactly up to
    MAX_ACCOUNTS_PER_CUSTOMER (10, the primary included), never past it."""
    limit = app.config["MAX_ACCOUNTS_PER_CUSTOMER"]
    assert limit == 10

    def open_one(index: int) -> tuple[int, dict]:
        if index % 2:
            return call(
                server, "POST", "/accounts", customer["headers"], {"kind": "savings"}
            )
        return call(
            server,
            "POST",
            "/banker/accounts",
            banker["headers"],
            {"username": "carol", "kind": "checking"},
        )

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(open_one, range(24)))
    created = [body for status, body in answers if status == 201]
    refused = {body["code"] for status, body in answers if status != 201}
    assert len(created) == limit - 1
    assert refused == {"account_limit_reached"}
    with app.app_context():
        held = AccountModel().count_for_user(ObjectId(customer["user"]["id"]))
    assert held == limit


def test_a_place_taken_by_a_dead_request_is_given_back_after_the_timeout(
    app, client, customer
):
    """A process that died between taking a place and inserting its account
    leaves the counter one high: refused while a request could still insert,
    corrected once none can."""
    app.config["MAX_ACCOUNTS_PER_CUSTOMER"] = 2
    user_id = ObjectId(customer["user"]["id"])
    with app.app_context():
        users = UserModel()
        users.start_count(user_id, 1)
        assert users.reserve_account(user_id, 2)  # ... and the process died
    refused = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    )
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "account_limit_reached"
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    opened = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    )
    assert opened.status_code == 201, opened.get_json()
    again = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    )
    assert again.status_code == 409
    with app.app_context():
        assert AccountModel().count_for_user(user_id) == 2


def test_a_failed_insert_gives_its_place_back(app, client, customer, monkeypatch):
    app.config["MAX_ACCOUNTS_PER_CUSTOMER"] = 2

    def broken(self, account_id):
        raise RuntimeError("could not draw an unused account number")

    monkeypatch.setattr(AccountModel, "_reserve_number", broken)
    failed = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    )
    assert failed.status_code == 500
    monkeypatch.undo()
    opened = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    )
    assert opened.status_code == 201

