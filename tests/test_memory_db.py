"""The in-memory adapter (app/db.py): its shortcuts through mongomock-ng's
internals are checked once, and it stays correct when those internals differ."""

import ast
import logging
from pathlib import Path

import mongomock_ng
import pytest
from bson import ObjectId

from app import db as db_module
from app.db import _FastPaths, _LockedCollection, memory_client
from tests.conftest import register
from tests.helpers import make_app

ROOT = Path(__file__).resolve().parent.parent
OFF = _FastPaths(id_lookup=False, cursor_read=False, aggregate=False)


def scratch(docs: int = 12):
    """A raw mongomock-ng collection with ``docs`` numbered documents."""
    raw = memory_client()["scratch"]["items"]
    raw.insert_many([{"_id": ObjectId(), "n": n, "g": n % 3} for n in range(docs)])
    return raw


def test_only_app_db_imports_the_in_memory_backend():
    """Models, the core and the edge know a database, not which library."""
    importers = []
    for path in sorted([*(ROOT / "app").rglob("*.py"), *(ROOT / "tests").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(name.split(".")[0].startswith("mongomock") for name in names):
                importers.append(path.relative_to(ROOT).as_posix())
    # This module patches the library to prove the adapter survives changes.
    assert sorted(set(importers)) == ["app/db.py", "tests/test_memory_db.py"]


def test_the_pinned_backend_gets_both_shortcuts():
    """A silent fall-back would cost a scan per id look-up: catch it here."""
    assert db_module._fast_paths() == _FastPaths(
        id_lookup=True, cursor_read=True, aggregate=True
    )


def test_probe_turns_the_id_shortcut_off_when_the_store_changed(monkeypatch, caplog):
    # A store that is no longer keyed by the document's _id.
    monkeypatch.setattr(
        mongomock_ng.store.CollectionStore, "__contains__", lambda self, key: False
    )
    with caplog.at_level(logging.WARNING, logger="app.db"):
        paths = db_module._fast_paths.__wrapped__()
    assert paths.id_lookup is False
    assert "internals differ" in caplog.text


def test_probe_turns_the_id_shortcut_off_when_the_scan_changed(monkeypatch):
    def scan(self, filter, session):  # a new required argument
        raise AssertionError("never reached")

    monkeypatch.setattr(mongomock_ng.collection.Collection, "_iter_documents", scan)
    assert db_module._fast_paths.__wrapped__().id_lookup is False


def test_probe_turns_the_cursor_shortcut_off_when_it_disagrees(monkeypatch):
    read = db_module._fast_read
    # As if the factory had started applying the skip itself.
    monkeypatch.setattr(db_module, "_fast_read", lambda cursor: read(cursor)[1:])
    assert db_module._fast_paths.__wrapped__().cursor_read is False


def test_probe_turns_the_aggregation_shortcut_off_when_it_disagrees(monkeypatch):
    evaluate = db_module._aggregate
    # As if the evaluator had started dropping a group.
    monkeypatch.setattr(
        db_module, "_aggregate", lambda docs, pipeline: evaluate(docs, pipeline)[1:]
    )
    assert db_module._fast_paths.__wrapped__().aggregate is False


def test_probe_turns_the_aggregation_shortcut_off_when_the_store_changed(monkeypatch):
    def documents_of(collection):
        raise AttributeError("'CollectionStore' object has no attribute '_documents'")

    monkeypatch.setattr(db_module, "_documents_of", documents_of)
    assert db_module._fast_paths.__wrapped__().aggregate is False


def test_without_the_shortcut_aggregations_go_to_mongomock(monkeypatch):
    monkeypatch.setattr(db_module, "_fast_paths", lambda: OFF)
    monkeypatch.setattr(db_module, "_aggregate", None)  # never called
    collection = _LockedCollection(scratch())
    pipeline = [{"$match": {"g": 1}}, {"$group": {"_id": "$g", "n": {"$sum": 1}}}]
    assert collection.aggregate(pipeline) == [{"_id": 1, "n": 4}]


def test_a_cursor_without_the_expected_internals_is_read_the_public_way():
    class OtherCursor:
        def __init__(self, docs):
            self._docs = docs

        def __iter__(self):
            return iter(self._docs)

    docs = [{"_id": 1}, {"_id": 2}]
    assert db_module._fast_read(OtherCursor(docs)) is None
    assert db_module._read_cursor(OtherCursor(docs)) == docs


def test_without_shortcuts_the_adapter_answers_as_mongomock_does(monkeypatch):
    monkeypatch.setattr(db_module, "_fast_paths", lambda: OFF)
    raw = scratch()
    collection = _LockedCollection(raw)
    assert not getattr(raw._iter_documents, "_id_fast_path", False)
    wanted = raw.find_one({"n": 4})["_id"]
    assert collection.find_one({"_id": wanted})["n"] == 4
    assert collection.find_one({"_id": wanted, "g": 0}) is None
    query = {"filter": {"g": 1}, "sort": [("n", -1)], "skip": 1, "limit": 2}
    assert collection.find(**query) == list(raw.find(**query))
    assert [d["n"] for d in collection.find(**query)] == [7, 4]


def test_the_bank_works_without_shortcuts(monkeypatch):
    monkeypatch.setattr(db_module, "_fast_paths", lambda: OFF)
    app = make_app()
    client = app.test_client()
    alice, bob = register(client, "alice"), register(client, "bobby")
    deposit = client.post("/deposit", headers=alice["headers"], json={"amount": "30"})
    assert deposit.status_code == 201
    moved = client.post(
        "/transfers",
        headers=alice["headers"],
        json={"to_account_number": bob["account"]["account_number"], "amount": "12"},
    )
    assert moved.status_code == 201, moved.get_json()
    assert client.get("/balance", headers=alice["headers"]).get_json()["balance"] == (
        "18.00"
    )
    items = client.get("/transactions", headers=bob["headers"]).get_json()["items"]
    assert [item["type"] for item in items] == ["transfer_in"]
    accounts = app.extensions["mongo_db"]["accounts"]._collection
    assert not getattr(accounts._iter_documents, "_id_fast_path", False)


@pytest.mark.parametrize("unique", [False, True])
def test_partial_indexes_are_accepted_in_memory(db, unique):
    """Real-server options pass through; the index is recorded, not used."""
    partial = {"holds": {"$type": "objectId"}}
    db["scratch"].create_index(
        [("holds", 1)], name="held", unique=unique, partialFilterExpression=partial
    )
    info = db["scratch"].index_information()["held"]
    assert info["partialFilterExpression"] == partial
    db["scratch"].insert_many([{"holds": []}, {"holds": []}])
    assert db["scratch"].count_documents({"holds": {"$type": "objectId"}}) == 0
