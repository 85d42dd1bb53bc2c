"""Audit log model: one-insert appends, keyed seals, crash safety, tamper evidence."""

import hashlib
import hmac
import multiprocessing
import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from app import create_app
from app.config import TestConfig
from app.db import get_db, memory_client
from app.models import audit as audit_module
from app.models.audit import (
    GENESIS_HASH,
    SEAL_LEASE,
    SEAL_LEASE_TTL,
    SEAL_SETTLE,
    AuditModel,
    AuditSealModel,
    SealError,
    canonical_bytes,
    entry_hash,
    fold_hashes,
    seal_digest,
)
from app.models.lease import LeaseModel
from tests import faults

T0 = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
KEY = "a-seal-key-only-the-sealer-and-verifier-hold"
LATER = T0 + timedelta(hours=1)  # every entry appended at T0 + seconds has settled
# Every collection method that writes (the fault injector's list).
WRITES = faults.WRITES


@pytest.fixture
def audit(app):
    """An AuditModel with its indexes, inside an app context."""
    with app.app_context():
        model = AuditModel()
        model.ensure_indexes()
        yield model


@pytest.fixture
def seals(audit):
    return AuditSealModel()


def fresh_app():
    return create_app(TestConfig, mongo_client=memory_client())


def append_n(audit, count: int, start: datetime = T0) -> list[dict]:
    """Append ``count`` deposits one second apart from ``start``."""
    return [
        audit.append(
            "deposit",
            actor="carol",
            details={"n": i},
            at=start + timedelta(seconds=i),
        )
        for i in range(count)
    ]


def by_seq(audit) -> list[dict]:
    return list(audit.collection.find({"seal": {"$ne": None}}, sort=[("seq", 1)]))


def assert_one_clean_chain(audit, total: int, key=None) -> dict:
    """Every entry sealed exactly once, seq 1..total, seals 1..K chained."""
    report = audit.verify(key)
    assert report["valid"] is True, report
    assert (report["entries"], report["sealed"], report["unsealed"]) == (
        total,
        total,
        0,
    )
    assert [doc["seq"] for doc in by_seq(audit)] == list(range(1, total + 1))
    seal_docs = list(get_db()["audit_seals"].find({}, sort=[("_id", 1)]))
    assert [doc["_id"] for doc in seal_docs] == list(range(1, len(seal_docs) + 1))
    assert all(doc["state"] == "sealed" for doc in seal_docs)
    assert sum(doc["count"] for doc in seal_docs) == total
    return report


# -- entries and their canonical form ----------------------------------------


def test_append_stores_every_field_and_returns_the_entry(audit):
    entry = audit.append(
        "transfer",
        actor="carol",
        target=ObjectId("0123456789abcdef01234567"),
        ip="203.0.113.9",
        request_id="req-1",
        details={"amount_cents": 500, "to": "1234567897"},
        at=T0 + timedelta(microseconds=456),
    )
    assert set(entry) == {
        "_id",
        "at",
        "actor",
        "action",
        "target",
        "ip",
        "request_id",
        "details",
        "hash",
        "seal",
        "seq",
    }
    assert isinstance(entry["_id"], ObjectId)
    # Microseconds are cut to BSON's milliseconds before hashing.
    assert entry["at"] == T0
    assert entry["target"] == "0123456789abcdef01234567"
    assert (entry["seal"], entry["seq"]) == (None, None)
    assert entry["hash"] == entry_hash(entry)
    assert audit.find(entry["_id"]) == entry


def test_identical_events_are_two_entries(audit):
    first = audit.append("login_failure", actor="carol", at=T0)
    second = audit.append("login_failure", actor="carol", at=T0)
    assert first["_id"] != second["_id"]
    assert first["hash"] != second["hash"]  # the id is hashed
    assert audit.collection.count_documents({}) == 2


def test_hash_is_sha256_of_the_documented_canonical_form():
    entry = {
        "_id": ObjectId("0123456789abcdef01234567"),
        "at": T0,
        "actor": "zoë",
        "action": "login_success",
        "target": None,
        "ip": None,
        "request_id": None,
        "details": {"b": [1, True, None], "a": "x"},
        # Not hashed: the entry's own hash, and the position a seal gives it.
        "hash": "ignored",
        "seal": 3,
        "seq": 17,
    }
    expected = (
        '{"_id":"0123456789abcdef01234567","action":"login_success",'
        '"actor":"zo\\u00eb","at":"2024-05-06T07:08:09.123000Z",'
        '"details":{"a":"x","b":[1,true,null]},"ip":null,'
        '"request_id":null,"target":null}'
    ).encode("ascii")
    assert canonical_bytes(entry) == expected
    assert entry_hash(entry) == hashlib.sha256(expected).hexdigest()


def test_seal_digest_is_the_documented_hmac_of_the_seal_header():
    seal = {
        "_id": 2,
        "state": "sealed",
        "prev": "ab" * 32,
        "first_seq": 4,
        "count": 2,
        "cutoff": T0,
        "sealed_at": T0 + timedelta(seconds=5),
        "entries": fold_hashes(["11" * 32, "22" * 32]),
        "digest": "ignored",
    }
    header = (
        '{"_id":2,"count":2,"cutoff":"2024-05-06T07:08:09.123000Z",'
        f'"entries":"{seal["entries"]}","first_seq":4,"prev":"{"ab" * 32}",'
        '"sealed_at":"2024-05-06T07:08:14.123000Z"}'
    ).encode("ascii")
    keyed = hmac.new(KEY.encode(), header, hashlib.sha256).hexdigest()
    assert seal_digest(seal, KEY) == keyed
    assert seal_digest(seal, None) == hashlib.sha256(header).hexdigest()
    first = hashlib.sha256((GENESIS_HASH + "11" * 32).encode()).hexdigest()
    assert seal["entries"] == hashlib.sha256((first + "22" * 32).encode()).hexdigest()


def test_canonical_hash_ignores_key_order_in_details(audit):
    first = audit.append("x", actor="a", details={"b": 1, "a": {"d": 2, "c": 3}}, at=T0)
    reordered = dict(first, details={"a": {"c": 3, "d": 2}, "b": 1})
    assert list(reordered["details"]) != list(first["details"])
    assert entry_hash(reordered) == first["hash"]
    changed = dict(first, details={"a": {"c": 3, "d": 2}, "b": 2})
    assert entry_hash(changed) != first["hash"]


def test_same_instant_in_another_zone_hashes_the_same(audit):
    other_zone = T0.astimezone(datetime.now().astimezone().tzinfo)
    entry = audit.append("x", actor="a", at=T0)
    assert entry_hash(dict(entry, at=other_zone)) == entry["hash"]


@pytest.mark.parametrize(
    "details",
    [
        {"amount": 1.5},
        {"when": T0},
        {"id": ObjectId()},
        {1: "x"},
        {"$set": 1},
        {"a.b": 1},
        {"big": 2**63},
        {"nested": [{"f": float("nan")}]},
        {"in_list": [1, 2.5]},
        {"bad": "\ud800"},
        ["not", "a", "dict"],
    ],
)
def test_details_outside_the_canonical_types_are_refused(audit, details):
    with pytest.raises((TypeError, ValueError)):
        audit.append("x", actor="a", details=details)
    assert audit.collection.count_documents({}) == 0


def test_naive_time_is_refused(audit):
    with pytest.raises(ValueError):
        audit.append("x", actor="a", at=datetime(2024, 1, 1))


# -- appends: one write, no shared document -------------------------------------


class CountingCollection:
    """Record every call a model makes on one collection."""

    def __init__(self, name: str, collection, calls: list) -> None:
        self._name, self._collection, self._calls = name, collection, calls

    def __getattr__(self, attr: str):
        target = getattr(self._collection, attr)
        if not callable(target):
            return target

        def call(*args, **kwargs):
            self._calls.append((self._name, attr))
            return target(*args, **kwargs)

        return call


class CountingDatabase:
    def __init__(self, db, calls: list) -> None:
        self._db, self._calls = db, calls

    def __getitem__(self, name: str):
        return CountingCollection(name, self._db[name], self._calls)


def test_an_append_is_exactly_one_insert_and_reads_nothing(audit, monkeypatch):
    append_n(audit, 20)  # a log behind it changes nothing
    calls = []
    db = get_db()
    monkeypatch.setattr(audit_module, "get_db", lambda: CountingDatabase(db, calls))
    entry = audit.append("deposit", actor="carol", details={"amount_cents": 100})
    assert calls == [("audit_log", "insert_one")]
    assert audit.collection.find_one({"_id": entry["_id"]}) == entry


def test_an_append_does_not_scan_the_log(audit, monkeypatch):
    append_n(audit, 50)
    raw = audit.collection._collection
    filters = []
    iter_documents = raw._iter_documents

    def recording(filter):
        filters.append(filter)
        return iter_documents(filter)

    monkeypatch.setattr(raw, "_iter_documents", recording)
    audit.append("deposit", actor="carol")
    assert filters == []


def test_the_model_holds_no_lock_or_process_state():
    # Appends share nothing but the collection: no lock, no remembered tail.
    names = vars(audit_module)
    assert not any(
        isinstance(value, type(threading.Lock())) for value in names.values()
    )
    assert "PROCESS_APPENDER" not in names and "Appender" not in names


def test_threads_append_in_parallel_with_one_insert_each(
    app, audit, monkeypatch, fast_switching
):
    threads_count, per_thread = 16, 25
    calls = []
    db = get_db()
    monkeypatch.setattr(audit_module, "get_db", lambda: CountingDatabase(db, calls))
    errors = []
    start = threading.Barrier(threads_count)

    def worker(number: int) -> None:
        try:
            with app.app_context():
                model = AuditModel()
                start.wait()
                for i in range(per_thread):
                    model.append("deposit", actor=f"t{number}", details={"i": i})
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    total = threads_count * per_thread
    # No retry, no read: one insert per append, whatever the interleaving.
    assert calls == [("audit_log", "insert_one")] * total
    monkeypatch.undo()
    assert len(audit.collection.distinct("_id")) == total
    for number in range(threads_count):
        assert audit.collection.count_documents({"actor": f"t{number}"}) == per_thread
    report = audit.verify()
    assert (report["valid"], report["entries"], report["unsealed"]) == (
        True,
        total,
        total,
    )
    AuditSealModel().seal(datetime.now(UTC) + timedelta(hours=1))
    assert_one_clean_chain(audit, total)


def _append_in_process(uri: str, db_name: str, number: int, count: int) -> None:
    """Child process: its own app and client on the shared real MongoDB."""
    import pymongo  # noqa: PLC0415 - only in the child

    class RealMongo(TestConfig):
        MONGO_URI = uri
        MONGO_DB_NAME = db_name
        LEDGER_RECOVER_ON_START = False

    client = pymongo.MongoClient(uri, tz_aware=True)
    app = create_app(RealMongo, mongo_client=client)
    with app.app_context():
        model = AuditModel()
        for i in range(count):
            model.append("deposit", actor=f"p{number}", details={"i": i})
        if number % 2 == 0:  # half the processes also seal, racing each other
            AuditSealModel().seal(settle=timedelta(0))
    client.close()


@pytest.mark.mongo
def test_processes_append_and_seal_in_parallel_on_a_real_mongodb():
    """Appenders and sealers in 4 processes on one real MongoDB (TEST_MONGO_URI)."""
    import pymongo  # noqa: PLC0415

    uri = os.environ["TEST_MONGO_URI"]
    db_name = f"bank_test_{uuid.uuid4().hex[:8]}"
    processes, per_process = 4, 100

    class RealMongo(TestConfig):
        MONGO_URI = uri
        MONGO_DB_NAME = db_name

    client = pymongo.MongoClient(uri, tz_aware=True)
    app = create_app(RealMongo, mongo_client=client)
    try:
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(
                target=_append_in_process, args=(uri, db_name, n, per_process)
            )
            for n in range(processes)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
            assert worker.exitcode == 0
        with app.app_context():
            audit = AuditModel()
            AuditSealModel().seal(settle=timedelta(0))
            assert_one_clean_chain(audit, processes * per_process)
    finally:
        client.drop_database(db_name)


# -- sealing -------------------------------------------------------------------


def test_a_seal_covers_exactly_the_unsealed_entries_older_than_the_delay(audit, seals):
    entries = append_n(audit, 10)  # at T0 .. T0 + 9 s
    now = T0 + timedelta(seconds=5) + SEAL_SETTLE  # cutoff: T0 + 5 s, exclusive
    report = seals.seal(now)
    assert (report["seals"], report["entries"], report["busy"]) == ([1], 5, False)
    stored = {doc["_id"]: doc for doc in audit.collection.find({})}
    assert [stored[e["_id"]]["seq"] for e in entries[:5]] == [1, 2, 3, 4, 5]
    assert {stored[e["_id"]]["seal"] for e in entries[:5]} == {1}
    assert all(stored[e["_id"]]["seal"] is None for e in entries[5:])
    # The same moment again: nothing new has settled, so no seal.
    assert seals.seal(now)["seals"] == []
    # An insert that was in flight lands late with an old time: the next seal
    # covers it, after every entry already sealed.
    late = audit.append("login_failure", actor="slow", at=T0 + timedelta(seconds=1))
    report = seals.seal(now)
    assert (report["seals"], report["entries"]) == ([2], 1)
    assert audit.find(late["_id"])["seq"] == 6
    assert all(audit.find(e["_id"])["seal"] is None for e in entries[5:])
    report = seals.seal(LATER)
    assert (report["seals"], report["entries"]) == ([3], 5)
    assert_one_clean_chain(audit, 11)


def test_seq_follows_time_then_id_within_a_seal(audit, seals):
    second = audit.append("b", actor="x", at=T0 + timedelta(seconds=1))
    first = audit.append("a", actor="x", at=T0)
    tie = audit.append("c", actor="x", at=T0)
    seals.seal(LATER)
    assert [doc["_id"] for doc in by_seq(audit)] == [
        first["_id"],
        tie["_id"],
        second["_id"],
    ]


def test_one_run_makes_as_many_seals_as_its_batch_needs(audit, seals):
    append_n(audit, 7)
    report = seals.seal(LATER, batch=3)
    assert (report["seals"], report["entries"]) == ([1, 2, 3], 7)
    counts = [doc["count"] for doc in seals.collection.find({}, sort=[("_id", 1)])]
    assert counts == [3, 3, 1]
    assert report["last_seal"] == 3
    assert report["last_digest"] == seals.collection.find_one({"_id": 3})["digest"]
    assert_one_clean_chain(audit, 7)


def test_each_seal_chains_to_the_one_before(audit, seals):
    append_n(audit, 4)
    seals.seal(LATER, batch=2)
    one, two = seals.collection.find({}, sort=[("_id", 1)])
    assert one["prev"] == GENESIS_HASH and two["prev"] == one["digest"]
    assert (one["first_seq"], two["first_seq"]) == (1, 3)
    hashes = [doc["hash"] for doc in by_seq(audit)]
    assert one["entries"] == fold_hashes(hashes[:2])
    assert two["entries"] == fold_hashes(hashes[2:])
    assert one["digest"] == seal_digest(one, None)
    assert "entry_ids" not in one


def test_sealing_an_empty_log_does_nothing(audit, seals):
    report = seals.seal(LATER)
    assert report == {
        "busy": False,
        "seals": [],
        "entries": 0,
        "keyed": False,
        "last_seal": None,
        "last_digest": None,
    }
    assert seals.collection.count_documents({}) == 0


def test_seal_without_a_time_uses_the_clock_and_leaves_fresh_entries(app, audit):
    audit.append("login_success", actor="carol")  # now: not settled yet
    audit.append("login_success", actor="old", at=T0)
    report = audit_module.seal()
    assert report["entries"] == 1
    assert audit.collection.find_one({"actor": "carol"})["seal"] is None


def test_the_lease_lets_one_sealer_in_until_it_expires(audit, seals):
    append_n(audit, 3)
    leases = LeaseModel()
    assert leases.acquire(SEAL_LEASE, "other", SEAL_LEASE_TTL, LATER) is not None
    assert seals.seal(LATER)["busy"] is True
    assert seals.collection.count_documents({}) == 0
    report = seals.seal(LATER + SEAL_LEASE_TTL)  # the other holder died
    assert (report["busy"], report["entries"]) == (False, 3)
    # A finished run gives the lease back at once.
    assert leases.acquire(SEAL_LEASE, "next", SEAL_LEASE_TTL, LATER) is not None


def test_lease_acquire_renew_and_release(app):
    with app.app_context():
        leases = LeaseModel()
        ttl = timedelta(seconds=30)
        assert leases.acquire("job", "a", ttl, T0)["holder"] == "a"
        assert leases.acquire("job", "b", ttl, T0 + timedelta(seconds=29)) is None
        assert leases.acquire("job", "a", ttl, T0 + timedelta(seconds=29)) is not None
        assert leases.acquire("job", "b", ttl, T0 + timedelta(seconds=58)) is None
        assert (
            leases.acquire("job", "b", ttl, T0 + timedelta(seconds=59))["holder"] == "b"
        )
        leases.release("job", "a")  # not the holder: no effect
        assert leases.acquire("job", "c", ttl, T0 + timedelta(seconds=60)) is None
        leases.release("job", "b")
        assert leases.acquire("job", "c", ttl, T0 + timedelta(seconds=60)) is not None


@pytest.mark.parametrize("bypass_lease", [False, True])
def test_racing_sealers_and_appenders_make_one_consistent_chain(
    app, audit, monkeypatch, fast_switching, bypass_lease
):
    if bypass_lease:
        # As if clocks disagreed and every sealer thought the lease was free:
        # the unique seal number and idempotent finishing must still hold.
        monkeypatch.setattr(LeaseModel, "acquire", lambda *args, **kwargs: {})
    appenders, per_appender, sealers = 4, 40, 4
    errors = []
    start = threading.Barrier(appenders + sealers)

    def append(number: int) -> None:
        try:
            with app.app_context():
                model = AuditModel()
                start.wait()
                for i in range(per_appender):
                    model.append("deposit", actor=f"a{number}", at=T0, details={"i": i})
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    def seal_often() -> None:
        try:
            with app.app_context():
                model = AuditSealModel()
                start.wait()
                for _ in range(15):
                    model.seal(LATER, batch=7)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(appenders)]
    threads += [threading.Thread(target=seal_often) for _ in range(sealers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    AuditSealModel().seal(LATER, batch=7)
    assert_one_clean_chain(audit, appenders * per_appender)


# -- a crash at every write of a seal ------------------------------------------


class Crash(BaseException):
    """The sealer's process dies here (BaseException: no handler catches it)."""


class CrashingCollection:
    """Let the first ``survive`` writes through, then die at every later one.

    ``half_bulk``: the write that dies, if it is a bulk write, first applies
    half of its operations, as an unordered bulk on a real server can.
    """

    def __init__(self, plan: dict, collection) -> None:
        self._plan, self._collection = plan, collection

    def __getattr__(self, attr: str):
        target = getattr(self._collection, attr)
        if attr not in WRITES:
            return target

        def write(*args, **kwargs):
            plan = self._plan
            plan["writes"] += 1
            if plan["survive"] is not None and plan["writes"] > plan["survive"]:
                if plan["half_bulk"] and attr == "bulk_write" and not plan["dead"]:
                    operations = args[0]
                    target(operations[: len(operations) // 2], ordered=False)
                plan["dead"] = True
                raise Crash(attr)
            return target(*args, **kwargs)

        return write


class CrashingDatabase:
    def __init__(self, db, plan: dict) -> None:
        self._db, self._plan = db, plan

    def __getitem__(self, name: str):
        return CrashingCollection(self._plan, self._db[name])


def run_crashing_seal(app, monkeypatch, survive, half_bulk=False) -> int:
    """Seal 5 entries (batch 2: three seals) dying after ``survive`` writes."""
    from app.models import lease as lease_module  # noqa: PLC0415

    plan = {"writes": 0, "survive": survive, "half_bulk": half_bulk, "dead": False}
    with app.app_context():
        db = get_db()
        crashing = CrashingDatabase(db, plan)
        with monkeypatch.context() as patch:
            patch.setattr(audit_module, "get_db", lambda: crashing)
            patch.setattr(lease_module, "get_db", lambda: crashing)
            try:
                AuditSealModel().seal(LATER, batch=2)
            except Crash:
                pass
    return plan["writes"]


def test_a_crash_at_any_write_of_a_seal_is_finished_by_the_next_seal(monkeypatch):
    clean = fresh_app()
    with clean.app_context():
        append_n(AuditModel(), 5)
    total_writes = run_crashing_seal(clean, monkeypatch, survive=None)
    # lease, then per seal: pending insert, marks, final update, lease renewal;
    # then the lease's release.
    assert total_writes == 1 + 3 * 4 + 1
    for half_bulk in (False, True):
        for survive in range(total_writes):
            app = fresh_app()
            with app.app_context():
                append_n(AuditModel(), 5)
                expected = [
                    doc["_id"]
                    for doc in AuditModel().collection.find({}, sort=[("at", 1)])
                ]
            run_crashing_seal(app, monkeypatch, survive, half_bulk)
            with app.app_context():
                audit = AuditModel()
                # Whatever the crash left is valid: at most a pending last seal.
                assert audit.verify()["valid"] is True, (survive, half_bulk)
                # After the dead sealer's lease expires, the next run finishes.
                report = AuditSealModel().seal(LATER + SEAL_LEASE_TTL, batch=2)
                assert report["busy"] is False
                assert_one_clean_chain(audit, 5)
                assert [doc["_id"] for doc in by_seq(audit)] == expected
                assert AuditSealModel().collection.count_documents({}) == 3


def test_a_pending_seal_is_finished_with_the_same_digest(audit, seals):
    append_n(audit, 3)
    seals.seal(LATER)
    sealed = seals.collection.find_one({"_id": 1})
    # Reopen it as a crashed sealer would have left it, marks and all.
    ids = [doc["_id"] for doc in by_seq(audit)]
    seals.collection.replace_one(
        {"_id": 1},
        {
            **{k: v for k, v in sealed.items() if k not in ("entries", "digest")},
            "state": "pending",
            "entry_ids": ids,
        },
    )
    audit.collection.update_one({"_id": ids[2]}, {"$set": {"seal": None, "seq": None}})
    seals.seal(LATER + timedelta(days=1))  # a later run, a later clock
    assert seals.collection.find_one({"_id": 1}) == sealed
    assert_one_clean_chain(audit, 3)


def test_the_sealer_refuses_to_extend_a_seal_that_does_not_verify(audit, seals):
    append_n(audit, 2)
    seals.seal(LATER, batch=1)
    seals.collection.update_one({"_id": 2}, {"$set": {"count": 5}})
    audit.append("x", actor="y", at=T0)
    with pytest.raises(SealError):
        seals.seal(LATER)
    assert seals.collection.count_documents({}) == 2
    # The lease was given back: the next attempt is not "busy" but refused again.
    with pytest.raises(SealError):
        seals.seal(LATER)


def test_a_pending_seal_whose_entry_vanished_is_not_finished(audit, seals, monkeypatch):
    entries = append_n(audit, 3)

    def die(self, pending, key):
        raise Crash("after the pending seal")

    monkeypatch.setattr(AuditSealModel, "_finish", die)
    with pytest.raises(Crash):
        seals.seal(LATER)
    monkeypatch.undo()
    audit.collection.delete_one({"_id": entries[1]["_id"]})
    with pytest.raises(SealError):
        seals.seal(LATER + SEAL_LEASE_TTL)
    assert seals.collection.find_one({"_id": 1})["state"] == "pending"


# -- verification and tampering ------------------------------------------------


@pytest.fixture
def sealed_log(app, audit, seals):
    """Nine entries in three keyed seals of three, then two not yet sealed."""
    app.config["AUDIT_SEAL_KEY"] = KEY
    entries = append_n(audit, 9)
    seals.seal(LATER, batch=3)
    entries += append_n(audit, 2, start=LATER)
    return [audit.find(entry["_id"]) for entry in entries]


def test_verify_accepts_an_empty_log(audit):
    assert audit.verify() == {
        "valid": True,
        "entries": 0,
        "first_bad_id": None,
        "first_bad_seal": None,
        "sealed": 0,
        "unsealed": 0,
        "seals": 0,
        "last_sealed_at": None,
        "last_seal": None,
        "last_digest": None,
        "keyed": False,
    }


def test_verify_reports_what_is_sealed_and_what_is_not_yet(audit, seals, sealed_log):
    last = seals.collection.find_one({"_id": 3})
    assert audit.verify() == {
        "valid": True,
        "entries": 11,
        "first_bad_id": None,
        "first_bad_seal": None,
        "sealed": 9,
        "unsealed": 2,
        "seals": 3,
        "last_sealed_at": last["sealed_at"],
        "last_seal": 3,
        "last_digest": last["digest"],
        "keyed": True,
    }


def test_keyed_seals_verify_only_under_their_key(audit, sealed_log):
    assert audit.verify(KEY)["valid"] is True
    wrong = audit.verify("another-key-of-the-same-length-as-the-real-one")
    assert (wrong["valid"], wrong["first_bad_seal"]) == (False, 1)
    assert wrong["first_bad_id"] == str(sealed_log[0]["_id"])
    keyless = audit.verify(None)
    assert (keyless["valid"], keyless["keyed"], keyless["first_bad_seal"]) == (
        False,
        False,
        1,
    )


def test_keyless_seals_verify_without_a_key(app, audit, seals):
    append_n(audit, 4)
    report = seals.seal(LATER)
    assert report["keyed"] is False
    assert audit.verify() == audit.verify(None)
    assert audit.verify()["valid"] is True and audit.verify()["keyed"] is False
    assert audit.verify(KEY)["valid"] is False


@pytest.mark.parametrize(
    "change",
    [
        {"$set": {"actor": "mallory"}},
        {"$set": {"details.n": 99}},
        {"$set": {"at": T0 - timedelta(days=1)}},
        {"$set": {"hash": "0" * 64}},
        {"$set": {"extra": 1}},
        {"$unset": {"ip": ""}},
        {"$unset": {"hash": ""}},
        {"$set": {"details": {"n": 3.0}}},
        {"$set": {"seq": 30}},
        {"$set": {"seq": None}},
        {"$unset": {"seq": ""}},
        {"$set": {"seal": 1}},
        {"$set": {"seal": 2.0}},
    ],
)
def test_an_edited_sealed_entry_is_named(audit, sealed_log, change):
    target = sealed_log[4]  # seal 2, seq 5
    audit.collection.update_one({"_id": target["_id"]}, change)
    report = audit.verify()
    assert report["valid"] is False
    moved = "seq" in change.get("$set", {}) or change.get("$set") == {"seal": 1}
    if moved:
        # Out of its place, it breaks its old or new range at some neighbour.
        assert report["first_bad_seal"] in (1, 2)
    else:
        assert report["first_bad_id"] == str(target["_id"])
        assert report["first_bad_seal"] == 2


def test_a_sealed_entry_edited_with_its_hash_recomputed_breaks_its_seal(
    audit, sealed_log
):
    forged = dict(sealed_log[4], actor="mallory")
    forged["hash"] = entry_hash(forged)
    audit.collection.replace_one({"_id": forged["_id"]}, forged)
    report = audit.verify()
    assert (report["valid"], report["first_bad_seal"]) == (False, 2)
    assert report["first_bad_id"] == str(sealed_log[3]["_id"])  # seal 2's first


@pytest.mark.parametrize("index", [3, 4, 5])
def test_a_deleted_sealed_entry_is_caught(audit, sealed_log, index):
    audit.collection.delete_one({"_id": sealed_log[index]["_id"]})
    report = audit.verify()
    assert (report["valid"], report["first_bad_seal"]) == (False, 2)


def test_entries_reordered_within_a_seal_are_caught(audit, sealed_log):
    a, b = sealed_log[3], sealed_log[4]
    audit.collection.update_one({"_id": a["_id"]}, {"$set": {"seq": b["seq"]}})
    audit.collection.update_one({"_id": b["_id"]}, {"$set": {"seq": a["seq"]}})
    report = audit.verify()
    assert (report["valid"], report["first_bad_seal"]) == (False, 2)


@pytest.mark.parametrize("seq", [4, 5, 6, 7])
def test_an_entry_inserted_into_a_sealed_range_is_caught(audit, sealed_log, seq):
    extra = {
        **{k: v for k, v in sealed_log[4].items() if k not in ("_id", "hash")},
        "_id": ObjectId(),
        "actor": "mallory",
        "seq": seq,
        "seal": 2,
    }
    extra["hash"] = entry_hash(extra)
    audit.collection.insert_one(extra)
    report = audit.verify()
    assert (report["valid"], report["first_bad_seal"]) == (False, 2)


@pytest.mark.parametrize(
    "change",
    [
        {"$set": {"count": 2}},
        {"$set": {"first_seq": 5}},
        {"$set": {"prev": "0" * 64}},
        {"$set": {"entries": "0" * 64}},
        {"$set": {"digest": "0" * 64}},
        {"$set": {"sealed_at": T0}},
        {"$set": {"cutoff": T0}},
        {"$set": {"state": "pending"}},
        {"$set": {"extra": 1}},
        {"$unset": {"digest": ""}},
    ],
)
def test_an_edited_seal_is_caught(audit, seals, sealed_log, change):
    seals.collection.update_one({"_id": 2}, change)
    report = audit.verify()
    assert (report["valid"], report["first_bad_seal"]) == (False, 2)


def test_a_deleted_middle_seal_is_caught(audit, seals, sealed_log):
    seals.collection.delete_one({"_id": 2})
    report = audit.verify()
    assert (report["valid"], report["first_bad_seal"]) == (False, 2)
    assert report["first_bad_id"] == str(sealed_log[3]["_id"])


def test_a_deleted_middle_seal_with_its_entries_is_caught(audit, seals, sealed_log):
    seals.collection.delete_one({"_id": 2})
    audit.collection.delete_many({"seal": 2})
    report = audit.verify()
    assert (report["valid"], report["first_bad_seal"]) == (False, 2)


def test_a_deleted_last_seal_is_caught_by_the_entries_it_covered(
    audit, seals, sealed_log
):
    seals.collection.delete_one({"_id": 3})
    report = audit.verify()
    assert (report["valid"], report["first_bad_seal"]) == (False, 3)
    assert report["first_bad_id"] == str(sealed_log[6]["_id"])


def test_a_seal_rewritten_with_the_wrong_key_is_caught(audit, seals, sealed_log):
    # A forger edits a sealed entry and recomputes everything after it -- its
    # hash, its seal and every later seal -- with a key of their own.
    forged = dict(sealed_log[4], actor="mallory")
    forged["hash"] = entry_hash(forged)
    audit.collection.replace_one({"_id": forged["_id"]}, forged)
    reseal(audit, seals, from_seal=2, key="the-forgers-guess-at-a-key")
    report = audit.verify()
    assert (report["valid"], report["first_bad_seal"]) == (False, 2)
    # The same rewrite with the real key would pass: the key is the guarantee.
    reseal(audit, seals, from_seal=2, key=KEY)
    assert audit.verify()["valid"] is True


def test_a_keyless_rewrite_passes_a_keyless_check(app, audit, seals):
    # Why production wants AUDIT_SEAL_KEY: without it anyone can reseal.
    append_n(audit, 4)
    seals.seal(LATER, batch=2)
    forged = dict(audit.collection.find_one({"seq": 1}), actor="mallory")
    forged["hash"] = entry_hash(forged)
    audit.collection.replace_one({"_id": forged["_id"]}, forged)
    assert audit.verify()["valid"] is False
    reseal(audit, seals, from_seal=1, key=None)
    assert audit.verify()["valid"] is True


def reseal(audit, seals, *, from_seal: int, key) -> None:
    """Recompute seals from ``from_seal`` on over the entries as they now are."""
    prev = GENESIS_HASH
    for seal in seals.collection.find({}, sort=[("_id", 1)]):
        if seal["_id"] >= from_seal:
            covered = audit.collection.find({"seal": seal["_id"]}, sort=[("seq", 1)])
            seal["prev"] = prev
            seal["entries"] = fold_hashes(doc["hash"] for doc in covered)
            seal["digest"] = seal_digest(seal, key)
            seals.collection.replace_one({"_id": seal["_id"]}, seal)
        prev = seal["digest"]


def test_a_cut_off_tail_shows_only_against_a_head_kept_elsewhere(
    audit, seals, sealed_log
):
    # The one rewrite the key cannot catch alone: the last seal removed and its
    # entries un-marked (or removed). The head recorded earlier shows it.
    head = audit.verify()
    seals.collection.delete_one({"_id": 3})
    audit.collection.update_many({"seal": 3}, {"$set": {"seal": None, "seq": None}})
    report = audit.verify()
    assert report["valid"] is True
    assert (report["last_seal"], head["last_seal"]) == (2, 3)
    assert report["last_digest"] != head["last_digest"]


def test_an_unsealed_entry_edited_shows_as_its_own_hash_mismatch(audit, sealed_log):
    target = sealed_log[9]  # not sealed yet
    audit.collection.update_one({"_id": target["_id"]}, {"$set": {"actor": "m"}})
    report = audit.verify()
    assert report["valid"] is False
    assert (report["first_bad_id"], report["first_bad_seal"]) == (
        str(target["_id"]),
        None,
    )
    assert (report["sealed"], report["unsealed"]) == (9, 2)


@pytest.mark.parametrize("seal_value", ["x", 0, -1, True, {"n": 1}, 99, 3.5])
def test_an_entry_naming_no_real_seal_is_caught(audit, sealed_log, seal_value):
    target = sealed_log[10]
    audit.collection.update_one({"_id": target["_id"]}, {"$set": {"seal": seal_value}})
    report = audit.verify()
    assert report["valid"] is False
    assert report["first_bad_id"] == str(target["_id"])


def test_a_pending_seal_before_the_last_is_caught(audit, seals, sealed_log):
    seals.collection.update_one(
        {"_id": 1}, {"$set": {"state": "pending"}, "$unset": {"digest": ""}}
    )
    report = audit.verify()
    assert (report["valid"], report["first_bad_seal"]) == (False, 1)


def test_a_pending_last_seal_counts_its_entries_as_unsealed(audit, seals, sealed_log):
    seals.collection.update_one({"_id": 3}, {"$set": {"state": "pending"}})
    report = audit.verify()
    assert (report["valid"], report["sealed"], report["unsealed"]) == (True, 6, 5)
    assert (report["seals"], report["last_seal"]) == (2, 2)


def test_verify_during_concurrent_sealing_never_reports_a_false_break(
    app, audit, fast_switching
):
    append_n(audit, 60)
    reports, errors = [], []
    done = threading.Event()

    def keep_verifying() -> None:
        try:
            with app.app_context():
                while not done.is_set():
                    reports.append(AuditModel().verify())
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    checker = threading.Thread(target=keep_verifying)
    checker.start()
    try:
        for _ in range(20):
            AuditSealModel().seal(LATER, batch=3)
            append_n(audit, 1)
    finally:
        done.set()
        checker.join()
    assert errors == [] and reports
    assert all(report["valid"] for report in reports), [
        r for r in reports if not r["valid"]
    ][:1]


# -- pages ---------------------------------------------------------------------


def test_list_page_is_newest_first_and_resumes_after_at_and_id(audit):
    entries = append_n(audit, 5)
    tie = audit.append("deposit", actor="carol", at=entries[2]["at"])
    order = [entries[4], entries[3], tie, entries[2], entries[1], entries[0]]
    seen, after = [], None
    while True:
        page, more = audit.list_page(limit=2, after=after)
        seen += page
        if not more:
            break
        after = (page[-1]["at"], page[-1]["_id"])
    assert [e["_id"] for e in seen] == [e["_id"] for e in order]


def test_list_page_with_exactly_limit_left_has_no_more(audit):
    append_n(audit, 2)
    page, more = audit.list_page(limit=2)
    assert len(page) == 2 and more is False


def test_list_page_filters_by_actor_action_and_time(audit):
    audit.append("login_success", actor="carol", at=T0)
    audit.append("login_failure", actor="dave", at=T0 + timedelta(minutes=1))
    audit.append("deposit", actor="carol", at=T0 + timedelta(minutes=2))
    audit.append("login_success", actor="carol", at=T0 + timedelta(minutes=3))

    def minutes(**kwargs) -> list[int]:
        docs = audit.list_page(**kwargs)[0]
        return [int((e["at"] - T0).total_seconds() // 60) for e in docs]

    assert minutes(actor="carol") == [3, 2, 0]
    assert minutes(action="login_success") == [3, 0]
    newest = audit.list_page(limit=1, actor="carol")[0][0]
    after = (newest["at"], newest["_id"])
    assert minutes(actor="carol", action="login_success", after=after) == [0]
    assert minutes(start=T0 + timedelta(minutes=1)) == [3, 2, 1]
    assert minutes(end=T0 + timedelta(minutes=2)) == [1, 0]
    window = {"start": T0 + timedelta(minutes=1), "end": T0 + timedelta(minutes=3)}
    assert minutes(**window) == [2, 1]
    assert minutes(actor="nobody") == []
    assert minutes(after=(T0, ObjectId("0" * 24))) == []


def test_sealing_does_not_change_what_a_page_shows_or_its_order(audit, seals):
    append_n(audit, 4)
    before = [e["_id"] for e in audit.list_page(limit=10)[0]]
    seals.seal(LATER)
    after = audit.list_page(limit=10)[0]
    assert [e["_id"] for e in after] == before
    assert [e["seq"] for e in after] == [4, 3, 2, 1]


def test_indexes_serve_the_filters_the_sealer_and_the_verifier(audit):
    info = audit.collection.index_information()
    keys = {tuple(spec["key"]) for spec in info.values()}
    newest = (("at", -1), ("_id", -1))
    assert (("actor", 1), *newest) in keys
    assert (("action", 1), *newest) in keys
    assert newest in keys
    assert (("seal", 1), ("at", 1), ("_id", 1)) in keys
    assert (("seal", 1), ("seq", 1)) in keys


def test_model_has_no_way_to_change_or_remove_entries():
    public = {name for name in dir(AuditModel) if not name.startswith("_")}
    assert public == {
        "actions_between",  # reads only (the notifications' sweep)
        "append",
        "append_once",  # inserts only: an _id already there is left alone
        "build",  # writes nothing
        "collection",
        "ensure_indexes",
        "find",
        "list_page",
        "movements_among",
        "verify",
    }
    # The sealer writes only an entry's position, and only from null.
    public = {name for name in dir(AuditSealModel) if not name.startswith("_")}
    assert public == {"collection", "last", "seal", "verify"}


@pytest.mark.parametrize("key", [None, KEY])
def test_production_without_a_seal_key_warns_but_starts(caplog, key):
    class Production(TestConfig):
        APP_ENV = "production"
        JWT_SECRET_KEY = "k" * 40
        MONGO_URI = "mongodb://db.example/"
        AUDIT_SEAL_KEY = key

    app = create_app(Production, mongo_client=memory_client())
    assert app.config["AUDIT_SEAL_KEY"] == key
    assert ("AUDIT_SEAL_KEY is not set" in caplog.text) is (key is None)
