"""Database backend selection (real MongoDB or in-memory mongomock-ng) and get_db().

Everything that knows the in-memory backend is here: models, the core and the
tests get a database through :func:`get_db` (or a client from
:func:`memory_client`) and never name the library. The adapter below reads a
few of mongomock-ng's private internals to spare it work; each of those fast
paths is checked once against the public API (:func:`_fast_paths`) and turned
off, leaving the slower public behaviour, if this mongomock-ng differs.
"""

import functools
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock_ng
import pymongo
from bson import ObjectId
from flask import Flask, current_app
from mongomock_ng.filtering import filter_applies
from mongomock_ng.helpers import make_datetime_timezone_aware_in_document
from pymongo.database import Database

from app.config import StartupError

log = logging.getLogger("app.db")

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


def memory_client() -> Any:
    """Return a new, empty in-memory client (what ``mongomock://`` builds)."""
    return mongomock_ng.MongoClient(tz_aware=True)


@dataclass(frozen=True)
class _FastPaths:
    """Which of the adapter's shortcuts through mongomock internals are usable."""

    id_lookup: bool  # the collection's ``_store`` and ``_iter_documents``
    cursor_read: bool  # the cursor's ``_factory``, ``_skip`` and ``_limit``


@functools.cache
def _fast_paths() -> _FastPaths:
    """Check, once, that the internals the shortcuts read behave as assumed.

    Each shortcut is run on a scratch collection and compared with the public
    API's answer; one that fails or disagrees is switched off (with a warning),
    so a mongomock-ng whose internals changed is slower, never wrong.
    """
    collection = mongomock_ng.MongoClient(tz_aware=True)["probe"]["probe"]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    docs = [{"_id": ObjectId(), "n": n, "at": at} for n in range(6)]
    collection.insert_many(docs)
    wanted = docs[2]["_id"]
    try:
        store = collection._store
        found = list(collection._iter_documents({"_id": wanted}))
        id_lookup = (
            wanted in store
            and ObjectId() not in store
            and store[wanted]["n"] == 2
            and [d["_id"] for d in found] == [wanted]
        )
    except Exception:  # noqa: BLE001 - any surprise means: do not use it
        id_lookup = False
    try:
        query = {"filter": {"n": {"$gte": 1}}, "sort": [("n", -1)], "skip": 1}
        cursor_read = all(
            _fast_read(collection.find(**query, limit=limit))
            == list(collection.find(**query, limit=limit))
            for limit in (0, 2)
        )
    except Exception:  # noqa: BLE001 - any surprise means: do not use it
        cursor_read = False
    paths = _FastPaths(id_lookup=id_lookup, cursor_read=cursor_read)
    if not (id_lookup and cursor_read):
        log.warning("mongomock-ng internals differ; fast paths off: %s", paths)
    return paths


class _LockedCollection:
    """A mongomock collection whose every call runs under MEMORY_LOCK.

    Cursors are read to the end inside the lock, so callers get a list; models
    pass ``sort``/``limit`` as keyword arguments, which both backends accept.
    """

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self._ttl: list[tuple[str, int]] = []
        self._next_purge = 0.0
        if _fast_paths().id_lookup:
            _add_id_fast_path(collection)

    def create_index(self, keys: Any, **kwargs: Any) -> str:
        """Create an index; a TTL index is emulated rather than left to mongomock.

        mongomock honours ``expireAfterSeconds`` by scanning the whole collection
        on every access; this adapter instead purges expired documents at most
        every TTL_PURGE_SECONDS, as the real server's TTL monitor does. Other
        options (``unique``, ``partialFilterExpression``) go to mongomock, which
        records them; it never uses an index to answer a query.
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
                if isinstance(result, mongomock_ng.collection.Cursor):
                    return _read_cursor(result)
                return result

        # Cached on the instance: later look-ups skip __getattr__ entirely.
        setattr(self, name, locked)
        return locked


def _read_cursor(cursor: Any) -> list:
    """Read a mongomock cursor to a list, in one pass where that is known to work.

    mongomock's cursor deep-copies every matching document before applying the
    limit, and then re-slices its whole result list for each document it hands
    out, so reading it costs O(matches^2). :func:`_fast_read` cuts the (lazy)
    result generator at skip + limit first. The same documents come out, in the
    same order.
    """
    if _fast_paths().cursor_read:
        documents = _fast_read(cursor)
        if documents is not None:
            return documents
    return list(cursor)


def _fast_read(cursor: Any) -> list | None:
    """Read ``cursor`` through its private factory; None if it has none."""
    factory = getattr(cursor, "_factory", None)
    skip = getattr(cursor, "_skip", None)
    limit = getattr(cursor, "_limit", 0)
    usable_limit = limit is None or type(limit) is int
    if not callable(factory) or type(skip) is not int or not usable_limit:
        return None
    stop = None if not limit else skip + abs(limit)
    documents = list(itertools.islice(factory(), skip, stop))
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

    def iter_documents(filter: Any, *args: Any, **kwargs: Any) -> Any:
        wanted = filter.get("_id") if isinstance(filter, dict) else None
        if args or kwargs or type(wanted) not in (ObjectId, str):
            return scan(filter, *args, **kwargs)
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
    """Build the client MONGO_URI asks for: in memory, else pymongo."""
    if is_memory_uri(uri):
        return memory_client()
    return pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=timeout_ms)


class DatabaseUnreachable(StartupError):
    """The MongoDB server named by MONGO_URI does not answer; start-up stops."""


def mongo_hosts(uri: str) -> str:
    """Return the host list of a MongoDB URI, without credentials or options."""
    hosts = uri.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    return hosts.rsplit("@", 1)[-1] or "localhost"


def ping_database(app: Flask) -> None:
    """Check that the app's MongoDB server answers within MONGO_TIMEOUT_MS.

    :raises DatabaseUnreachable: no server answered in time, or it refused us.
    """
    if app.config["IN_MEMORY_DB"]:
        return
    client = app.extensions["mongo_client"]
    where = mongo_hosts(app.config["MONGO_URI"])
    try:
        client.admin.command("ping")
    except pymongo.errors.ConnectionFailure:
        message = (
            f"cannot reach MongoDB at {where} within "
            f"{app.config['MONGO_TIMEOUT_MS']} ms (MONGO_URI)"
        )
    except pymongo.errors.OperationFailure as exc:
        reason = (exc.details or {}).get("errmsg") or f"code {exc.code}"
        message = f"MongoDB at {where} refused the connection: {reason} (MONGO_URI)"
    else:
        return
    client.close()
    raise DatabaseUnreachable(message)


def init_db(app: Flask, client: Any = None) -> None:
    """Attach the database to the app; a test may pass its own client."""
    if client is None:
        uri = app.config["MONGO_URI"]
        try:
            client = make_client(uri, app.config["MONGO_TIMEOUT_MS"])
        except pymongo.errors.ConfigurationError as exc:
            # mongodb+srv:// looks its hosts up in DNS here, when building the client.
            raise DatabaseUnreachable(
                f"cannot use MongoDB at {mongo_hosts(uri)}: {exc} (MONGO_URI)"
            ) from None
    database = client[app.config["MONGO_DB_NAME"]]
    if isinstance(client, mongomock_ng.MongoClient):
        database = _LockedDatabase(database)
        app.config["IN_MEMORY_DB"] = True
    else:
        app.config["IN_MEMORY_DB"] = False
    app.extensions["mongo_client"] = client
    app.extensions["mongo_db"] = database


def get_db() -> Database:
    """Return the current app's database handle."""
    return current_app.extensions["mongo_db"]
