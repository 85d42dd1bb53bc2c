"""Scheduled transfers: placed over HTTP, paid by the job runner exactly once."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from bson import ObjectId

from app.core import scheduled_transfers
from app.core.approvals import ApprovalRules
from app.core.errors import AccountBusy
from app.core.limits import DailyLimits
from app.core.schedules import Recurrence
from app.core.spending import SpendingRules
from app.db import get_db
from app.models.user import UserModel
from tests import faults
from tests.factories import balance_cents, fund
from tests.helpers import assert_problem
from tests.standing_orders import at, place, posted_out
from tests.test_ledger import OUTGOING, check

FAR = "2099-01-31"


def rules(app) -> ApprovalRules:
    """The runner's rules: a daily limit that never binds here, and the bank's
    approval threshold (an occurrence at or above it waits for a banker, see
    test_scheduled_approvals)."""
    return approved(
        SpendingRules(
            currency="USD",
            limits=DailyLimits(default_cents=1_000_000, zone="UTC"),
            stale_after=app.config["LEDGER_PENDING_TIMEOUT"],
        )
    )


def approved(spending: SpendingRules) -> ApprovalRules:
    return ApprovalRules(1_000_000, timedelta(days=1), spending)


def pay(app, when: datetime):
    with app.app_context():
        return scheduled_transfers.pay_due(when, "UTC", rules(app))


def runs(app, order) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        docs = get_db()["scheduled_runs"].find({"order_id": order["_id"]})
        return sorted((d["due_date"], d["status"], d["reason"]) for d in docs)


def stored(app, order) -> dict:
    with app.app_context():
        return get_db()["scheduled_transfers"].find_one({"_id": order["_id"]})


@pytest.fixture
def pair(app, customer, other_customer):
    mine = customer["account"]["account_number"]
    fund(app, mine, 100_000)
    return mine, other_customer["account"]["account_number"]


# -- the runner, on an injected clock -------------------------------------------


def test_a_monthly_order_from_31_january_pays_on_each_month_end(app, customer, pair):
    mine, theirs = pair
    order = place(app, customer, theirs, "2027-01-31",
                  recurrence=Recurrence("monthly", count=3))  # fmt: skip
    assert pay(app, at("2027-01-30")).done == 0  # not due yet
    assert pay(app, at("2027-01-31")).done == 1
    assert pay(app, at("2027-01-31", 18)).done == 0  # paid already today
    assert pay(app, at("2027-02-28")).done == 1
    assert stored(app, order)["next_run_date"] == "2027-03-31"
    assert pay(app, at("2027-03-31")).done == 1
    assert [r[:2] for r in runs(app, order)] == [
        ("2027-01-31", "succeeded"), ("2027-02-28", "succeeded"),
        ("2027-03-31", "succeeded"),
    ]  # fmt: skip
    after = stored(app, order)
    assert (after["status"], after["runs_made"], after["next_run_date"]) == (
        "completed",
        3,
        None,
    )
    assert balance_cents(app, theirs) == 3000
    assert check(app)["ok"]


def test_a_runner_that_was_down_catches_up_every_missed_occurrence_once(
    app, customer, pair
):
    mine, theirs = pair
    daily = Recurrence("daily", end_date=date(2028, 3, 2))
    order = place(app, customer, theirs, "2028-02-27", recurrence=daily)
    # Nothing ran from 27 Feb to 2 Mar (a leap year: 29 Feb is a day).
    assert pay(app, at("2028-03-05")).done == 5
    assert [r[0] for r in runs(app, order)] == [
        "2028-02-27", "2028-02-28", "2028-02-29", "2028-03-01", "2028-03-02",
    ]  # fmt: skip
    assert stored(app, order)["status"] == "completed"
    assert pay(app, at("2028-03-06")).done == 0
    assert posted_out(app, mine) == 5


def test_a_failed_payment_is_retried_during_its_day_and_recorded_after(
    app, customer, pair
):
    mine, theirs = pair
    order = place(app, customer, theirs, "2027-05-10", cents=500_000,
                  recurrence=Recurrence("weekly"))  # fmt: skip
    first = pay(app, at("2027-05-10", 8))
    assert (first.done, first.failed) == (0, 1)
    assert runs(app, order) == []  # its day is not over: not recorded yet
    noted = stored(app, order)["last_attempt"]
    assert noted["reason"] == "insufficient_funds"
    fund(app, mine, 500_000)  # the money arrives the same day
    assert pay(app, at("2027-05-10", 20)).done == 1
    assert runs(app, order)[0][:2] == ("2027-05-10", "succeeded")
    # Next week the money is short again, and no run comes until the day after,
    # by when the money is back: the occurrence's day is over, so it is
    # recorded failed and not paid a day late.
    assert pay(app, at("2027-05-17", 9)).failed == 1
    fund(app, mine, 500_000)
    later = pay(app, at("2027-05-18", 9))
    assert (later.done, later.failed) == (0, 1)
    assert runs(app, order)[1] == ("2027-05-17", "failed", "insufficient_funds")
    assert posted_out(app, mine) == 1
    assert stored(app, order)["failures_in_a_row"] == 1
    assert stored(app, order)["next_run_date"] == "2027-05-24"


def test_three_failed_occurrences_in_a_row_suspend_the_order(app, customer, pair):
    mine, theirs = pair
    order = place(app, customer, theirs, "2027-06-01", cents=900_000,
                  recurrence=Recurrence("daily"))  # fmt: skip
    pay(app, at("2027-06-04"))  # 1, 2 and 3 June, each failed after its day
    assert [r[1] for r in runs(app, order)] == ["failed"] * 3
    after = stored(app, order)
    assert (after["status"], after["failures_in_a_row"]) == ("suspended", 3)
    assert pay(app, at("2027-06-10")).done == 0  # a suspended order pays nothing
    assert balance_cents(app, mine) == 100_000


def test_count_ends_the_order(app, customer, pair):
    _mine, theirs = pair
    order = place(app, customer, theirs, "2027-07-01",
                  recurrence=Recurrence("weekly", interval=2, count=2))  # fmt: skip
    assert pay(app, at("2027-08-30")).done == 2
    assert [r[0] for r in runs(app, order)] == ["2027-07-01", "2027-07-15"]
    assert stored(app, order)["status"] == "completed"


def test_a_one_off_order_pays_once(app, customer, pair):
    _mine, theirs = pair
    order = place(app, customer, theirs, "2027-07-01")
    assert pay(app, at("2027-07-03")).done == 1
    assert pay(app, at("2027-07-04")).done == 0
    assert stored(app, order)["status"] == "completed"
    assert balance_cents(app, theirs) == 1000


def test_scheduled_payments_count_against_the_daily_limit(app, customer, pair):
    mine, theirs = pair
    order = place(app, customer, theirs, "2027-07-01", cents=40_000,
                  recurrence=Recurrence("daily", count=2))  # fmt: skip
    with app.app_context():
        small = SpendingRules("USD", DailyLimits(50_000, "UTC"), timedelta(60))
        # Both fall due on the runner's day; only the first fits that day.
        paid = scheduled_transfers.pay_due(at("2027-07-02"), "UTC", approved(small))
        assert paid.done == 1
    assert runs(app, order) == [("2027-07-01", "succeeded", None)]
    assert stored(app, order)["last_attempt"]["reason"] == "daily_limit_exceeded"


# -- pause, resume, cancel in every state -------------------------------------------

MOVES = ("pause", "resume", "cancel")
ALLOWED = {
    ("active", "pause"): "paused",
    ("active", "cancel"): "cancelled",
    ("paused", "resume"): "active",
    ("paused", "cancel"): "cancelled",
    ("suspended", "resume"): "active",
    ("suspended", "cancel"): "cancelled",
}


@pytest.mark.parametrize("state", ["active", "paused", "suspended", "completed",
                                   "cancelled"])  # fmt: skip
@pytest.mark.parametrize("move", MOVES)
def test_every_move_in_every_state(app, client, customer, pair, state, move):
    _mine, theirs = pair
    response = client.post(
        "/scheduled-transfers",
        headers=customer["headers"],
        json={"to_account_number": theirs, "amount": "1.00", "start_date": FAR,
              "recurrence": {"frequency": "monthly"}},
    )  # fmt: skip
    order_id = response.get_json()["id"]
    with app.app_context():
        get_db()["scheduled_transfers"].update_one(
            {"_id": ObjectId(order_id)}, {"$set": {"status": state}}
        )
    answer = client.post(
        f"/scheduled-transfers/{order_id}/{move}", headers=customer["headers"]
    )
    wanted = ALLOWED.get((state, move))
    if wanted is None:
        body = assert_problem(answer, 409, "invalid_state")
        assert state in body["detail"]
        assert (
            client.get(
                f"/scheduled-transfers/{order_id}", headers=customer["headers"]
            ).get_json()["status"]
            == state
        )
    else:
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["status"] == wanted
        if wanted == "cancelled":
            assert answer.get_json()["next_run_date"] is None


def test_resume_skips_what_fell_due_while_paused(app, client, customer, pair):
    _mine, theirs = pair
    order = place(app, customer, theirs, "2027-01-04",
                  recurrence=Recurrence("weekly"))  # fmt: skip
    with app.app_context():
        get_db()["scheduled_transfers"].update_one(
            {"_id": order["_id"]}, {"$set": {"status": "paused"}}
        )
        owner = UserModel().find_by_id(customer["user"]["id"])
        resumed = scheduled_transfers.change(
            owner, str(order["_id"]), "resume", today=date(2027, 1, 20)
        )
    assert resumed["status"] == "active"
    assert resumed["next_run_date"] == "2027-01-25"
    assert pay(app, at("2027-01-25")).done == 1
    assert [r[0] for r in runs(app, order)] == ["2027-01-25"]


def test_a_cancel_racing_the_runner_ends_cancelled_with_each_payment_once(
    app, customer, pair, fast_switching
):
    mine, theirs = pair
    # More occurrences than fall due by the 30th: should the runner pay all
    # thirty before the cancel gets in, the order is still active, not completed.
    order = place(app, customer, theirs, "2027-01-01",
                  recurrence=Recurrence("daily", count=60))  # fmt: skip
    with app.app_context():
        owner = UserModel().find_by_id(customer["user"]["id"])
    barrier = threading.Barrier(2)

    def runner():
        barrier.wait(5)
        return pay(app, at("2027-01-30"))

    def cancel():
        barrier.wait(5)
        with app.app_context():
            # While an occurrence is being paid the cancel is told to retry.
            for _attempt in range(1000):
                try:
                    return scheduled_transfers.change(
                        owner, str(order["_id"]), "cancel", today=date(2027, 1, 30)
                    )
                except AccountBusy:
                    time.sleep(0.001)
        raise AssertionError("the cancel never got through")

    with ThreadPoolExecutor(max_workers=2) as pool:
        paid, cancelled = pool.submit(runner), pool.submit(cancel)
        done = paid.result().done
        assert cancelled.result()["status"] == "cancelled"
    assert stored(app, order)["status"] == "cancelled"
    assert len(runs(app, order)) == done == posted_out(app, mine)
    assert balance_cents(app, theirs) == 1000 * done
    assert pay(app, at("2027-01-31")).done == 0


# -- exactly once: threads, crashes --------------------------------------------------


@pytest.mark.parametrize("leases", ["kept", "ignored"])
def test_eight_runners_at_once_pay_each_occurrence_exactly_once(
    app, customer, other_customer, fast_switching, monkeypatch, leases
):
    """With the leases ignored (as if every runner's had expired), only the
    occurrence's claim stands between the runners and a second payment."""
    if leases == "ignored":
        from app.models.scheduled_transfer import ScheduledTransferModel

        monkeypatch.setattr(
            ScheduledTransferModel,
            "take_lease",
            lambda self, order_id, *args: self.collection.find_one({"_id": order_id}),
        )
    mine = customer["account"]["account_number"]
    theirs = other_customer["account"]["account_number"]
    fund(app, mine, 1_000_000)
    orders = [
        place(app, customer, theirs, "2027-03-01", cents=100 + index,
              recurrence=Recurrence("daily", count=5))
        for index in range(6)
    ]  # fmt: skip
    barrier = threading.Barrier(8)

    def runner(_):
        barrier.wait(10)
        return pay(app, at("2027-03-10")).done

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = sum(pool.map(runner, range(8)))
    assert done == 30  # 6 orders x 5 occurrences, between all the runners
    for order in orders:
        assert [r[1] for r in runs(app, order)] == ["succeeded"] * 5
    assert posted_out(app, mine) == 30
    assert balance_cents(app, theirs) == 5 * sum(100 + i for i in range(6))
    assert check(app)["ok"]


# The writes of one occurrence's payment, in order.
WRITES_OF_A_PAYMENT = [
    ("scheduled_transfers", "find_one_and_update"),  # lease the order
    ("scheduled_transfers", "find_one_and_update"),  # mark it being paid
    ("idempotency_keys", "insert_one"),  # claim the occurrence
    *OUTGOING,  # the ledger's transfer, with the daily limit's reservation
    ("idempotency_keys", "update_one"),  # the claim done, with the movement
    ("scheduled_runs", "insert_one"),  # the run recorded
    ("scheduled_transfers", "find_one_and_update"),  # the order moved on
    ("scheduled_transfers", "update_one"),  # the lease dropped
]


@pytest.mark.parametrize("crash_after", range(len(WRITES_OF_A_PAYMENT) + 1))
def test_a_runner_crashing_after_any_write_is_finished_by_the_next_once(
    app, customer, pair, crash_after
):
    mine, theirs = pair
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    order = place(app, customer, theirs, "2027-04-01")
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        pay(app, at("2027-04-01"))
    faults.uninstall(app, faulty)
    assert faulty.writes == WRITES_OF_A_PAYMENT[:crash_after]
    # The next run (after the crashed runner's lease and claim went stale)
    # finishes the job; recovery for what the ledger left halfway.
    from app.commands import run_recovery

    with app.app_context():
        run_recovery()
    with app.app_context():
        get_db()["scheduled_transfers"].update_one(
            {"_id": order["_id"]}, {"$set": {"lease": None}}
        )
    pay(app, at("2027-04-02"))
    assert runs(app, order) == [("2027-04-01", "succeeded", None)]
    assert posted_out(app, mine) == 1
    assert balance_cents(app, theirs) == 1000
    assert balance_cents(app, mine) == 100_000 - 1000
    assert stored(app, order)["status"] == "completed"
    assert check(app)["ok"]


@pytest.mark.parametrize("crash_after", range(1, 6))
def test_a_runner_crashing_while_recording_a_failure_never_pays_it_later(
    app, customer, pair, crash_after
):
    """The failed path, crash at each write: recorded failed, never paid."""
    mine, theirs = pair
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    order = place(app, customer, theirs, "2027-04-01", cents=900_000)
    assert pay(app, at("2027-04-01")).failed == 1  # refused during its day
    fund(app, mine, 900_000)  # the money arrives; the day is over
    faulty = faults.install(app, crash_after=crash_after)
    try:
        pay(app, at("2027-04-02"))
    except faults.Crash:
        pass
    faults.uninstall(app, faulty)
    with app.app_context():
        get_db()["scheduled_transfers"].update_one(
            {"_id": order["_id"]}, {"$set": {"lease": None}}
        )
    pay(app, at("2027-04-03"))
    assert runs(app, order) == [("2027-04-01", "failed", "insufficient_funds")]
    assert posted_out(app, mine) == 0
    assert stored(app, order)["status"] == "completed"


def test_a_cancel_while_an_occurrence_is_being_paid_waits_for_it(
    app, client, customer, pair
):
    _mine, theirs = pair
    order = place(app, customer, theirs, "2027-04-01")
    with app.app_context():
        from app.models.scheduled_transfer import ScheduledTransferModel

        # A runner has marked the occurrence and is paying it right now.
        marked = ScheduledTransferModel().start_paying(
            order, datetime.now(UTC) + timedelta(minutes=1)
        )
    assert marked is not None
    busy = client.post(
        f"/scheduled-transfers/{order['_id']}/cancel", headers=customer["headers"]
    )
    assert_problem(busy, 503, "ledger_busy")
    assert stored(app, order)["status"] == "active"
    # Once the payment is recorded the order has moved on; cancelling works.
    pay(app, at("2027-04-01"))  # the mark is another runner's: this one waits
    assert runs(app, order) == []
    with app.app_context():
        get_db()["scheduled_transfers"].update_one(
            {"_id": order["_id"]}, {"$set": {"paying": None}}
        )
    done = client.post(
        f"/scheduled-transfers/{order['_id']}/cancel", headers=customer["headers"]
    )
    assert done.status_code == 200
    assert pay(app, at("2027-04-02")).done == 0
    assert runs(app, order) == []


def test_the_writes_of_one_payment(app, customer, pair):
    _mine, theirs = pair
    place(app, customer, theirs, "2027-04-01")
    faulty = faults.install(app)
    pay(app, at("2027-04-01"))
    faults.uninstall(app, faulty)
    assert faulty.writes == WRITES_OF_A_PAYMENT


# -- HTTP ---------------------------------------------------------------------------


def test_place_list_show_and_runs_over_http(app, client, customer, pair):
    _mine, theirs = pair
    response = client.post(
        "/scheduled-transfers",
        headers=customer["headers"],
        json={"to_account_number": theirs, "amount": "25.50", "description": "Rent",
              "start_date": FAR, "recurrence": {"frequency": "monthly", "count": 12}},
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "active"
    assert body["amount"] == "25.50"
    assert body["next_run_date"] == FAR
    assert body["runs_made"] == 0
    assert body["from_account_number"] == customer["account"]["account_number"]
    assert body["recurrence"] == {"frequency": "monthly", "interval": 1,
                                  "count": 12, "end_date": None}  # fmt: skip
    listed = client.get("/scheduled-transfers", headers=customer["headers"])
    assert [item["id"] for item in listed.get_json()["items"]] == [body["id"]]
    shown = client.get(
        f"/scheduled-transfers/{body['id']}", headers=customer["headers"]
    )
    assert shown.get_json() == body
    empty = client.get(
        f"/scheduled-transfers/{body['id']}/runs", headers=customer["headers"]
    )
    assert empty.get_json() == {"items": [], "next_cursor": None}


def test_runs_are_listed_newest_first_with_paging(app, client, customer, pair):
    _mine, theirs = pair
    order = place(app, customer, theirs, "2027-01-01",
                  recurrence=Recurrence("daily", count=3))  # fmt: skip
    pay(app, at("2027-01-05"))
    path = f"/scheduled-transfers/{order['_id']}/runs"
    first = client.get(path + "?limit=2", headers=customer["headers"]).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(
        f"{path}?limit=2&cursor={first['next_cursor']}", headers=customer["headers"]
    ).get_json()
    dates = [item["due_date"] for item in first["items"] + rest["items"]]
    assert sorted(dates) == ["2027-01-01", "2027-01-02", "2027-01-03"]
    assert rest["next_cursor"] is None
    assert all(item["status"] == "succeeded" and item["transfer_id"]
               for item in first["items"])  # fmt: skip


def test_a_payee_can_be_the_target(app, client, customer, other_customer, pair):
    _mine, theirs = pair
    payee = client.post(
        "/payees",
        headers=customer["headers"],
        json={"account_number": theirs, "name": "Someone Else",
              "acknowledge_name_check": True},
    )  # fmt: skip
    assert payee.status_code == 201, payee.get_json()
    response = client.post(
        "/scheduled-transfers",
        headers=customer["headers"],
        json={"payee_id": payee.get_json()["id"], "amount": "3.00",
              "start_date": FAR},
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["to_account_number"] == theirs
    assert response.get_json()["payee_id"] == payee.get_json()["id"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"start_date": "2020-01-01"}, "start_date"),
        ({"start_date": "2099-02-30"}, "start_date"),
        ({"start_date": "2099-01-31T00:00:00Z"}, "start_date"),
        ({"amount": "0"}, "amount"),
        ({"recurrence": {"frequency": "yearly"}}, "recurrence"),
        ({"recurrence": {"frequency": "daily", "interval": 13}}, "recurrence"),
        ({"recurrence": {"frequency": "daily", "interval": 0}}, "recurrence"),
        ({"recurrence": {"frequency": "daily", "count": 2,
                         "end_date": "2099-03-01"}}, "recurrence"),
        ({"recurrence": {"frequency": "daily", "end_date": "2098-01-01"}},
         "recurrence"),
        ({"payee_id": "0" * 24}, "to_account_number"),
        ({"to_account_number": None}, "to_account_number"),
        ({"extra": 1}, "extra"),
    ],
)  # fmt: skip
def test_bad_orders_are_422_naming_the_field(client, customer, pair, change, field):
    _mine, theirs = pair
    body = {"to_account_number": theirs, "amount": "1.00", "start_date": FAR,
            **change}  # fmt: skip
    response = client.post("/scheduled-transfers", headers=customer["headers"],
                           json=body)  # fmt: skip
    problem = assert_problem(response, 422, "validation_error")
    # A nested object's fields are named "recurrence.count" and the like.
    assert any(name.split(".")[0] == field for name in problem["errors"]), problem


def test_unknown_and_foreign_targets_and_sources_are_404(
    app, client, customer, other_customer, pair
):
    _mine, theirs = pair
    for body in (
        {"to_account_number": "0000000000"},
        {"to_account_number": customer["account"]["account_number"],
         "from_account_number": theirs},
    ):  # fmt: skip
        response = client.post(
            "/scheduled-transfers", headers=customer["headers"],
            json={"amount": "1.00", "start_date": FAR, **body},
        )  # fmt: skip
        assert_problem(response, 404, "account_not_found")


def test_another_customers_order_is_404_everywhere(
    app, client, customer, other_customer, pair
):
    _mine, theirs = pair
    order = place(app, customer, theirs, "2099-01-31")
    for method, suffix in (("get", ""), ("get", "/runs"), ("post", "/pause"),
                           ("post", "/resume"), ("post", "/cancel")):  # fmt: skip
        response = getattr(client, method)(
            f"/scheduled-transfers/{order['_id']}{suffix}",
            headers=other_customer["headers"],
        )
        assert_problem(response, 404, "scheduled_transfer_not_found")
    assert_problem(
        client.get("/scheduled-transfers/not-an-id", headers=customer["headers"]),
        404, "scheduled_transfer_not_found",
    )  # fmt: skip
    assert stored(app, order)["status"] == "active"


def test_staff_cannot_use_scheduled_transfers(client, banker):
    assert_problem(
        client.get("/scheduled-transfers", headers=banker["headers"]), 403, "forbidden"
    )


def test_placing_and_moving_an_order_are_audited(app, client, customer, pair):
    _mine, theirs = pair
    placed = client.post(
        "/scheduled-transfers", headers=customer["headers"],
        json={"to_account_number": theirs, "amount": "7.00", "start_date": FAR},
    ).get_json()  # fmt: skip
    pause = f"/scheduled-transfers/{placed['id']}/pause"
    assert client.post(pause, headers=customer["headers"]).status_code == 200
    assert client.post(pause, headers=customer["headers"]).status_code == 409
    with app.app_context():
        entries = list(get_db()["audit_log"].find({"target": placed["id"]}))
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("scheduled_transfer_placed", "carol"),
        ("scheduled_transfer_paused", "carol"),  # the refused second pause is not
    ]
    assert entries[0]["details"]["amount_cents"] == 700
    assert entries[0]["details"]["to_account_number"] == theirs
