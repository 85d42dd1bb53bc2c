"""A standing order's occurrence of at least APPROVAL_THRESHOLD to another
customer waits for a banker, as the same transfer made directly does: the job
runner asks for an approval once per occurrence (under the occurrence's work
key, so a crash, a retry or a second runner never asks twice), which reserves
the money; the run shows the approval's outcome."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from app.commands import run_recovery
from app.controllers import approval_rules
from app.core import scheduled_transfers
from app.core.schedules import Recurrence
from app.db import get_db
from tests import faults, standing_orders
from tests.factories import balance_cents, fund
from tests.standing_orders import at, posted_out

LARGE = 1_000_000  # APPROVAL_THRESHOLD, 10000.00
FUNDS = 2_500_000


def place(app, customer, target, start, cents=LARGE, recurrence=None) -> dict:
    return standing_orders.place(app, customer, target, start, cents, recurrence)


def pay(app, when: datetime):
    with app.app_context():
        app.config["DAILY_OUT_LIMIT"] = app.config["MAX_TRANSACTION_AMOUNT"]
        return scheduled_transfers.pay_due(when, "UTC", approval_rules())


def approvals(app) -> list[dict]:
    with app.app_context():
        return list(get_db()["approvals"].find({}, sort=[("created_at", 1)]))


def account(app, number: str) -> dict:
    with app.app_context():
        return get_db()["accounts"].find_one({"account_number": number})


def stored_runs(app, order) -> list[dict]:
    with app.app_context():
        runs = get_db()["scheduled_runs"]
        return list(runs.find({"order_id": order["_id"]}, sort=[("due_date", 1)]))


def shown_runs(client, customer, order) -> list[dict]:
    response = client.get(f"/scheduled-transfers/{order['_id']}/runs",
                          headers=customer["headers"])  # fmt: skip
    assert response.status_code == 200
    return response.get_json()["items"]


@pytest.fixture
def pair(app, customer, other_customer) -> tuple[str, str]:
    mine = customer["account"]["account_number"]
    fund(app, mine, FUNDS)
    return mine, other_customer["account"]["account_number"]


def test_a_large_occurrence_to_another_customer_waits_for_a_banker(
    app, client, customer, banker, pair
):
    mine, theirs = pair
    order = place(app, customer, theirs, "2027-04-01")
    run = pay(app, at("2027-04-01"))
    assert (run.done, run.failed) == (1, 0)
    # Nothing moved; the amount is reserved on the source.
    assert balance_cents(app, mine) == FUNDS and posted_out(app, mine) == 0
    asked = approvals(app)
    assert [(a["status"], a["kind"], a["amount_cents"], a["to_account_number"])
            for a in asked] == [
        ("pending_approval", "transfer", LARGE, theirs)]  # fmt: skip
    assert account(app, mine)["reserved_cents"] == LARGE
    shown = client.get(f"/accounts/{mine}", headers=customer["headers"]).get_json()
    assert (shown["balance"], shown["available_balance"]) == ("25000.00", "15000.00")
    # The occurrence is settled as far as the order goes: it waits for a banker.
    assert [(r["due_date"], r["status"]) for r in shown_runs(client, customer, order)
            ] == [("2027-04-01", "awaiting_approval")]  # fmt: skip
    assert shown_runs(client, customer, order)[0]["approval_id"] == str(asked[0]["_id"])
    with app.app_context():
        assert get_db()["scheduled_transfers"].find_one({"_id": order["_id"]})[
            "status"] == "completed"  # fmt: skip
    # The customer sees it among their approvals; a banker approves: paid once.
    mine_listed = client.get("/approvals", headers=customer["headers"]).get_json()
    assert [a["id"] for a in mine_listed["items"]] == [str(asked[0]["_id"])]
    approved = client.post(f"/banker/approvals/{asked[0]['_id']}/approve",
                           headers=banker["headers"]).get_json()  # fmt: skip
    assert approved["status"] == "posted"
    assert balance_cents(app, theirs) == LARGE and posted_out(app, mine) == 1
    assert account(app, mine)["reserved_cents"] == 0
    runs = shown_runs(client, customer, order)
    assert (runs[0]["status"], runs[0]["transfer_id"]) == (
        "succeeded", approved["transfer_id"])  # fmt: skip
    # Paying again changes nothing.
    assert pay(app, at("2027-04-02")).done == 0
    assert len(approvals(app)) == 1 and posted_out(app, mine) == 1


def test_a_rejected_occurrence_is_failed_and_the_order_goes_on(
    app, client, customer, banker, pair
):
    mine, theirs = pair
    order = place(app, customer, theirs, "2027-04-01",
                  recurrence=Recurrence("monthly", count=2))  # fmt: skip
    pay(app, at("2027-04-01"))
    first = approvals(app)[0]
    client.post(f"/banker/approvals/{first['_id']}/reject", headers=banker["headers"],
                json={"reason": "Ask the customer"})  # fmt: skip
    runs = shown_runs(client, customer, order)
    assert [(r["status"], r["reason"]) for r in runs] == [
        ("failed", "approval_rejected")]  # fmt: skip
    assert account(app, mine)["reserved_cents"] == 0
    # A rejection is the banker's decision, not a failed payment: it does not
    # count towards suspending the order, whose next occurrence asks again.
    pay(app, at("2027-05-01"))
    assert [a["status"] for a in approvals(app)] == ["rejected", "pending_approval"]
    assert posted_out(app, mine) == 0 and balance_cents(app, mine) == FUNDS


def test_below_the_threshold_or_to_an_own_account_it_is_paid_at_once(
    app, client, customer, pair
):
    mine, theirs = pair
    opened = client.post("/accounts", headers=customer["headers"],
                         json={"kind": "savings"})  # fmt: skip
    savings = opened.get_json()["account_number"]
    place(app, customer, theirs, "2027-04-01", cents=LARGE - 1)
    place(app, customer, savings, "2027-04-01", cents=LARGE)
    assert pay(app, at("2027-04-01")).done == 2
    assert approvals(app) == []
    assert balance_cents(app, theirs) == LARGE - 1
    assert balance_cents(app, savings) == LARGE


def test_missed_occurrences_each_ask_once_and_what_is_not_there_fails(
    app, client, customer, pair
):
    """Three daily occurrences caught up at once: the first two are reserved
    (25000.00 available), the third finds 5000.00 available and is refused,
    then recorded failed once its day is over."""
    mine, theirs = pair
    order = place(app, customer, theirs, "2027-04-01",
                  recurrence=Recurrence("daily", count=3))  # fmt: skip
    pay(app, at("2027-04-05"))
    assert [a["status"] for a in approvals(app)] == ["pending_approval"] * 2
    assert account(app, mine)["reserved_cents"] == 2 * LARGE
    assert [(r["due_date"], r["status"], r["reason"])
            for r in reversed(shown_runs(client, customer, order))] == [
        ("2027-04-01", "awaiting_approval", None),
        ("2027-04-02", "awaiting_approval", None),
        ("2027-04-03", "failed", "insufficient_funds"),
    ]  # fmt: skip


# The writes of an occurrence that asks for an approval, in order.
WRITES_OF_AN_ASK = [
    ("scheduled_transfers", "find_one_and_update"),  # lease the order
    ("scheduled_transfers", "find_one_and_update"),  # mark it being paid
    ("idempotency_keys", "insert_one"),  # claim the occurrence
    ("accounts", "find_one_and_update"),  # the reservation
    ("approvals", "insert_one"),  # the approval (with its audit entry)
    ("idempotency_keys", "update_one"),  # the claim done, with the approval
    ("scheduled_runs", "insert_one"),  # the run recorded, awaiting approval
    ("scheduled_transfers", "find_one_and_update"),  # the order moved on
    ("scheduled_transfers", "update_one"),  # the lease dropped
]


def test_the_writes_of_an_occurrence_that_asks(app, customer, pair):
    _mine, theirs = pair
    place(app, customer, theirs, "2027-04-01")
    faulty = faults.install(app)
    pay(app, at("2027-04-01"))
    faults.uninstall(app, faulty)
    assert faulty.writes == WRITES_OF_AN_ASK


@pytest.mark.parametrize("crash_after", range(len(WRITES_OF_AN_ASK) + 1))
def test_a_runner_crashing_after_any_write_asks_once(
    app, client, customer, banker, pair, crash_after
):
    mine, theirs = pair
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    order = place(app, customer, theirs, "2027-04-01")
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        pay(app, at("2027-04-01"))
    faults.uninstall(app, faulty)
    assert faulty.writes == WRITES_OF_AN_ASK[:crash_after]
    with app.app_context():
        run_recovery()
        orders = get_db()["scheduled_transfers"]
        orders.update_one({"_id": order["_id"]}, {"$set": {"lease": None}})
    pay(app, at("2027-04-01", 18))
    asked = approvals(app)
    assert [a["status"] for a in asked] == ["pending_approval"]
    assert account(app, mine)["reserved_cents"] == LARGE
    assert account(app, mine)["reservations"] == [
        {"id": asked[0]["_id"], "cents": LARGE,
         "at": account(app, mine)["reservations"][0]["at"]}]  # fmt: skip
    assert [(r["status"], r["approval_id"]) for r in stored_runs(app, order)] == [
        ("awaiting_approval", asked[0]["_id"])]  # fmt: skip
    # Approved, it is paid once.
    client.post(f"/banker/approvals/{asked[0]['_id']}/approve",
                headers=banker["headers"])  # fmt: skip
    assert posted_out(app, mine) == 1 and balance_cents(app, theirs) == LARGE
    check = client.get("/banker/ledger/check", headers=banker["headers"]).get_json()
    assert check["ok"] and check["balanced"], check


def test_eight_runners_at_once_ask_once_per_occurrence(
    app, customer, pair, fast_switching, monkeypatch
):
    """The leases ignored (as if every runner's had expired): only the
    occurrence's claim stands between the runners and a second approval."""
    from app.models.scheduled_transfer import ScheduledTransferModel

    monkeypatch.setattr(
        ScheduledTransferModel, "take_lease",
        lambda self, order_id, *args: self.collection.find_one({"_id": order_id}),
    )  # fmt: skip
    mine, theirs = pair
    place(app, customer, theirs, "2027-04-01", recurrence=Recurrence("daily", count=2))
    barrier = threading.Barrier(8)

    def runner(_):
        barrier.wait(10)
        return pay(app, at("2027-04-03")).done

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = sum(pool.map(runner, range(8)))
    assert done == 2
    assert [a["status"] for a in approvals(app)] == ["pending_approval"] * 2
    assert account(app, mine)["reserved_cents"] == 2 * LARGE
    assert balance_cents(app, mine) == FUNDS
