"""Database backend selection (real MongoDB or in-memory mongomock) and get_db()."""

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pymongo
from bson import ObjectId
from flask import Flask, current_app
from mongomock.filtering import filter_applies
from mongomock.helpers import make_datetime_timezone_aware_in_document
from pymongo.database import Database

# mongomock is not thread-safe: its guarded find_one_and_update can overdraw when
# two threads interleave. Every in-memory operation therefore runs under this one
# process-wide lock, which gives the same single-document atomicity a real server
# gives. Re-entrant so a method that calls another collection method cannot
# deadlock.
MEMORY_LOCK = threading.RLock()
# How often the in-memory backend deletes documents past a TTL index's expiry,
# like the real server's TTL monitor (which runs every 60 seconds).
TTL_PURGE_SECONDS = 60.0


def is_memory_uri(uri: str | None) -> bool:
    """Tell whether a MONGO_URI selects the in-memory backend."""
    return not uri or uri.startswith("mongomock://")


class _LockedCollection:
    """A mongomock collection whose every call runs under MEMORY_LOCK.

    Cursors are read to the end inside the lock, so callers get a list; models
    pass ``sort``/``limit`` as keyword arguments, which both backends accept.
    """

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self._ttl: list[tuple[str, int]] = []
        self._next_purge = 0.0
        _add_id_fast_path(collection)

    def create_index(self, keys: Any, **kwargs: Any) -> str:
        """Create an index; a TTL index is emulated rather than left to mongomock.

        mongomock honours ``expireAfterSeconds`` by scanning the whole collection
        on every access; this adapter instead purges expired documents at most
        every TTL_PURGE_SECONDS, as the real server's TTL monitor does.
        """
        seconds = kwargs.pop("expireAfterSeconds", None)
        with MEMORY_LOCK:
            name = self._collection.create_index(keys, **kwargs)
        if seconds is not None:
            field = keys if isinstance(keys, str) else keys[0][0]
            self._ttl.append((field, int(seconds)))
        return name

    def _purge_expired(self) -> None:
        clock = time.monotonic()
        if clock < self._next_purge:
            return
        self._next_purge = clock + TTL_PURGE_SECONDS
        now = datetime.now(UTC)
        for field, seconds in self._ttl:
            cutoff = now - timedelta(seconds=seconds)
            self._collection.delete_many({field: {"$lte": cutoff}})

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            with MEMORY_LOCK:
                if self._ttl:
                    self._purge_expired()
                result = attr(*args, **kwargs)
                if isinstance(result, mongomock.collection.Cursor):
                    return _read_cursor(result)
                return result

        # Cached on the instance: later look-ups skip __getattr__ entirely.
        setattr(self, name, locked)
        return locked


def _read_cursor(cursor: Any) -> list:
    """Read a mongomock cursor in one pass, copying only the documents returned.

    mongomock's cursor deep-copies every matching document before applying the
    limit, and then re-slices its whole result list for each document it hands
    out, so reading it costs O(matches^2). Here the (lazy) result generator is
    cut at skip + limit first. The same documents come out, in the same order.
    """
    factory = getattr(cursor, "_factory", None)
    if factory is None:  # a mongomock whose internals differ: the slow way
        return list(cursor)
    limit = cursor._limit
    stop = None if not limit else cursor._skip + abs(limit)
    documents = list(itertools.islice(factory(), cursor._skip, stop))
    if cursor.collection.codec_options.tz_aware:
        documents = [make_datetime_timezone_aware_in_document(d) for d in documents]
    return documents


def _add_id_fast_path(collection: Any) -> None:
    """Answer ``{"_id": <ObjectId or str>, ...}`` filters from the id-keyed store.

    mongomock evaluates every filter against every document, so posting a journal
    entry by its id would cost the size of the whole journal. Its store is keyed
    by ``_id``, so a filter naming one id only needs that document; the full
    filter is still applied to it, so results are the same as the scan's.
    """
    scan = getattr(collection, "_iter_documents", None)
    store = getattr(collection, "_store", None)
    if scan is None or store is None or getattr(scan, "_id_fast_path", False):
        return

    def iter_documents(filter: Any) -> Any:
        wanted = filter.get("_id") if isinstance(filter, dict) else None
        if type(wanted) not in (ObjectId, str):
            return scan(filter)
        document = store[wanted] if wanted in store else None
        if document is not None and filter_applies(filter, document):
            return iter([document])
        return iter([])

    iter_documents._id_fast_path = True
    collection._iter_documents = iter_documents


class _LockedDatabase:
    """A mongomock database handing out locked collections."""

    def __init__(self, database: Any) -> None:
        self._database = database
        self._collections: dict[str, _LockedCollection] = {}

    def __getitem__(self, name: str) -> _LockedCollection:
        collection = self._collections.get(name)
        if collection is None:
            with MEMORY_LOCK:
                collection = self._collections.setdefault(
                    name, _LockedCollection(self._database[name])
                )
        return collection

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self._database, name)
        if not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            with MEMORY_LOCK:
                return attr(*args, **kwargs)

        return locked


def make_client(uri: str | None, timeout_ms: int = 5000) -> Any:
    """Build the client MONGO_URI asks for: mongomock in memory, else pymongo."""
    if is_memory_uri(uri):
        return mongomock.MongoClient(tz_aware=True)
    return pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=timeout_ms)


def init_db(app: Flask, client: Any = None) -> None:
    """Attach the database to the app; a test may pass its own client."""
    if client is None:
        client = make_client(app.config["MONGO_URI"], app.config["MONGO_TIMEOUT_MS"])
    database = client[app.config["MONGO_DB_NAME"]]
    if isinstance(client, mongomock.MongoClient):
        database = _LockedDatabase(database)
        app.config["IN_MEMORY_DB"] = True
    else:
        app.config["IN_MEMORY_DB"] = False
    app.extensions["mongo_client"] = client
    app.extensions["mongo_db"] = database


def get_db() -> Database:
    """Return the current app's database handle."""
    return current_app.extensions["mongo_db"]
