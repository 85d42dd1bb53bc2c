"""Closing a goal: a crash at every write, then recovery or a retry; money racing
the close at its most delicate moments. Every cent ends in exactly one place."""

from datetime import timedelta

import pytest
from bson import ObjectId

from app.commands import run_recovery
from app.controllers.ledger import check_report
from app.core import goals as goal_cases
from app.core.exactly_once import Done
from app.db import get_db
from app.models import ledger
from app.models.account import AccountModel
from app.models.goal import GoalModel
from tests import faults
from tests.factories import balance_cents, fund
from tests.helpers import assert_problem

FUNDED = 100_000
SAVED = 25_000  # 250.00 in the goal when it is closed

# The writes of a close whose goal holds money, in order.
CLOSE_WRITES = [
    ("goals", "find_one_and_update"),  # 1 the goal is closing
    ("idempotency_keys", "insert_one"),  # 2 the claim of refund round 0
    ("accounts", "find_one_and_update"),  # 3 the refund's hold on the primary
    ("accounts", "update_one"),  # 4 the goal is debited: the refund's commit point
    ("accounts", "update_one"),  # 5 the primary is credited
    ("transactions", "insert_many"),  # 6 both legs journalled
    ("accounts", "bulk_write"),  # 7 their records released
    ("idempotency_keys", "update_one"),  # 8 the claim is done
    ("goals", "update_one"),  # 9 the refund is recorded on the goal
    ("accounts", "find_one_and_update"),  # 10 the account closes (only if EMPTY)
    ("goals", "find_one_and_update"),  # 11 the goal is closed, its place free
]
REFUND_COMMIT = 4
# A close of a goal that holds nothing: round 0's claim finds nothing to refund.
EMPTY_CLOSE_WRITES = [
    ("goals", "find_one_and_update"),
    ("idempotency_keys", "insert_one"),
    ("idempotency_keys", "delete_one"),
    ("accounts", "find_one_and_update"),
    ("goals", "find_one_and_update"),
]


def check(app) -> dict:
    """The reconciliation ``flask ledger check`` and the banker route run."""
    with app.app_context():
        return check_report()


def recover(app) -> str:
    with app.app_context():
        return run_recovery()


@pytest.fixture
def saver(app, client, customer):
    """A customer with 750.00 on the primary and 250.00 in a goal."""
    fund(app, customer["account"]["account_number"], FUNDED)
    goal = client.post(
        "/goals",
        headers=customer["headers"],
        json={"name": "Holiday", "round_up": True},
    ).get_json()
    paid = client.post(
        f"/goals/{goal['id']}/deposits",
        headers=customer["headers"],
        json={"amount": "250.00"},
    )
    assert paid.status_code == 201
    return customer, goal


def close(client, customer, goal):
    return client.delete(f"/goals/{goal['id']}", headers=customer["headers"])


def refunds_posted(app, goal) -> list[dict]:
    """The posted transfers out of the goal: its refunds (no withdrawals here)."""
    with app.app_context():
        return list(
            get_db()["transactions"].find(
                {"account_number": goal["account_number"], "type": "transfer_out",
                 "status": "posted"}
            )
        )  # fmt: skip


def settled_problems(app, customer, goal) -> list[str]:
    """What is wrong with a finished close: every cent back on the primary once,
    the goal account closed at zero, the goal closed, the books in order."""
    problems = []
    primary = balance_cents(app, customer["account"]["account_number"])
    if primary != FUNDED:
        problems.append(f"primary holds {primary}, not {FUNDED}")
    with app.app_context():
        account = AccountModel().find_by_number(goal["account_number"])
        doc = GoalModel().find_by_id(ObjectId(goal["id"]))
        places = GoalModel().taken_places(doc["user_id"])
        round_up = GoalModel().round_up_goal(doc["user_id"])
    if account["status"] != "closed" or account["balance_cents"] != 0:
        problems.append(
            f"goal account {account['status']} at {account['balance_cents']}"
        )
    if doc["status"] != "closed" or places or round_up is not None:
        problems.append(f"goal {doc['status']}, places {places}, round-up {round_up}")
    refunded = sum(entry["amount_cents"] for entry in refunds_posted(app, goal))
    if refunded != SAVED:
        problems.append(f"refunded {refunded}, not {SAVED}")
    report = check(app)
    if not (report["ok"] and report["balanced"]):
        problems.append(f"ledger check: {report['problems']}")
    return problems


def test_a_close_makes_exactly_the_protocol_writes(app, client, saver):
    customer, goal = saver
    faulty = faults.install(app)
    response = close(client, customer, goal)
    faults.uninstall(app, faulty)
    assert response.status_code == 200, response.get_json()
    assert faulty.writes == CLOSE_WRITES
    body = response.get_json()
    assert set(body) == {"goal", "refund"}
    assert body["goal"]["status"] == "closed" and body["goal"]["balance"] == "0.00"
    assert body["goal"]["closed_at"].endswith("Z")
    assert body["goal"]["round_up"] is False
    refund = body["refund"]
    assert refund["amount"] == "250.00"
    assert refund["from_account_number"] == goal["account_number"]
    assert refund["to_account_number"] == customer["account"]["account_number"]
    assert settled_problems(app, customer, goal) == []


@pytest.mark.parametrize("settle", ["recovery", "retry"])
@pytest.mark.parametrize("crash_after", range(len(CLOSE_WRITES) + 1))
def test_a_crash_at_every_write_of_a_close_then_recovery_and_retry_refund_once(
    app, client, saver, crash_after, settle
):
    """``recovery``: ``flask ledger recover`` runs before the retry; ``retry``: the
    DELETE is simply sent again, and settles what it finds itself."""
    customer, goal = saver
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)  # every stop is abandoned
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        close(client, customer, goal)
    faults.uninstall(app, faulty)
    assert faulty.writes == CLOSE_WRITES[:crash_after]
    primary = customer["account"]["account_number"]

    if settle == "recovery":
        recover(app)
        report = check(app)
        assert report["ok"] and report["balanced"], report["problems"]
        # Recovery finishes the refund from its commit point on, else undoes it:
        # the money is in exactly one of the two accounts, whole.
        refunded = crash_after >= REFUND_COMMIT
        assert balance_cents(app, primary) == FUNDED - (0 if refunded else SAVED)
        assert balance_cents(app, goal["account_number"]) == (0 if refunded else SAVED)

    retry = close(client, customer, goal)
    assert retry.status_code == 200, retry.get_json()
    body = retry.get_json()
    assert body["goal"]["status"] == "closed"
    assert body["refund"]["amount"] == "250.00"
    assert settled_problems(app, customer, goal) == []
    assert len(refunds_posted(app, goal)) == 1
    # Repeating the DELETE answers the same body and moves nothing.
    again = close(client, customer, goal)
    assert again.status_code == 200 and again.data == retry.data
    recover(app)
    assert settled_problems(app, customer, goal) == []


@pytest.mark.parametrize("crash_after", range(len(EMPTY_CLOSE_WRITES) + 1))
def test_a_crash_while_closing_an_empty_goal_then_the_retry_closes_it(
    app, client, customer, crash_after
):
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    goal = client.post(
        "/goals", headers=customer["headers"], json={"name": "Empty"}
    ).get_json()
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        close(client, customer, goal)
    faults.uninstall(app, faulty)
    assert faulty.writes == EMPTY_CLOSE_WRITES[:crash_after]
    retry = close(client, customer, goal)
    assert retry.status_code == 200, retry.get_json()
    assert retry.get_json()["refund"] is None
    assert retry.get_json()["goal"]["status"] == "closed"
    with app.app_context():
        account = AccountModel().find_by_number(goal["account_number"])
    assert account["status"] == "closed"
    assert refunds_posted(app, goal) == []
    assert check(app)["ok"]


@pytest.mark.parametrize("crash_after", [2, REFUND_COMMIT, 7])
def test_a_retry_inside_the_timeout_is_told_to_wait_then_finishes(
    app, client, saver, crash_after
):
    """A refund whose runner may still be alive is not touched: 503 ledger_busy,
    nothing moves; once the timeout has passed the retry finishes it."""
    customer, goal = saver
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(minutes=5)
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        close(client, customer, goal)
    faults.uninstall(app, faulty)
    before = (balance_cents(app, customer["account"]["account_number"]),
              balance_cents(app, goal["account_number"]))  # fmt: skip
    busy = close(client, customer, goal)
    assert_problem(busy, 503, "ledger_busy")
    assert (balance_cents(app, customer["account"]["account_number"]),
            balance_cents(app, goal["account_number"])) == before  # fmt: skip
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    done = close(client, customer, goal)
    assert done.status_code == 200, done.get_json()
    assert settled_problems(app, customer, goal) == []


def test_a_closing_goal_takes_no_more_money_in_or_out(app, client, saver):
    customer, goal = saver
    faulty = faults.install(app, crash_after=1)  # stopped right after "closing"
    with pytest.raises(faults.Crash):
        close(client, customer, goal)
    faults.uninstall(app, faulty)
    for route in ("deposits", "withdrawals"):
        refused = client.post(
            f"/goals/{goal['id']}/{route}",
            headers=customer["headers"],
            json={"amount": "1.00"},
        )
        assert_problem(refused, 409, "account_closed")
    patched = client.patch(
        f"/goals/{goal['id']}", headers=customer["headers"], json={"name": "Again"}
    )
    assert_problem(patched, 409, "account_closed")
    # No round-up goes to a goal that is closing.
    spent = client.post(
        "/withdraw", headers=customer["headers"], json={"amount": "1.50"}
    )
    assert spent.status_code == 201
    assert balance_cents(app, goal["account_number"]) == SAVED
    assert close(client, customer, goal).status_code == 200


def test_a_closed_goal_refuses_money_and_changes(app, client, saver):
    customer, goal = saver
    first = close(client, customer, goal)
    assert first.status_code == 200
    for route in ("deposits", "withdrawals"):
        refused = client.post(
            f"/goals/{goal['id']}/{route}",
            headers=customer["headers"],
            json={"amount": "1.00"},
        )
        assert_problem(refused, 409, "account_closed")
    # Not even the owner's own plain transfer reaches a closed goal's account.
    sent = client.post(
        "/transfers",
        headers=customer["headers"],
        json={"to_account_number": goal["account_number"], "amount": "1.00"},
    )
    assert_problem(sent, 409, "account_closed")
    patched = client.patch(
        f"/goals/{goal['id']}", headers=customer["headers"], json={"round_up": True}
    )
    assert_problem(patched, 409, "account_closed")
    shown = client.get(f"/goals/{goal['id']}", headers=customer["headers"]).get_json()
    assert shown == first.get_json()["goal"]
    assert close(client, customer, goal).data == first.data
    assert settled_problems(app, customer, goal) == []


def test_money_that_lands_between_the_refund_and_the_close_is_refunded_too(
    app, client, saver, monkeypatch
):
    """The owner's plain transfer into the goal commits just before the account
    would close: the EMPTY guard keeps it open, a second round refunds it."""
    customer, goal = saver
    real_change = AccountModel.change_status
    landed = []

    def change_status(self, number, from_status, to_status):
        if to_status == "closed" and not landed:
            source = self.find_by_id(ObjectId(customer["user"]["id"]))
            landed.append(ledger.transfer(source, number, 333, "late"))
        return real_change(self, number, from_status, to_status)

    monkeypatch.setattr(AccountModel, "change_status", change_status)
    response = close(client, customer, goal)
    assert response.status_code == 200, response.get_json()
    assert landed
    # The answer's refund is the first round's: the balance when the close began.
    assert response.get_json()["refund"]["amount"] == "250.00"
    refunds = sorted(e["amount_cents"] for e in refunds_posted(app, goal))
    assert refunds == [333, SAVED]
    with app.app_context():
        doc = GoalModel().find_by_id(ObjectId(goal["id"]))
    assert sorted(doc["refunds"]) == ["0", "1"]
    assert balance_cents(app, customer["account"]["account_number"]) == FUNDED
    assert balance_cents(app, goal["account_number"]) == 0
    assert check(app)["ok"]


@pytest.mark.parametrize("crash_after", [1, 2, 3, 4])
def test_a_deposit_that_died_in_flight_is_settled_by_the_close(
    app, client, saver, crash_after
):
    """A deposit stopped after its hold (1), its debit (2), its credit (3) or its
    journal (4): the close waits while it may be running, then settles it
    (voided before its debit, finished after) and refunds what arrived."""
    customer, goal = saver
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(minutes=5)
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        client.post(
            f"/goals/{goal['id']}/deposits",
            headers=customer["headers"],
            json={"amount": "40.00"},
        )
    faults.uninstall(app, faulty)
    assert_problem(close(client, customer, goal), 503, "ledger_busy")
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    response = close(client, customer, goal)
    assert response.status_code == 200, response.get_json()
    refunded = sum(e["amount_cents"] for e in refunds_posted(app, goal))
    arrived = 4000 if crash_after >= 2 else 0
    assert refunded == SAVED + arrived
    # Whether the deposit happened or not, no cent is lost or made.
    assert balance_cents(app, customer["account"]["account_number"]) == FUNDED
    assert balance_cents(app, goal["account_number"]) == 0
    report = check(app)
    assert report["ok"] and report["balanced"], report["problems"]


def test_a_close_refused_up_front_changes_nothing(app, client, saver):
    customer, goal = saver
    with app.app_context():
        AccountModel().change_status(
            customer["account"]["account_number"], "active", "frozen"
        )
    assert_problem(close(client, customer, goal), 409, "account_frozen")
    with app.app_context():
        doc = GoalModel().find_by_id(ObjectId(goal["id"]))
    assert doc["closing_at"] is None and doc["round_up"] is True
    assert balance_cents(app, goal["account_number"]) == SAVED


def test_the_crash_test_catches_a_refund_made_without_its_work_key(
    app, client, saver, monkeypatch
):
    """The checks can tell: with the refund run outside run_once, a crash after it
    posted leaves a retry that cannot know of it, and answers "refund": null
    while 250.00 was refunded (the ledger alone still keeps the money whole)."""
    customer, goal = saver
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)

    def without_key(owner_id, work_key, move, *, stale_after):
        return Done(move(None), now=True)

    monkeypatch.setattr(goal_cases, "run_once", without_key)
    # Unkeyed, the refund's writes are 2 to 6; crash before it is recorded.
    faulty = faults.install(app, crash_after=6)
    with pytest.raises(faults.Crash):
        close(client, customer, goal)
    faults.uninstall(app, faulty)
    retry = close(client, customer, goal)
    assert retry.status_code == 200
    assert retry.get_json()["refund"] is None  # what the crash test refuses
    assert len(refunds_posted(app, goal)) == 1


def test_the_checks_catch_a_close_without_the_empty_guard(
    app, client, saver, monkeypatch
):
    """The checks can tell: were the account closed without EMPTY in the same
    write, money landing after the refund would be shut in the closed goal."""
    customer, goal = saver

    def careless_close(self, number, from_status, to_status):
        source = self.find_by_id(ObjectId(customer["user"]["id"]))
        ledger.transfer(source, number, 333, "late")
        return self.collection.find_one_and_update(
            {"account_number": number, "status": from_status},
            {"$set": {"status": to_status}},
        )

    monkeypatch.setattr(AccountModel, "change_status", careless_close)
    assert close(client, customer, goal).status_code == 200
    problems = settled_problems(app, customer, goal)
    assert "primary holds 99667, not 100000" in problems
    assert "goal account closed at 333" in problems
