"""The ledger: its write protocol under crashes, and its atomicity under threads."""

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from bson import ObjectId

from app.controllers.ledger import check_report
from app.db import MEMORY_LOCK, get_db
from app.models import ledger, ledger_recovery, utc_now
from app.models.account import AccountModel
from tests import faults
from tests.conftest import PASSWORD
from tests.factories import balance_cents, fund
from tests.helpers import call

# The writes each movement makes, in order, as the protocol docstring describes.
KEY_CLAIM = ("idempotency_keys", "insert_one")
KEY_DONE = ("idempotency_keys", "update_one")
SINGLE = [
    ("accounts", "update_one"),  # 1. commit point (balance + record)
    ("transactions", "insert_many"),  # 2. journal, posted
    ("accounts", "update_one"),  # 3. release
]
# Money leaving a customer first reserves its amount against the daily limit.
LIMIT = ("daily_usage", "update_one")
LIMIT_CONFIRMED = ("daily_usage", "update_one")
WITHDRAWAL = [LIMIT, *SINGLE, LIMIT_CONFIRMED]
TRANSFER = [
    ("accounts", "find_one_and_update"),  # 1. hold on the target
    LIMIT,  # the daily limit, asked once the target is known to be another's
    ("accounts", "update_one"),  # 2. commit point: debit the source
    ("accounts", "update_one"),  # 3. credit the target
    ("transactions", "insert_many"),  # 4. both legs, posted
    ("accounts", "bulk_write"),  # 5. release both
]
# A transfer to another customer, with its daily-limit reservation confirmed.
OUTGOING = [*TRANSFER, LIMIT_CONFIRMED]


def state(app, number):
    """Return (account, entries) as stored, for the invariant checks."""
    with app.app_context():
        account = AccountModel().find_by_number(number)
        entries = list(get_db()["transactions"].find({"account_id": account["_id"]}))
    return account, entries


def assert_consistent(account, entries):
    """Balance = posted entries + entries applied but not yet journalled, >= 0."""
    by_id = {e["_id"]: e for e in entries}
    posted = sum(e["delta_cents"] for e in entries if e["status"] == "posted")
    in_flight = sum(
        r["entry"]["delta_cents"]
        for r in account["pending_entries"]
        if r["id"] not in by_id
    )
    assert account["balance_cents"] == posted + in_flight
    assert account["balance_cents"] >= 0


def check(app):
    """Run the reconciliation the CLI and the banker route run."""
    with app.app_context():
        return check_report()


@pytest.mark.parametrize(
    "path, body, expected",
    [
        ("/deposit", {"amount": 5}, SINGLE),
        ("/withdraw", {"amount": 5}, WITHDRAWAL),
        ("/transfers", {"amount": 5, "to_account_number": None}, OUTGOING),
    ],
)
def test_movements_make_exactly_the_protocol_writes(
    app, client, customer, other_customer, path, body, expected
):
    fund(app, customer["account"]["account_number"], 1000)
    if "to_account_number" in body:
        body["to_account_number"] = other_customer["account"]["account_number"]
    faulty = faults.install(app)
    response = client.post(path, headers=customer["headers"], json=body)
    assert response.status_code == 201
    assert faulty.writes == expected
    faulty.writes.clear()
    keyed = {**customer["headers"], "Idempotency-Key": "writes"}
    assert client.post(path, headers=keyed, json=body).status_code == 201
    assert faulty.writes == [KEY_CLAIM, *expected, KEY_DONE]


def test_commit_point_applies_an_entry_at_most_once(app, customer):
    number = customer["account"]["account_number"]
    with app.app_context():
        account = AccountModel().find_by_number(number)
        entry = ledger._new_entry(account, "deposit", 100, None, ObjectId(), utc_now())
        first = ledger._commit(account, entry)
        # The same entry again, with the stale read and with a fresh one: the
        # first commit's record answers, and the balance moves once.
        again = ledger._commit(account, entry)
        fresh = AccountModel().find_by_number(number)
        assert ledger._commit(fresh, entry) == first == again
        assert AccountModel().find_by_number(number)["balance_cents"] == 100
        # And the guard itself refuses a second application of the entry.
        result = get_db()["accounts"].update_one(
            {"_id": account["_id"], "pending_entries.id": {"$ne": entry["_id"]}},
            {"$inc": {"balance_cents": 100}},
        )
        assert result.matched_count == 0
    assert first == {"id": entry["_id"], "seq": 1, "balance_after": 100, "entry": entry}


def test_a_late_debit_after_recovery_voided_the_transfer_is_refused(
    app, customer, other_customer
):
    """The fence: a stalled request cannot debit for a transfer recovery voided."""
    number = customer["account"]["account_number"]
    fund(app, number, 500)
    with app.app_context():
        source = AccountModel().find_by_number(number)
        target_number = other_customer["account"]["account_number"]
        now = utc_now()
        out_id, in_id = ObjectId(), ObjectId()
        out_entry = ledger._new_entry(
            source, "transfer_out", 100, None, out_id, now,
            counterparty=target_number, transfer_id=out_id, pair_id=in_id,
        )  # fmt: skip
        ledger._hold(target_number, out_entry, in_id)  # the request stalls here
        counts = ledger_recovery.recover(timedelta(0), now=now + timedelta(seconds=1))
        assert counts["aborted"] == 1
        with pytest.raises(ledger.LedgerRefusal) as refused:
            ledger._commit(source, out_entry)  # the request wakes up
        assert refused.value.reason == "expired"
        assert AccountModel().find_by_number(number)["balance_cents"] == 500
        target = AccountModel().find_by_number(target_number)
        assert target["holds"] == [] and target["balance_cents"] == 0
        voided = list(get_db()["transactions"].find({"transfer_id": out_id}))
    assert sorted(e["status"] for e in voided) == ["aborted", "aborted"]
    assert check(app)["ok"]


def test_ledger_refuses_non_positive_amounts(app, customer):
    with app.app_context():
        account = AccountModel().find_by_number(customer["account"]["account_number"])
        with pytest.raises(ValueError):
            ledger.withdraw(account, 0, None)


def test_entries_carry_sequence_and_balance_after(app, client, customer):
    number = customer["account"]["account_number"]
    for amount in ("3.00", "4.00"):
        client.post("/deposit", headers=customer["headers"], json={"amount": amount})
    client.post("/withdraw", headers=customer["headers"], json={"amount": "2.00"})
    account, entries = state(app, number)
    entries.sort(key=lambda e: e["seq"])
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert [e["balance_after_cents"] for e in entries] == [300, 700, 500]
    assert account["entry_seq"] == 3 and account["pending_entries"] == []
    assert_consistent(account, entries)
    assert check(app)["ok"]


def test_in_memory_backend_serialises_every_operation(app, db):
    # Hold the lock from another thread: a database call must wait for it.
    done = threading.Event()
    with MEMORY_LOCK:
        worker = threading.Thread(
            target=lambda: (db["accounts"].count_documents({}), done.set())
        )
        worker.start()
        assert not done.wait(0.2)
    worker.join(5)
    assert done.is_set()


# -- concurrency through a real threaded HTTP server --------------------------


def http_post(url, headers, body):
    """POST to a full URL (a running server's address plus the path)."""
    return call(url, "POST", "", headers, body)


def parallel_posts(url, headers, body, count):
    barrier = threading.Barrier(count)

    def one(_):
        barrier.wait(10)
        return http_post(url, headers, body)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_fifty_parallel_withdrawals_never_overdraw(
    app, server, customer, fast_switching
):
    number = customer["account"]["account_number"]
    fund(app, number, 10000)
    results = parallel_posts(
        f"{server}/withdraw", customer["headers"], {"amount": "10.00"}, 50
    )
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 10
    assert statuses.count(409) == 40
    assert {b["code"] for s, b in results if s == 409} == {"insufficient_funds"}
    account, entries = state(app, number)
    assert account["balance_cents"] == 0
    assert_consistent(account, entries)
    # Each success saw a distinct balance: no two withdrawals read the same one.
    afters = sorted(b["balance"] for s, b in results if s == 201)
    assert afters == [f"{n}.00" for n in range(0, 100, 10)]


def test_sixty_parallel_deposits_all_land(app, server, customer, fast_switching):
    number = customer["account"]["account_number"]
    results = parallel_posts(
        f"{server}/deposit", customer["headers"], {"amount": "1.01"}, 60
    )
    assert [status for status, _ in results].count(201) == 60
    account, entries = state(app, number)
    assert account["balance_cents"] == 60 * 101
    assert len([e for e in entries if e["status"] == "posted"]) == 60
    assert sorted(e["seq"] for e in entries) == list(range(1, 61))
    assert_consistent(account, entries)


@pytest.mark.mongo
def test_parallel_withdrawals_on_a_real_mongodb(fast_switching):
    """The same guarantee with the production adapter (needs TEST_MONGO_URI)."""
    import os
    import uuid

    import pymongo

    from app import create_app
    from app.config import TestConfig

    class RealMongo(TestConfig):
        MONGO_URI = os.environ["TEST_MONGO_URI"]
        MONGO_DB_NAME = f"bank_test_{uuid.uuid4().hex[:8]}"

    client = pymongo.MongoClient(RealMongo.MONGO_URI, tz_aware=True)
    app = create_app(RealMongo, mongo_client=client)
    try:
        with app.test_client() as http:
            http.post(
                "/auth/register",
                json={"username": "realmongo", "password": "a-long-password"},
            )
            token = http.post(
                "/auth/login",
                json={"username": "realmongo", "password": "a-long-password"},
            ).get_json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        with app.app_context():
            number = get_db()["accounts"].find_one({})["account_number"]
        fund(app, number, 10000)
        with ThreadPoolExecutor(max_workers=50) as pool:

            def withdraw(_):
                with app.test_client() as http:
                    return http.post(
                        "/withdraw", headers=headers, json={"amount": "10.00"}
                    ).status_code

            statuses = list(pool.map(withdraw, range(50)))
        assert statuses.count(201) == 10
        account, entries = state(app, number)
        assert account["balance_cents"] == 0
        assert_consistent(account, entries)
    finally:
        client.drop_database(RealMongo.MONGO_DB_NAME)


def register_over_http(base, username):
    status, _ = http_post(
        f"{base}/auth/register", {}, {"username": username, "password": PASSWORD}
    )
    assert status == 201
    status, body = http_post(
        f"{base}/auth/login", {}, {"username": username, "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {body['access_token']}"}


def six_funded_accounts(app, server):
    """Six customers with 100.00 each: (number, headers) pairs."""
    accounts = []
    for index in range(6):
        headers = register_over_http(server, f"racer{index}")
        with app.app_context():
            number = get_db()["accounts"].find_one({"username": f"racer{index}"})[
                "account_number"
            ]
        fund(app, number, 10000)
        accounts.append((number, headers))
    return accounts


def assert_history_replays(app, number):
    """The account's posted entries, in seq order, rebuild its balance."""
    account, entries = state(app, number)
    posted = sorted(
        (e for e in entries if e["status"] == "posted"), key=lambda e: e["seq"]
    )
    running = 0
    for seq, entry in enumerate(posted, start=1):
        running += entry["delta_cents"]
        assert entry["seq"] == seq and entry["balance_after_cents"] == running
    assert running == account["balance_cents"] == account["balance_cents"]
    assert account["pending_entries"] == [] and account["holds"] == []


def test_random_parallel_transfers_conserve_money(app, server, fast_switching):
    accounts = six_funded_accounts(app, server)
    rng = random.Random(20261121)
    plans = [
        [(*rng.sample(range(6), 2), rng.randint(1, 4000)) for _ in range(12)]
        for _ in range(24)
    ]
    barrier = threading.Barrier(24)

    def worker(plan):
        barrier.wait(10)
        outcomes = []
        for source, target, cents in plan:
            number, headers = accounts[source]
            status, body = http_post(
                f"{server}/transfers",
                headers,
                {
                    "from_account_number": number,
                    "to_account_number": accounts[target][0],
                    "amount": f"{cents / 100:.2f}",
                },
            )
            outcomes.append((status, body.get("code")))
        return outcomes

    with ThreadPoolExecutor(max_workers=24) as pool:
        results = [o for outcomes in pool.map(worker, plans) for o in outcomes]
    statuses = {status for status, _code in results}
    assert statuses <= {201, 409}, results
    assert {code for status, code in results if status == 409} <= {"insufficient_funds"}
    assert sum(1 for status, _ in results if status == 201) > 100
    total = sum(balance_cents(app, number) for number, _ in accounts)
    assert total == 6 * 10000
    for number, _headers in accounts:
        assert balance_cents(app, number) >= 0
        assert_history_replays(app, number)
    report = check(app)
    assert report["ok"], report["problems"]
    assert report["transfers"] == len(results)


def test_opposite_transfers_at_once_neither_deadlock_nor_lose_money(
    app, server, fast_switching
):
    (a, a_headers), (b, b_headers), *_ = six_funded_accounts(app, server)
    barrier = threading.Barrier(20)

    def worker(index):
        barrier.wait(10)
        headers, source, target = (
            (a_headers, a, b) if index % 2 == 0 else (b_headers, b, a)
        )
        return [
            http_post(
                f"{server}/transfers",
                headers,
                {"from_account_number": source, "to_account_number": target,
                 "amount": "7.00"},
            )[0]
            for _ in range(5)
        ]  # fmt: skip

    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(worker, index) for index in range(20)]
        statuses = [s for future in futures for s in future.result(timeout=60)]
    assert statuses.count(201) == 100
    assert balance_cents(app, a) + balance_cents(app, b) == 20000
    assert balance_cents(app, a) == balance_cents(app, b) == 10000  # 50 each way
    for number in (a, b):
        assert_history_replays(app, number)
    assert check(app)["ok"]


@pytest.mark.parametrize("path", ["/withdraw", "/transfers"])
def test_twenty_parallel_requests_with_one_key_move_money_once(
    app, server, customer, other_customer, fast_switching, path
):
    mine = customer["account"]["account_number"]
    theirs = other_customer["account"]["account_number"]
    fund(app, mine, 10000)
    body = {"amount": "10.00"}
    if path == "/transfers":
        body["to_account_number"] = theirs
    headers = {**customer["headers"], "Idempotency-Key": "one-key"}
    results = parallel_posts(f"{server}{path}", headers, body, 20)
    statuses = [status for status, _ in results]
    assert set(statuses) <= {201, 409}
    assert {b["code"] for s, b in results if s == 409} <= {"idempotency_in_progress"}
    assert statuses.count(201) >= 1
    # Every 201 is the same response: the first one, replayed.
    assert len({json.dumps(b, sort_keys=True) for s, b in results if s == 201}) == 1
    assert balance_cents(app, mine) == 9000
    with app.app_context():
        moved = get_db()["transactions"].count_documents({"status": "posted"})
    assert moved == (3 if path == "/transfers" else 2)  # funding + the movement


@pytest.mark.mongo
def test_parallel_transfers_and_recovery_on_a_real_mongodb(fast_switching):
    """Transfers, a crash and recovery with the production adapter (needs
    TEST_MONGO_URI; a standalone server is enough: no transactions are used)."""
    import os
    import uuid

    import pymongo

    from app import create_app
    from app.commands import run_recovery
    from app.config import TestConfig

    class RealMongo(TestConfig):
        MONGO_URI = os.environ["TEST_MONGO_URI"]
        MONGO_DB_NAME = f"bank_test_{uuid.uuid4().hex[:8]}"
        LEDGER_PENDING_TIMEOUT = timedelta(0)

    client = pymongo.MongoClient(RealMongo.MONGO_URI, tz_aware=True)
    app = create_app(RealMongo, mongo_client=client)
    try:
        people = []
        with app.test_client() as http:
            for name in ("realone", "realtwo"):
                http.post(
                    "/auth/register", json={"username": name, "password": PASSWORD}
                )
                token = http.post(
                    "/auth/login", json={"username": name, "password": PASSWORD}
                ).get_json()["access_token"]
                with app.app_context():
                    number = get_db()["accounts"].find_one({"username": name})[
                        "account_number"
                    ]
                fund(app, number, 10000)
                people.append((number, {"Authorization": f"Bearer {token}"}))

        def send(index):
            (_source, headers), (target, _) = people[index % 2], people[1 - index % 2]
            with app.test_client() as http:
                return http.post(
                    "/transfers",
                    headers=headers,
                    json={"to_account_number": target, "amount": "3.00"},
                ).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(send, range(64)))
        assert statuses.count(201) == 64

        faulty = faults.install(app, crash_after=4)  # debited, not credited
        with pytest.raises(faults.Crash), app.test_client() as http:
            http.post(
                "/transfers",
                headers={**people[0][1], "Idempotency-Key": "real-crash"},
                json={"to_account_number": people[1][0], "amount": "1.00"},
            )
        faults.uninstall(app, faulty)
        with app.app_context():
            run_recovery()
            report = check_report()
        assert report["ok"], report["problems"]
        assert balance_cents(app, people[0][0]) == 9900
        assert balance_cents(app, people[1][0]) == 10100
    finally:
        client.drop_database(RealMongo.MONGO_DB_NAME)
