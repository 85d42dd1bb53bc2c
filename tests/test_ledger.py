"""The ledger: its write protocol under crashes, and its atomicity under threads."""

import json
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from werkzeug.serving import make_server

from app.db import MEMORY_LOCK, get_db
from app.models import ledger
from app.models.account import AccountModel
from tests import faults
from tests.factories import fund
from tests.test_auth import assert_problem

# The order of writes a movement makes, which the protocol docstring describes.
PROTOCOL = [
    ("transactions", "insert_one"),  # 1. journal, pending
    ("accounts", "find_one_and_update"),  # 2. commit point
    ("transactions", "update_one"),  # 3. post
    ("accounts", "update_one"),  # 4. release
]


def state(app, number):
    """Return (account, entries) as stored, for the invariant checks."""
    with app.app_context():
        account = AccountModel().find_by_number(number)
        entries = list(get_db()["transactions"].find({"account_id": account["_id"]}))
    return account, entries


def assert_consistent(account, entries):
    """Balance = posted entries + entries applied but not yet posted, never < 0."""
    by_id = {e["_id"]: e for e in entries}
    posted = sum(e["delta_cents"] for e in entries if e["status"] == "posted")
    in_flight = sum(
        by_id[i]["delta_cents"]
        for i in account["pending_entries"]
        if by_id[i]["status"] == "pending"
    )
    assert account["balance_cents"] == posted + in_flight
    assert account["balance_cents"] >= 0
    for entry_id in account["pending_entries"]:
        assert by_id[entry_id]["status"] in {"pending", "posted"}


def test_movement_makes_exactly_the_protocol_writes(app, client, customer):
    faulty = faults.install(app)
    response = client.post("/deposit", headers=customer["headers"], json={"amount": 5})
    assert response.status_code == 201
    assert faulty.writes == PROTOCOL


@pytest.mark.parametrize(
    "path, funded, delta", [("/deposit", 1000, 500), ("/withdraw", 1000, -500)]
)
@pytest.mark.parametrize("crash_at", [1, 2, 3, 4])
def test_crash_after_each_write_leaves_a_recoverable_state(
    app, client, customer, path, funded, delta, crash_at
):
    number = customer["account"]["account_number"]
    fund(app, number, funded)
    faulty = faults.install(app, fail_at=crash_at)
    response = client.post(path, headers=customer["headers"], json={"amount": 5})
    faults.uninstall(app, faulty)

    body = assert_problem(response, 500, "internal_error")
    assert "crash" not in json.dumps(body).lower()  # no internals leak
    account, entries = state(app, number)
    assert_consistent(account, entries)
    new = [e for e in entries if e["description"] != "test funding"]
    if crash_at == 1:
        # Nothing written: nothing moved.
        assert new == [] and account["balance_cents"] == funded
        return
    (entry,) = new
    if crash_at == 2:
        # Journalled but the commit point never ran: nothing moved, and the
        # account does not know the entry, so recovery will abort it.
        assert entry["status"] == "pending"
        assert account["balance_cents"] == funded
        assert entry["_id"] not in account["pending_entries"]
    elif crash_at == 3:
        # Committed but not posted: the money moved and the account names the
        # entry, so recovery will finish it.
        assert entry["status"] == "pending"
        assert account["balance_cents"] == funded + delta
        assert account["pending_entries"] == [entry["_id"]]
        assert account["entry_seq"] == 2
    else:
        # Posted, not released: only the bookkeeping step is left.
        assert entry["status"] == "posted"
        assert entry["balance_after_cents"] == funded + delta
        assert account["balance_cents"] == funded + delta
        assert account["pending_entries"] == [entry["_id"]]


def test_history_shows_only_posted_entries(app, client, customer):
    number = customer["account"]["account_number"]
    fund(app, number, 1000)
    faulty = faults.install(app, fail_at=3)
    client.post("/deposit", headers=customer["headers"], json={"amount": 5})
    faults.uninstall(app, faulty)
    items = client.get("/transactions", headers=customer["headers"]).get_json()["items"]
    assert [t["amount"] for t in items] == ["10.00"]


def test_commit_point_applies_an_entry_at_most_once(app, customer):
    number = customer["account"]["account_number"]
    with app.app_context():
        account = AccountModel().find_by_number(number)
        movement = ledger.deposit(account, 100, None)
        entry_id = movement.entry["_id"]
        # Replay step 2 for the same entry while it is still pending on the
        # account: the $ne guard refuses it.
        accounts = get_db()["accounts"]
        accounts.update_one(
            {"_id": account["_id"]}, {"$push": {"pending_entries": entry_id}}
        )
        again = accounts.find_one_and_update(
            {
                "_id": account["_id"],
                "status": "active",
                "pending_entries": {"$ne": entry_id},
            },
            {"$inc": {"balance_cents": 100}},
        )
        assert again is None
        assert AccountModel().find_by_number(number)["balance_cents"] == 100


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


@pytest.fixture
def server(app):
    """Serve the app on a loopback port with one thread per request."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(10)


@pytest.fixture
def fast_switching():
    """Switch threads every 10 microseconds so an unguarded race cannot hide."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


def http_post(url, headers, body):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={**headers, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


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
