"""Daily limits: money leaving a customer, counted per bank day, never exceeded."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from app.core import limits
from app.core.calendar import bank_day, next_day_start
from app.core.errors import DailyLimitExceeded
from app.core.limits import DailyLimits
from app.db import get_db
from app.models.account import AccountModel
from app.models.daily_usage import DailyUsageModel
from app.models.user import UserModel
from tests.factories import balance_cents, fund
from tests.helpers import assert_problem, call


def usage(app, user: dict) -> tuple[int, list]:
    """(cents counted today, reservations still to judge) of a customer."""
    with app.app_context():
        doc = get_db()["daily_usage"].find_one({"user_id": ObjectId(user["id"])})
    return (doc["used_cents"], doc["pending"]) if doc else (0, [])


def user_doc(app, user: dict) -> dict:
    with app.app_context():
        return UserModel().find_by_id(user["id"])


# -- concurrency ----------------------------------------------------------------


def test_fifty_parallel_withdrawals_of_300_against_10000_give_exactly_33(
    app, server, customer, fast_switching
):
    number = customer["account"]["account_number"]
    fund(app, number, 50 * 30_000)  # the money is there: only the limit refuses
    barrier = threading.Barrier(50)

    def withdraw(_):
        barrier.wait(10)
        return call(server, "POST", "/withdraw", customer["headers"],
                    {"amount": "300.00"})  # fmt: skip

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(withdraw, range(50)))
    statuses = [status for status, _ in results]
    assert statuses.count(201) == 33, statuses
    assert statuses.count(409) == 17
    assert {body["code"] for status, body in results if status == 409} == {
        "daily_limit_exceeded"
    }
    assert balance_cents(app, number) == 50 * 30_000 - 33 * 30_000
    assert usage(app, customer["user"])[0] == 33 * 30_000


def test_parallel_transfers_to_others_share_the_limit_with_withdrawals(
    app, server, customer, other_customer, fast_switching
):
    mine = customer["account"]["account_number"]
    theirs = other_customer["account"]["account_number"]
    fund(app, mine, 2_000_000)
    app.config["DAILY_OUT_LIMIT"] = Decimal("1000.00")
    barrier = threading.Barrier(40)

    def move(index):
        barrier.wait(10)
        if index % 2:
            return call(server, "POST", "/withdraw", customer["headers"],
                        {"amount": "70.00"})  # fmt: skip
        return call(server, "POST", "/transfers", customer["headers"],
                    {"amount": "70.00", "to_account_number": theirs})  # fmt: skip

    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(move, range(40)))
    succeeded = [status for status, _ in results].count(201)
    assert succeeded == 14  # 14 x 70.00 = 980.00 <= 1000.00 < 15 x 70.00
    assert balance_cents(app, mine) == 2_000_000 - 14 * 7000
    assert usage(app, customer["user"])[0] == 14 * 7000


# -- what counts ----------------------------------------------------------------


def test_a_transfer_between_own_accounts_does_not_count(app, client, customer):
    fund(app, customer["account"]["account_number"], 5000)
    savings = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    ).get_json()["account_number"]
    response = client.post(
        "/transfers",
        headers=customer["headers"],
        json={"amount": "20.00", "to_account_number": savings},
    )
    assert response.status_code == 201
    assert usage(app, customer["user"]) == (0, [])


def test_deposits_do_not_count(app, client, customer):
    assert client.post(
        "/deposit", headers=customer["headers"], json={"amount": "20000.00"}
    ).status_code == 201
    assert usage(app, customer["user"]) == (0, [])


@pytest.mark.parametrize("refusal", ["insufficient_funds", "account_frozen"])
def test_a_refused_withdrawal_gives_its_usage_back(app, client, customer, refusal):
    number = customer["account"]["account_number"]
    fund(app, number, 1000)
    if refusal == "account_frozen":
        with app.app_context():
            AccountModel().change_status(number, "active", "frozen")
    response = client.post(
        "/withdraw", headers=customer["headers"], json={"amount": "50.00"}
    )
    assert_problem(response, 409, refusal)
    assert usage(app, customer["user"]) == (0, [])


def test_a_refused_transfer_gives_its_usage_back(
    app, client, customer, other_customer
):
    fund(app, customer["account"]["account_number"], 1000)
    theirs = other_customer["account"]["account_number"]
    with app.app_context():
        AccountModel().change_status(theirs, "active", "frozen")
    response = client.post(
        "/transfers",
        headers=customer["headers"],
        json={"amount": "5.00", "to_account_number": theirs},
    )
    assert_problem(response, 409, "account_frozen")
    assert usage(app, customer["user"]) == (0, [])


def test_over_the_limit_is_409_with_the_figures_and_nothing_moves(
    app, client, customer
):
    number = customer["account"]["account_number"]
    fund(app, number, 2_000_000)
    assert client.post(
        "/withdraw", headers=customer["headers"], json={"amount": "9000.00"}
    ).status_code == 201
    response = client.post(
        "/withdraw", headers=customer["headers"], json={"amount": "1000.01"}
    )
    body = assert_problem(response, 409, "daily_limit_exceeded")
    assert (body["limit"], body["used"], body["remaining"]) == (
        "10000.00", "9000.00", "1000.00"
    )
    with app.app_context():
        expected = next_day_start(datetime.now(UTC), "UTC")
    assert body["resets_at"] == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert balance_cents(app, number) == 2_000_000 - 900_000
    with app.app_context():
        rejected = get_db()["transactions"].find_one({"status": "rejected"})
    assert rejected["reason"] == "daily_limit_exceeded"
    # Exactly the rest still fits.
    assert client.post(
        "/withdraw", headers=customer["headers"], json={"amount": "1000.00"}
    ).status_code == 201


# -- GET / PATCH /limits, and the banker's ----------------------------------------


def test_get_limits_shows_the_day(app, client, customer):
    fund(app, customer["account"]["account_number"], 10_000)
    client.post("/withdraw", headers=customer["headers"], json={"amount": "12.34"})
    response = client.get("/limits", headers=customer["headers"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["daily_limit"] == "10000.00"
    assert body["used_today"] == "12.34"
    assert body["remaining_today"] == "9987.66"
    assert body["currency"] == "USD"
    assert body["resets_at"].endswith("T00:00:00.000Z")


def test_a_customer_lowers_their_limit_and_raises_it_back_to_the_banks(
    app, client, customer
):
    fund(app, customer["account"]["account_number"], 100_000)
    lowered = client.patch(
        "/limits", headers=customer["headers"], json={"daily_limit": "50.00"}
    )
    assert lowered.status_code == 200
    assert lowered.get_json()["daily_limit"] == "50.00"
    refused = client.post(
        "/withdraw", headers=customer["headers"], json={"amount": "50.01"}
    )
    assert_problem(refused, 409, "daily_limit_exceeded")
    too_high = client.patch(
        "/limits", headers=customer["headers"], json={"daily_limit": "10000.01"}
    )
    body = assert_problem(too_high, 422, "validation_error")
    assert "daily_limit" in body["errors"]
    assert user_doc(app, customer["user"])["daily_limit_cents"] == 5000
    back = client.patch(
        "/limits", headers=customer["headers"], json={"daily_limit": "10000.00"}
    )
    assert back.get_json()["daily_limit"] == "10000.00"
    # Back at the bank's: stored as none, so a change of DAILY_OUT_LIMIT applies.
    assert user_doc(app, customer["user"])["daily_limit_cents"] is None


@pytest.mark.parametrize(
    "body", [{}, {"daily_limit": "0"}, {"daily_limit": "1.001"},
             {"daily_limit": None}, {"daily_limit": "5", "extra": 1}],
)  # fmt: skip
def test_bad_limit_bodies_are_422(client, customer, body):
    response = client.patch("/limits", headers=customer["headers"], json=body)
    assert_problem(response, 422, "validation_error")


def test_a_banker_sets_a_limit_above_the_banks(app, client, customer, banker):
    user_id = customer["user"]["id"]
    response = client.patch(
        f"/banker/users/{user_id}",
        headers=banker["headers"],
        json={"daily_limit": "25000.00"},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["daily_limit"] == "25000.00"
    assert response.get_json()["active"] is True
    shown = client.get("/limits", headers=customer["headers"]).get_json()
    assert shown["daily_limit"] == "25000.00"
    with app.app_context():
        entry = get_db()["audit_log"].find_one({"action": "daily_limit_changed"})
    assert entry["actor"] == banker["user"]["username"]
    assert entry["details"]["to_cents"] == 2_500_000


def test_a_customer_lowers_a_limit_a_banker_raised(client, customer, banker):
    raised = client.patch(
        f"/banker/users/{customer['user']['id']}",
        headers=banker["headers"],
        json={"daily_limit": "25000.00"},
    )
    assert raised.status_code == 200
    lowered = client.patch(
        "/limits", headers=customer["headers"], json={"daily_limit": "20000.00"}
    )
    assert lowered.status_code == 200, lowered.get_json()
    assert lowered.get_json()["daily_limit"] == "20000.00"
    again = client.patch(
        "/limits", headers=customer["headers"], json={"daily_limit": "20000.01"}
    )
    assert_problem(again, 422, "validation_error")


class RacingUsage:
    """A database whose first upsert of a day's usage loses to another request's
    (its insert lands first), as a real server may answer: DuplicateKeyError."""

    def __init__(self, database, other: dict) -> None:
        self._database, self._other, self.raced = database, other, False

    def __getitem__(self, name: str):
        collection = self._database[name]
        if name != "daily_usage":
            return collection
        outer = self

        class Racing:
            def __getattr__(self, attr):
                return getattr(collection, attr)

            def update_one(self, query, update, upsert=False, **kwargs):
                if upsert and not outer.raced:
                    outer.raced = True
                    collection.insert_one({**outer._other, "_id": query["_id"]})
                    raise DuplicateKeyError("E11000 duplicate key error")
                return collection.update_one(query, update, upsert=upsert, **kwargs)

        return Racing()

    def __getattr__(self, name: str):
        return getattr(self._database, name)


def test_the_days_first_reservations_racing_both_fit(app, customer):
    rule = DailyLimits(default_cents=10_000, zone="UTC")
    user = user_doc(app, customer["user"])
    now = datetime.now(UTC)
    first = {"id": ObjectId(), "cents": 3_000, "at": now}
    other = {"user_id": user["_id"], "day": bank_day(now, "UTC").isoformat(),
             "used_cents": 3_000, "pending": [first]}  # fmt: skip
    database = app.extensions["mongo_db"]
    racing = RacingUsage(database, other)
    app.extensions["mongo_db"] = racing
    try:
        with app.app_context():
            limits.reserve(user, ObjectId(), 3_000, now, rule)
    finally:
        app.extensions["mongo_db"] = database
    assert racing.raced
    with app.app_context():
        assert DailyUsageModel().used(user["_id"], bank_day(now, "UTC")) == 6_000


def test_a_banker_cannot_give_staff_a_limit(client, banker):
    response = client.patch(
        f"/banker/users/{banker['user']['_id']}",
        headers=banker["headers"],
        json={"daily_limit": "100.00"},
    )
    assert_problem(response, 409, "not_a_customer")


def test_limits_routes_are_for_customers(client, banker):
    assert_problem(client.get("/limits", headers=banker["headers"]), 403, "forbidden")
    assert_problem(client.get("/limits"), 401, "token_missing")


# -- the day, in BANK_TIMEZONE ------------------------------------------------------


def test_the_day_turns_over_at_midnight_in_the_banks_zone(app, customer):
    zone = "Pacific/Auckland"  # UTC+13 in December
    rule = DailyLimits(default_cents=10_000, zone=zone)
    user = user_doc(app, customer["user"])
    # 10:59 UTC on 1 Dec is 23:59 on 1 Dec in Auckland; 11:01 UTC is 2 Dec there.
    before = datetime(2026, 12, 1, 10, 59, tzinfo=UTC)
    after = datetime(2026, 12, 1, 11, 1, tzinfo=UTC)
    with app.app_context():
        limits.reserve(user, ObjectId(), 10_000, before, rule)
        with pytest.raises(DailyLimitExceeded) as refused:
            limits.reserve(user, ObjectId(), 1, before + timedelta(seconds=30), rule)
        assert refused.value.extras["resets_at"] == "2026-12-01T11:00:00.000Z"
        limits.reserve(user, ObjectId(), 10_000, after, rule)  # a new day
        model = DailyUsageModel()
        assert model.used(user["_id"], bank_day(before, zone)) == 10_000
        assert model.used(user["_id"], bank_day(after, zone)) == 10_000
    assert str(bank_day(before, zone)) == "2026-12-01"
    assert str(bank_day(after, zone)) == "2026-12-02"


def test_a_reservation_is_counted_once_and_given_back_once(app, customer):
    rule = DailyLimits(default_cents=10_000, zone="UTC")
    user = user_doc(app, customer["user"])
    movement = ObjectId()
    now = datetime.now(UTC)
    with app.app_context():
        first = limits.reserve(user, movement, 4_000, now, rule)
        limits.reserve(user, movement, 4_000, now, rule)  # the same movement
        assert DailyUsageModel().used(user["_id"], first.day) == 4_000
        limits.give_back(first)
        limits.give_back(first)
        assert DailyUsageModel().used(user["_id"], first.day) == 0


def test_a_stale_reservation_of_a_movement_that_never_began_is_given_back(
    app, client, customer
):
    fund(app, customer["account"]["account_number"], 10_000)
    client.post("/withdraw", headers=customer["headers"], json={"amount": "10.00"})
    user = user_doc(app, customer["user"])
    rule = DailyLimits(default_cents=1_000_000, zone="UTC")
    with app.app_context():
        # A request that reserved and died before its movement began.
        limits.reserve(user, ObjectId(), 2_500, datetime.now(UTC), rule)
    # The posted withdrawal's reservation was confirmed at once; the other waits.
    assert usage(app, customer["user"])[0] == 3_500
    assert len(usage(app, customer["user"])[1]) == 1
    with app.app_context():
        # A grace below zero: everything reserved until now counts as stale.
        assert limits.settle_stale(timedelta(seconds=-1)) == 1
    assert usage(app, customer["user"]) == (1_000, [])


def test_a_customers_change_of_limit_is_audited(app, client, customer):
    client.patch("/limits", headers=customer["headers"], json={"daily_limit": "70.00"})
    with app.app_context():
        entry = get_db()["audit_log"].find_one({"action": "daily_limit_changed"})
    assert entry["actor"] == "carol"
    assert (entry["details"]["from_cents"], entry["details"]["to_cents"]) == (
        None, 7_000
    )
