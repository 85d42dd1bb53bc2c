"""AuditModel: the audit_log collection, an append-only hash chain.

This is the only code that writes the audit log, and it never updates or deletes
an entry. Each entry is one document::

    {_id, seq, at, actor, action, target, ip, request_id, details, prev_hash, hash}

``seq`` counts from 1 with no gaps, ``_id`` is ``entry_id(seq)`` (the sequence
number as the 12 bytes of an ObjectId), ``prev_hash`` is the ``hash`` of the
entry with ``seq - 1`` (64 zeros for the first), and ``hash`` is the SHA-256 hex
digest of :func:`canonical_bytes` of every other field of the entry.

Canonical serialisation (what ``hash`` covers; an independent verifier needs only
this paragraph): the document without its ``hash`` key, as compact JSON --
``json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
allow_nan=False)`` -- then ASCII bytes. Keys are sorted at every level, there is
no whitespace, and every non-ASCII character is a ``\\uXXXX`` escape (so the
bytes do not depend on a Unicode normalisation or encoding choice). ``_id`` is
written as its 24-character hex string; ``at`` as ISO 8601 in UTC with six
fractional digits and a ``Z``, e.g. ``"2024-05-06T07:08:09.123000Z"`` (it is
stored at BSON's millisecond precision, so the last three digits are 0);
``actor``, ``action``, ``target``, ``ip`` and ``request_id`` are strings or
null; ``details`` is null or an object whose values are null, booleans, 64-bit
integers, strings, lists and objects of these. Floats are refused: money is
integer cents, and the text of a float differs between JSON serialisers, which
would stop another implementation from reproducing a hash.

Serialising appends. Two appenders must never both build on the same tail, or
the chain would fork. A unique key on ``seq`` settles it, on both backends and
with no transaction: an appender reads the last entry, builds ``seq + 1`` on that
entry's hash and inserts it; if another appender got that ``seq`` first the
insert fails with DuplicateKeyError, and the loser reads the new tail and tries
again (a bounded number of times with random backoff, then RuntimeError).
Because at most one document can ever hold a given ``seq`` and entries are never
changed, whoever read entry ``k`` read *the* entry ``k``, so the one entry that
lands at ``k + 1`` carries its true hash: a fork needs two documents with the
same ``seq``, which the key refuses. The unique key is ``_id`` itself, derived
from ``seq``: unlike a secondary unique index it exists from the first insert,
cannot be dropped, and costs mongomock a dictionary look-up where a unique index
costs a scan of the whole log on every insert (the same reason the account
numbers live under ``_id``).

Within one process appends also take a lock and remember the tail they wrote
last (checked by ``_id`` before use, so a wiped or restored log is never
extended from a stale position): threads of one process queue instead of
colliding, and an append costs the same however long the log is. Across
processes the unique key alone decides. On a replica set the tail is read with
read concern "majority" and entries written with write concern "majority", so an
appender never builds on an entry that a failover could roll back (that would
leave a gap rather than a fork, but verify() would report it).

A process that dies mid-append leaves nothing to repair: before the insert
nothing was written; the insert is one document, so it lands whole or not at
all; after it the entry is complete and valid even if the caller never hears of
it. The lock is in-process only, so a dead appender cannot block another
process.

What the chain does not show: the hash is keyless, so whoever can write to the
database can remove entries from the end (or the whole log), or rewrite an entry
together with every entry after it, and leave a valid chain. Recording the
latest ``(seq, hash)`` somewhere the database's writers cannot change (or keying
the hash with a secret the database does not hold) is what would catch that.
"""

import hashlib
import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from app.db import get_db
from app.models import time_window, utc_now

GENESIS_HASH = "0" * 64
# Losing a race costs one read and one insert; this many losses in a row means
# something is wrong (or the log is being written far faster than it can be).
APPEND_ATTEMPTS = 50
# After the n-th lost race in a row, wait a random time up to
# min(BACKOFF_CAP, BACKOFF_BASE * 2**n) seconds: appenders that retry at once
# keep colliding, and the same few can lose again and again.
BACKOFF_BASE = 0.0005
BACKOFF_CAP = 0.05
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_SEQ = 2**96 - 1  # what fits in an ObjectId's 12 bytes
ENTRY_FIELDS = frozenset(
    (
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
    )
)


def entry_id(seq: int) -> ObjectId:
    """Return the ``_id`` of entry ``seq``: ``seq`` big-endian in 12 bytes.

    Ids sort as their sequence numbers do, so ``_id`` order is chain order.
    """
    return ObjectId(seq.to_bytes(12, "big"))


def _utc_text(moment: datetime) -> str:
    # A naive datetime is UTC, which is how BSON reads it back.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def _json_default(value: Any) -> str:
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime):
        return _utc_text(value)
    raise TypeError(f"{type(value).__name__} has no canonical form")


def canonical_bytes(entry: dict) -> bytes:
    """Serialise every field of ``entry`` but ``hash`` canonically (see module)."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    text = json.dumps(
        body,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
        default=_json_default,
    )
    return text.encode("ascii")


def entry_hash(entry: dict) -> str:
    """Return the SHA-256 hex digest that ``entry``'s ``hash`` field must hold."""
    return hashlib.sha256(canonical_bytes(entry)).hexdigest()


def _check_text(value: str, where: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: BSON cannot store it
        raise ValueError(f"{where} is not valid Unicode text") from exc
    return value


def _clean_details(value: Any, where: str = "details") -> Any:
    """Return a copy of ``value`` if it holds only hashable-and-storable types."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"{where} does not fit in 64 bits")
        return int(value)
    if isinstance(value, str):
        return _check_text(str(value), where)
    if isinstance(value, list):
        return [_clean_details(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        clean = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a non-string key {key!r}")
            # Both backends must store the key as given for the hash to survive.
            if not key or key.startswith("$") or "." in key or "\0" in key:
                raise ValueError(f"{where} has an unstorable key {key!r}")
            clean[_check_text(key, where)] = _clean_details(item, f"{where}.{key}")
        return clean
    raise TypeError(f"{where} holds a {type(value).__name__}; use JSON types or str")


def _optional_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, ObjectId):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None")
    return _check_text(value, name)


def _entry_problem(doc: dict, seq: int, prev_hash: str) -> str | None:
    """Say why ``doc`` cannot be entry ``seq`` after ``prev_hash``; None if it can."""
    if doc.keys() != ENTRY_FIELDS:
        return "fields"
    if type(doc["seq"]) is not int or doc["seq"] != seq:
        return "seq"
    if doc["_id"] != entry_id(seq) or not isinstance(doc["at"], datetime):
        return "types"
    if doc["prev_hash"] != prev_hash:
        return "prev_hash"
    try:
        expected = entry_hash(doc)
    except (TypeError, ValueError):  # a value was swapped for one with no form
        return "hash"
    return None if doc["hash"] == expected else "hash"


class Appender:
    """One process's append state: its lock and the last tail it saw."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # (collection, seq, hash) of the last entry this process wrote or read.
        self.tail: tuple[Any, int, str] | None = None


PROCESS_APPENDER = Appender()


class AuditModel:
    """The audit log: one hash-chained entry per security or money event."""

    def __init__(self) -> None:
        self._appender = PROCESS_APPENDER

    @property
    def collection(self) -> Any:
        return get_db()["audit_log"]

    @property
    def _durable(self) -> Any:
        """The collection as appends use it: majority reads and writes.

        Only for a real server; mongomock's ``with_options`` would hand back a
        collection outside app.db's lock.
        """
        collection = self.collection
        if isinstance(collection, Collection):
            return collection.with_options(
                read_concern=ReadConcern("majority"),
                write_concern=WriteConcern("majority"),
            )
        return collection

    def ensure_indexes(self) -> None:
        """Create the list indexes; ``_id`` (from ``seq``) already guards the chain."""
        self.collection.create_index([("actor", ASCENDING), ("_id", DESCENDING)])
        self.collection.create_index([("action", ASCENDING), ("_id", DESCENDING)])
        self.collection.create_index([("at", DESCENDING), ("_id", DESCENDING)])
        # Recovery asks whether a money movement already has its entry.
        self.collection.create_index("details.movement_id", sparse=True)

    def movements_since(self, since: datetime) -> set[str]:
        """Return the movement ids of the money entries appended since ``since``."""
        found = self.collection.find(
            {"at": {"$gte": since}, "details.movement_id": {"$exists": True}},
            {"details.movement_id": 1},
        )
        return {doc["details"]["movement_id"] for doc in found}

    def has_movement(self, movement_id: str) -> bool:
        """Tell whether the money movement ``movement_id`` has an entry."""
        found = self.collection.find_one(
            {"details.movement_id": movement_id}, {"_id": 1}
        )
        return found is not None

    def _tail(self, collection: Any) -> tuple[int, str]:
        """Return (seq, hash) of the last entry; (0, GENESIS_HASH) when empty."""
        remembered = self._appender.tail
        if remembered is not None and remembered[0] == collection:
            _, seq, hash_ = remembered
            found = collection.find_one({"_id": entry_id(seq)}, {"hash": 1})
            if found is not None and found["hash"] == hash_:
                return seq, hash_
        # find with limit=1 rather than find_one: mongomock's find_one copies every
        # document before taking the first; app.db's cursor reading copies one.
        docs = collection.find(
            {}, {"_id": 0, "seq": 1, "hash": 1}, sort=[("_id", DESCENDING)], limit=1
        )
        last = next(iter(docs), None)
        if last is None:
            return 0, GENESIS_HASH
        return last["seq"], last["hash"]

    def append(
        self,
        action: str,
        *,
        actor: str | None,
        target: str | ObjectId | None = None,
        ip: str | None = None,
        request_id: str | None = None,
        details: dict | None = None,
        at: datetime | None = None,
    ) -> dict:
        """Append one entry chained to the current tail and return it.

        :raises TypeError, ValueError: a field has a type or value the canonical
            form does not allow (checked before anything is written).
        :raises RuntimeError: lost the race for the next ``seq`` too many times.
        """
        if not isinstance(action, str) or not action:
            raise ValueError("action must be a non-empty string")
        if details is not None and not isinstance(details, dict):
            raise TypeError("details must be a dict or None")
        if at is not None:
            if at.tzinfo is None:
                raise ValueError("at must be timezone-aware")
            # Hash what BSON will hand back: UTC, whole milliseconds.
            at = at.astimezone(UTC)
            at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        fields = {
            "actor": _optional_text(actor, "actor"),
            "action": _check_text(action, "action"),
            "target": _optional_text(target, "target"),
            "ip": _optional_text(ip, "ip"),
            "request_id": _optional_text(request_id, "request_id"),
            "details": _clean_details(details),
        }
        collection = self._durable
        with self._appender.lock:
            # Stamped under the lock, so one process's entries keep time order.
            fields["at"] = at or utc_now()
            for attempt in range(APPEND_ATTEMPTS):
                entry = self._insert_after(collection, fields)
                if entry is not None:
                    self._appender.tail = (collection, entry["seq"], entry["hash"])
                    return entry
                self._appender.tail = None  # another process appended: re-read
                delay = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
                time.sleep(random.uniform(0, delay))  # noqa: S311 - jitter only
        raise RuntimeError(f"could not append {action!r} to the audit log")

    def _insert_after(self, collection: Any, fields: dict) -> dict | None:
        """Insert ``fields`` as the entry after the tail; None if the seq was taken."""
        seq, prev_hash = self._tail(collection)
        seq += 1
        if seq > MAX_SEQ:
            raise RuntimeError("the audit log is full")
        entry = {"_id": entry_id(seq), "seq": seq, **fields, "prev_hash": prev_hash}
        entry["hash"] = entry_hash(entry)
        try:
            # A retry after a network error cannot insert the entry twice: pymongo
            # retries a write once, and the server recognises the retry.
            collection.insert_one(entry)
        except DuplicateKeyError:
            return None
        return entry

    def find(self, entry_id_: ObjectId) -> dict | None:
        """Return an entry by id, or None."""
        return self.collection.find_one({"_id": entry_id_})

    def list_page(
        self,
        *,
        limit: int = 20,
        after_seq: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[list[dict], bool]:
        """Return a page of entries, newest first, filtered as asked.

        Keyset pagination on ``seq`` (through ``_id``, which sorts the same): the
        next page passes the last entry's ``seq`` as ``after_seq``. ``start`` is
        inclusive and ``end`` exclusive, like TransactionModel.list_posted.
        """
        query: dict = {}
        if after_seq is not None:
            query["_id"] = {"$lt": entry_id(min(max(after_seq, 0), MAX_SEQ))}
        if actor is not None:
            query["actor"] = actor
        if action is not None:
            query["action"] = action
        query.update(time_window("at", start, end))
        docs = list(
            self.collection.find(query, sort=[("_id", DESCENDING)], limit=limit + 1)
        )
        return docs[:limit], len(docs) > limit

    def _in_order(self) -> Iterator[dict]:
        # A real server streams the cursor batch by batch; the in-memory backend
        # already holds every entry.
        return iter(self.collection.find({}, sort=[("_id", ASCENDING)]))

    def verify(self) -> dict:
        """Walk the chain in ``seq`` order; report whether every link holds.

        An entry is bad when its fields, ``seq`` (1, 2, 3, ... with no gap) and
        ``_id``, ``prev_hash`` (the stored ``hash`` of the entry before) or
        ``hash`` (over its own canonical form) are wrong. A removed entry shows
        as a gap at the entry after it; an edited entry whose hash was recomputed
        shows at the entry after it, whose ``prev_hash`` no longer matches.
        """
        entries = 0
        first_bad_id = None
        prev_hash = GENESIS_HASH
        for doc in self._in_order():
            entries += 1
            if first_bad_id is not None:
                continue  # only counting now
            if _entry_problem(doc, entries, prev_hash) is not None:
                first_bad_id = str(doc.get("_id"))
                continue
            prev_hash = doc["hash"]
        return {
            "valid": first_bad_id is None,
            "entries": entries,
            "first_bad_id": first_bad_id,
        }
