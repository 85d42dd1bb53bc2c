"""Audit log model: the hash chain, its verification and serialised appends."""

import hashlib
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from app.models import audit as audit_module
from app.models.audit import (
    APPEND_ATTEMPTS,
    BACKOFF_CAP,
    GENESIS_HASH,
    Appender,
    AuditModel,
    canonical_bytes,
    entry_hash,
    entry_id,
)

T0 = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


@pytest.fixture
def audit(app):
    """An AuditModel with its indexes, inside an app context."""
    with app.app_context():
        model = AuditModel()
        model.ensure_indexes()
        yield model


def append_n(audit, count: int, **kwargs) -> list[dict]:
    return [
        audit.append("deposit", actor="carol", details={"n": i}, **kwargs)
        for i in range(count)
    ]


def in_order(audit) -> list[dict]:
    return list(audit.collection.find({}, sort=[("seq", 1)]))


def count_inserts(audit, monkeypatch) -> list[int]:
    """Record the seq of every insert the model tries, landed or refused."""
    tried = []
    insert_one = audit.collection.insert_one

    def counting(doc):
        tried.append(doc["seq"])
        return insert_one(doc)

    monkeypatch.setattr(audit.collection, "insert_one", counting)
    return tried


def test_entries_link_to_the_hash_before_them(audit):
    entries = append_n(audit, 5)
    stored = in_order(audit)
    assert [e["seq"] for e in stored] == [1, 2, 3, 4, 5]
    assert [e["_id"] for e in stored] == [entry_id(seq) for seq in range(1, 6)]
    assert stored[0]["prev_hash"] == GENESIS_HASH
    for before, after in zip(stored, stored[1:], strict=False):
        assert after["prev_hash"] == before["hash"]
    for entry, doc in zip(entries, stored, strict=True):
        assert doc == entry
        assert doc["hash"] == entry_hash(doc)


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
        "seq",
        "at",
        "actor",
        "action",
        "target",
        "ip",
        "request_id",
        "details",
        "prev_hash",
        "hash",
    }
    # Microseconds are cut to BSON's milliseconds before hashing.
    assert entry["at"] == T0
    assert entry["target"] == "0123456789abcdef01234567"
    assert audit.find(entry["_id"]) == entry


def test_identical_events_are_two_entries(audit):
    first = audit.append("login_failure", actor="carol", at=T0)
    second = audit.append("login_failure", actor="carol", at=T0)
    assert (first["seq"], second["seq"]) == (1, 2)
    assert audit.collection.count_documents({}) == 2


def test_entry_ids_follow_seq_and_sort_like_it():
    assert str(entry_id(1)) == "000000000000000000000001"
    assert str(entry_id(256)) == "000000000000000000000100"
    ids = [entry_id(seq) for seq in (1, 2, 255, 256, 70000, 2**40)]
    assert ids == sorted(ids)


def test_hash_is_sha256_of_the_documented_canonical_form():
    entry = {
        "_id": ObjectId("0123456789abcdef01234567"),
        "seq": 1,
        "at": T0,
        "actor": "zoë",
        "action": "login_success",
        "target": None,
        "ip": None,
        "request_id": None,
        "details": {"b": [1, True, None], "a": "x"},
        "prev_hash": GENESIS_HASH,
        "hash": "ignored",
    }
    expected = (
        '{"_id":"0123456789abcdef01234567","action":"login_success",'
        '"actor":"zo\\u00eb","at":"2024-05-06T07:08:09.123000Z",'
        '"details":{"a":"x","b":[1,true,null]},"ip":null,'
        f'"prev_hash":"{GENESIS_HASH}","request_id":null,"seq":1,"target":null}}'
    ).encode("ascii")
    assert canonical_bytes(entry) == expected
    assert entry_hash(entry) == hashlib.sha256(expected).hexdigest()


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


def test_verify_accepts_an_intact_log(audit):
    append_n(audit, 7)
    assert audit.verify() == {"valid": True, "entries": 7, "first_bad_id": None}


def test_verify_accepts_an_empty_log(audit):
    assert audit.verify() == {"valid": True, "entries": 0, "first_bad_id": None}


@pytest.mark.parametrize(
    "change",
    [
        {"$set": {"actor": "mallory"}},
        {"$set": {"details.n": 99}},
        {"$set": {"at": T0}},
        {"$set": {"seq": 30}},
        {"$set": {"hash": "0" * 64}},
        {"$set": {"extra": 1}},
        {"$unset": {"ip": ""}},
        {"$unset": {"seq": ""}},
        {"$unset": {"hash": ""}},
        {"$set": {"details": {"n": 3.0}}},
    ],
)
def test_verify_names_a_tampered_entry(audit, change):
    entries = append_n(audit, 6)
    audit.collection.update_one({"_id": entries[3]["_id"]}, change)
    assert audit.verify() == {
        "valid": False,
        "entries": 6,
        "first_bad_id": str(entries[3]["_id"]),
    }


def test_verify_reports_a_deleted_middle_entry_at_the_entry_after_it(audit):
    entries = append_n(audit, 6)
    audit.collection.delete_one({"_id": entries[2]["_id"]})
    assert audit.verify() == {
        "valid": False,
        "entries": 5,
        "first_bad_id": str(entries[3]["_id"]),
    }


def test_verify_reports_a_deleted_first_entry(audit):
    entries = append_n(audit, 3)
    audit.collection.delete_one({"_id": entries[0]["_id"]})
    assert audit.verify()["first_bad_id"] == str(entries[1]["_id"])


def test_edit_with_recomputed_hash_breaks_the_next_link(audit):
    entries = append_n(audit, 6)
    forged = dict(in_order(audit)[2], actor="mallory")
    forged["hash"] = entry_hash(forged)
    audit.collection.replace_one({"_id": forged["_id"]}, forged)
    assert audit.verify() == {
        "valid": False,
        "entries": 6,
        "first_bad_id": str(entries[3]["_id"]),
    }


def test_deletion_with_rechained_successors_is_caught_by_the_seq_gap(audit):
    entries = append_n(audit, 5)
    audit.collection.delete_one({"_id": entries[2]["_id"]})
    # A forger relinks every later entry to hide the removal, but cannot renumber
    # them without rewriting every hash after them too.
    prev_hash = entries[1]["hash"]
    for doc in in_order(audit)[2:]:
        doc["prev_hash"] = prev_hash
        doc["hash"] = prev_hash = entry_hash(doc)
        audit.collection.replace_one({"_id": doc["_id"]}, doc)
    assert audit.verify() == {
        "valid": False,
        "entries": 4,
        "first_bad_id": str(entries[3]["_id"]),
    }


def test_a_renumbered_last_entry_with_a_recomputed_hash_is_reported(audit):
    entries = append_n(audit, 3)
    forged = dict(entries[2], seq=4)
    forged["hash"] = entry_hash(forged)
    audit.collection.replace_one({"_id": forged["_id"]}, forged)
    assert audit.verify()["first_bad_id"] == str(entries[2]["_id"])


def test_an_entry_under_a_foreign_id_is_reported(audit):
    entries = append_n(audit, 2)
    # Well formed and well chained, but not at the _id its seq owns.
    extra = dict(entries[1], _id=ObjectId(), seq=3, prev_hash=entries[1]["hash"])
    extra["hash"] = entry_hash(extra)
    audit.collection.insert_one(extra)
    assert audit.verify()["first_bad_id"] == str(extra["_id"])


def test_a_second_entry_for_a_seq_is_refused_by_the_database(audit):
    first = audit.append("a", actor="x")
    rival = dict(first, actor="mallory")
    rival["hash"] = entry_hash(rival)
    with pytest.raises(DuplicateKeyError):
        audit.collection.insert_one(rival)


def test_a_stale_tail_read_retries_and_chains_onto_the_real_tail(audit, monkeypatch):
    first = audit.append("login_success", actor="carol")
    real_tail = audit._tail
    reads = []

    def stale_once(collection):
        # The first read sees the log as a racing appender did: still empty.
        reads.append(1)
        return (0, GENESIS_HASH) if len(reads) == 1 else real_tail(collection)

    monkeypatch.setattr(audit, "_tail", stale_once)
    monkeypatch.setattr(audit_module.time, "sleep", lambda seconds: None)
    tried = count_inserts(audit, monkeypatch)
    second = audit.append("deposit", actor="carol")
    # The first try at seq 1 hit the unique key; the retry built on entry 1.
    assert tried == [1, 2]
    assert second["seq"] == 2 and second["prev_hash"] == first["hash"]
    assert audit.collection.count_documents({}) == 2
    assert audit.verify()["valid"] is True


def test_appenders_in_two_processes_take_turns_without_forking(app, monkeypatch):
    with app.app_context():
        one, two = AuditModel(), AuditModel()
        one._appender, two._appender = Appender(), Appender()
        one.ensure_indexes()
        monkeypatch.setattr(audit_module.time, "sleep", lambda seconds: None)
        tried = count_inserts(one, monkeypatch)  # one collection: both record
        for i in range(3):
            one.append("a", actor="one", details={"i": i})
            two.append("b", actor="two", details={"i": i})
        # After the first two, each append first tried the seq after the tail its
        # process remembered, which the other process had taken meanwhile.
        assert tried == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]
        assert [e["actor"] for e in in_order(one)] == ["one", "two"] * 3
        assert one.verify() == {"valid": True, "entries": 6, "first_bad_id": None}


def test_append_gives_up_after_bounded_attempts_and_writes_nothing(audit, monkeypatch):
    audit.append("a", actor="x")
    slept = []
    monkeypatch.setattr(audit_module.time, "sleep", slept.append)
    monkeypatch.setattr(audit, "_tail", lambda collection: (0, GENESIS_HASH))
    tried = count_inserts(audit, monkeypatch)
    with pytest.raises(RuntimeError):
        audit.append("b", actor="x")
    assert tried == [1] * APPEND_ATTEMPTS
    assert len(slept) == APPEND_ATTEMPTS
    assert all(0 <= seconds <= BACKOFF_CAP for seconds in slept)
    assert audit.collection.count_documents({}) == 1
    assert audit.verify() == {"valid": True, "entries": 1, "first_bad_id": None}


def test_a_wiped_log_is_not_extended_from_the_remembered_tail(audit):
    append_n(audit, 3)
    audit.collection.delete_many({})
    entry = audit.append("a", actor="x")
    assert entry["seq"] == 1 and entry["prev_hash"] == GENESIS_HASH
    assert audit.verify() == {"valid": True, "entries": 1, "first_bad_id": None}


def test_append_does_not_scan_the_log(audit, monkeypatch):
    append_n(audit, 50)
    # mongomock evaluates a filter against every document unless app.db's fast
    # path answers it by _id: an append must only ever need the latter.
    raw = audit.collection._collection
    filters = []
    iter_documents = raw._iter_documents

    def recording(filter):
        filters.append(filter)
        return iter_documents(filter)

    monkeypatch.setattr(raw, "_iter_documents", recording)
    audit.append("deposit", actor="carol")
    assert filters and all(set(f) == {"_id"} for f in filters)


@pytest.mark.parametrize("separate_processes", [False, True])
def test_concurrent_appends_never_fork_the_chain(
    app, audit, separate_processes, monkeypatch
):
    threads_count, per_thread = 16, 25
    tried = count_inserts(audit, monkeypatch)
    errors = []
    start = threading.Barrier(threads_count)

    def worker(number: int) -> None:
        try:
            with app.app_context():
                model = AuditModel()
                if separate_processes:
                    # Own lock and own remembered tail: only the unique key and
                    # the retry loop stand between these appenders.
                    model._appender = Appender()
                start.wait()
                for i in range(per_thread):
                    model.append("deposit", actor=f"t{number}", details={"i": i})
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [
            threading.Thread(target=worker, args=(n,)) for n in range(threads_count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    total = threads_count * per_thread
    if not separate_processes:
        # Threads of one process queue on its lock: none ever loses a race.
        assert len(tried) == total
    assert [doc["seq"] for doc in in_order(audit)] == list(range(1, total + 1))
    assert audit.verify() == {"valid": True, "entries": total, "first_bad_id": None}
    for number in range(threads_count):
        mine = audit.collection.count_documents({"actor": f"t{number}"})
        assert mine == per_thread


def test_list_page_is_newest_first_and_resumes_after_seq(audit):
    append_n(audit, 5)
    page, more = audit.list_page(limit=2)
    assert [e["seq"] for e in page] == [5, 4] and more is True
    page, more = audit.list_page(limit=2, after_seq=page[-1]["seq"])
    assert [e["seq"] for e in page] == [3, 2] and more is True
    page, more = audit.list_page(limit=2, after_seq=page[-1]["seq"])
    assert [e["seq"] for e in page] == [1] and more is False


def test_list_page_with_exactly_limit_left_has_no_more(audit):
    append_n(audit, 2)
    page, more = audit.list_page(limit=2)
    assert len(page) == 2 and more is False


def test_list_page_filters_by_actor_action_and_time(audit):
    audit.append("login_success", actor="carol", at=T0)
    audit.append("login_failure", actor="dave", at=T0 + timedelta(minutes=1))
    audit.append("deposit", actor="carol", at=T0 + timedelta(minutes=2))
    audit.append("login_success", actor="carol", at=T0 + timedelta(minutes=3))

    def seqs(**kwargs) -> list[int]:
        return [e["seq"] for e in audit.list_page(**kwargs)[0]]

    assert seqs(actor="carol") == [4, 3, 1]
    assert seqs(action="login_success") == [4, 1]
    assert seqs(actor="carol", action="login_success", after_seq=4) == [1]
    assert seqs(start=T0 + timedelta(minutes=1)) == [4, 3, 2]
    assert seqs(end=T0 + timedelta(minutes=2)) == [2, 1]
    window = {"start": T0 + timedelta(minutes=1), "end": T0 + timedelta(minutes=3)}
    assert seqs(**window) == [3, 2]
    assert seqs(actor="nobody") == []
    assert seqs(after_seq=0) == []


def test_indexes_serve_the_filters(audit):
    info = audit.collection.index_information()
    keys = {tuple(spec["key"]) for spec in info.values()}
    assert (("actor", 1), ("_id", -1)) in keys
    assert (("action", 1), ("_id", -1)) in keys
    assert (("at", -1), ("_id", -1)) in keys


def test_model_has_no_way_to_change_or_remove_entries():
    public = {name for name in dir(AuditModel) if not name.startswith("_")}
    assert public == {
        "append",
        "collection",
        "ensure_indexes",
        "find",
        "has_movement",
        "list_page",
        "movements_since",
        "verify",
    }
