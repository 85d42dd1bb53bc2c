"""The audit log: contention-free appends, sealed in batches into a keyed chain.

Two collections. ``audit_log`` holds the entries; ``audit_seals`` holds the
seals that fix their order and make them tamper-evident. Only this module
writes either; it never deletes, and changes an entry only once, when a seal
gives it its position. The design follows Certificate
Transparency / Trillian (leaves are queued, and one sequencer integrates them
in batches and signs a tree head) and AWS QLDB's digests, with a hash chain
where those have a Merkle tree: an audit here always checks the whole log.

Appending (every login, every money movement): one ``insert_one`` of a
self-contained entry, and nothing else -- no read of a tail, no shared
counter, no retry, no lock. N processes append in parallel without touching
a common document::

    {_id, at, actor, action, target, ip, request_id, details, hash, seal, seq}

``_id`` is a fresh ObjectId, ``at`` the appender's clock, ``seal`` and
``seq`` are null, and ``hash`` is the entry's own hash: the SHA-256 hex
digest of :func:`canonical_bytes` of the entry without ``hash``, ``seal`` and
``seq``. An insert is one document, so a process that dies mid-append leaves
the entry whole or absent, never half.

Canonical serialisation (what a hash covers; an independent verifier needs
only this paragraph): compact JSON -- ``json.dumps(doc, sort_keys=True,
separators=(",", ":"), ensure_ascii=True, allow_nan=False)`` -- then ASCII
bytes. Keys are sorted at every level, there is no whitespace, and every
non-ASCII character is a ``\\uXXXX`` escape. An ObjectId is written as its
24-character hex string; a time as ISO 8601 in UTC with six fractional
digits and a ``Z``, e.g. ``"2024-05-06T07:08:09.123000Z"`` (stored at BSON's
millisecond precision, so the last three digits are 0); ``actor``,
``action``, ``target``, ``ip`` and ``request_id`` are strings or null;
``details`` is null or an object whose values are null, booleans, 64-bit
integers, strings, lists and objects of these. Floats are refused: money is
integer cents, and float text differs between JSON serialisers.

Sealing (:func:`seal`, run by ``flask audit seal`` and the job runner): seal
``n`` covers every entry not yet sealed whose ``at`` is older than ``now -
SEAL_SETTLE`` (at most SEAL_BATCH of them, oldest first by ``(at, _id)``; a
run makes as many seals as it needs). The settle delay lets inserts still in
flight land first; one that lands later with an old ``at`` is not lost, just
covered by the next seal. Each covered entry gets its position: ``seal = n``
and ``seq``, which counts from 1 across all seals with no gap. The seal::

    {_id: n, state: "sealed", prev, first_seq, count, cutoff, sealed_at,
     entries, digest}

``prev`` is seal ``n - 1``'s ``digest`` (64 zeros for seal 1), the entries
have ``seq`` ``first_seq`` .. ``first_seq + count - 1``, ``entries`` folds
their ``hash`` values in ``seq`` order -- ``c = 64 zeros``, then for each
``c = sha256_hex(c + hash)`` over the 128 ASCII characters -- and
``digest`` is HMAC-SHA256 under ``AUDIT_SEAL_KEY`` (UTF-8 bytes) of the
canonical bytes of the seal without ``state`` and ``digest``; with no key,
plain SHA-256 of the same bytes. To recompute seal ``n`` a verifier reads
its entries by ``seq``, checks each ``hash`` against the entry's canonical
bytes, folds them, and MACs the header: the digest binds every covered
entry's content, id and position, the previous seal and so the whole history.

One sealer at a time, and a crash mid-seal: sealers take the lease
``audit_seal`` (app/models/lease.py; a guarded update with an expiry, never
an in-process lock). The lease only saves work: correctness holds even if
two sealers overlap, because the writes of seal ``n`` are (1) insert the seal
as ``state: "pending"`` with every fixed input -- ``prev``, ``first_seq``,
``cutoff``, ``sealed_at`` and the list ``entry_ids`` -- under the unique
``_id`` ``n``, so only one seal ``n`` can ever exist; (2) mark its entries
with one bulk write of ``{_id, seal in (null, n)} -> {seal: n, seq}``, which
is idempotent; (3) turn it ``sealed`` with ``entries`` and ``digest`` (the
update is guarded by ``state: "pending"``; ``entry_ids`` goes). Every input
of the digest is fixed at (1), so whoever finishes a pending seal -- the
sealer that began it, or the next one after a crash -- writes the same
digest, and seal ``n + 1`` cannot begin before seal ``n`` is sealed: a crash
anywhere leaves a state the next run finishes, and the chain cannot fork.
A sealer refuses (SealError) to build on a last seal that does not verify
under its key, or to finish a pending seal that does not follow its
predecessor or whose listed entries are gone: it never certifies a break.

Verifying (:meth:`AuditModel.verify`, ``GET /audit/verify``): walk the
seals in order and each seal's entries by ``seq``, then the unsealed
entries. Invalid when an entry's own ``hash`` does not match its content or
its fields are wrong; when a sealed range lost, gained or reordered an entry
(its count, ``seq`` numbers or fold no longer match); when a seal was
altered (its digest does not recompute), removed (a gap in seal numbers, or
entries naming a seal that is gone) or is left ``pending`` before the last
one. A pending last seal is work in progress: its entries count as unsealed.
The seals are read first and the walk stops at the highest one read, so a
seal made meanwhile is missed by that check, never reported as a break.

What a database writer without the key can and cannot do. They cannot
change, remove, reorder or add an entry in a sealed range, nor change any
seal or remove one before the last, nor write a seal of their own: each
needs a digest only the key makes. They can, until the next seal: edit or delete an
unsealed entry (recomputing its keyless own hash; without that, the edit
shows), and add entries (as any appender can, with any ``at``), which the
next seal then certifies. And they can cut seals off the end together with
the entries they cover, or un-mark those entries, which then look unsealed
and can be edited before the next seal certifies them as they are then. A
log's tail can only be shown complete against a head recorded outside the
database, so the sealer logs every new head ``(seal, digest)`` and
``/audit/verify`` reports ``last_seal``/``last_digest``; an auditor who keeps
them elsewhere catches a cut. Without a key (development), seals are plain
SHA-256 and anyone can recompute them: they catch mistakes, not an attacker.
Verification uses the configured key for every seal, so seals made under
another key, or none, never verify: set ``AUDIT_SEAL_KEY`` before the first
seal.
"""

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

from bson import ObjectId
from flask import current_app
from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError
from pymongo.write_concern import WriteConcern

from app.db import get_db
from app.models import insert_new, time_window, utc_now
from app.models.lease import LeaseModel

log = logging.getLogger("app.audit")

GENESIS_HASH = "0" * 64
# How old an entry must be before a seal covers it: long enough for an insert
# in flight to land (a later one is covered by the next seal instead).
SEAL_SETTLE = timedelta(seconds=5)
# The most entries one seal covers: one bulk write, one page of marks.
SEAL_BATCH = 1000
SEAL_LEASE = "audit_seal"
# A sealer renews its lease before each seal; a dead one frees it this soon.
SEAL_LEASE_TTL = timedelta(seconds=60)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Written at sealing, so outside the entry's own hash.
POSITION_FIELDS = frozenset(("hash", "seal", "seq"))
ENTRY_FIELDS = (
    frozenset(("_id", "at", "actor", "action", "target", "ip", "request_id", "details"))
    | POSITION_FIELDS
)
SEAL_FIELDS = frozenset(
    ("_id", "state", "prev", "first_seq", "count", "cutoff", "sealed_at")
)
SEALED_FIELDS = SEAL_FIELDS | {"entries", "digest"}
PENDING_FIELDS = SEAL_FIELDS | {"entry_ids"}
# Read the key from the app's config (the default of every key= argument).
CONFIGURED = object()


class SealError(RuntimeError):
    """A seal cannot be made or finished: the stored state is not a sealer's.

    Tampering or a bug; sealing stops (``flask audit seal`` exits 1) until
    someone looks, and ``/audit/verify`` names the break.
    """


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


def canonical_bytes(doc: dict, leave_out: Iterable[str] = POSITION_FIELDS) -> bytes:
    """Serialise every field of ``doc`` but ``leave_out`` canonically (see module)."""
    skip = frozenset(leave_out)
    body = {key: value for key, value in doc.items() if key not in skip}
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


def fold_hashes(hashes: Iterable[str]) -> str:
    """Chain entry hashes in order: the ``entries`` field of their seal."""
    chained = GENESIS_HASH
    for value in hashes:
        chained = hashlib.sha256((chained + value).encode("ascii")).hexdigest()
    return chained


def seal_digest(seal: dict, key: str | None) -> str:
    """Return the ``digest`` seal ``seal`` must hold: HMAC-SHA256, or SHA-256."""
    header = canonical_bytes(seal, ("state", "digest", "entry_ids"))
    if key is None:
        return hashlib.sha256(header).hexdigest()
    return hmac.new(key.encode("utf-8"), header, hashlib.sha256).hexdigest()


def seal_verifies(seal: dict, key: str | None) -> bool:
    """Tell whether ``seal`` is well formed and its digest recomputes under ``key``."""
    if seal.keys() != SEALED_FIELDS or not isinstance(seal["digest"], str):
        return False
    try:
        expected = seal_digest(seal, key)
    except (TypeError, ValueError):  # a value was swapped for one with no form
        return False
    return hmac.compare_digest(expected, seal["digest"])


def configured_key() -> str | None:
    """Return AUDIT_SEAL_KEY, or None when seals are keyless."""
    return current_app.config.get("AUDIT_SEAL_KEY") or None


def _key(key: Any) -> str | None:
    return configured_key() if key is CONFIGURED else key


def _is_hex64(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 64
        and all(char in "0123456789abcdef" for char in value)
    )


def _bson_time(moment: datetime) -> datetime:
    """``moment`` as BSON hands it back: UTC, whole milliseconds."""
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


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


def _entry_problem(doc: dict, seal: int | None, seq: int | None) -> str | None:
    """Say why ``doc`` is not a sound entry at ``(seal, seq)``; None if it is.

    ``seq=None`` with a seal number accepts any integer ``seq`` (the entries
    of a pending seal, marked or not yet).
    """
    if doc.keys() != ENTRY_FIELDS:
        return "fields"
    if not isinstance(doc["_id"], ObjectId) or not isinstance(doc["at"], datetime):
        return "types"
    if seal is None:
        if doc["seal"] is not None or doc["seq"] is not None:
            return "position"
    elif type(doc["seal"]) is not int or doc["seal"] != seal:
        return "seal"
    elif seq is None:
        if doc["seq"] is not None and type(doc["seq"]) is not int:
            return "seq"
    elif type(doc["seq"]) is not int or doc["seq"] != seq:
        return "seq"
    try:
        expected = entry_hash(doc)
    except (TypeError, ValueError):  # a value was swapped for one with no form
        return "hash"
    return None if doc["hash"] == expected else "hash"


class AuditModel:
    """The audit log's entries: appended by one insert each, never changed here."""

    @property
    def collection(self) -> Any:
        return get_db()["audit_log"]

    @property
    def _durable(self) -> Any:
        """The collection as appends use it: majority writes on a real server.

        Only for a real server; mongomock's ``with_options`` would hand back a
        collection outside app.db's lock.
        """
        collection = self.collection
        if isinstance(collection, Collection):
            return collection.with_options(write_concern=WriteConcern("majority"))
        return collection

    def ensure_indexes(self) -> None:
        """Create the list indexes and the sealer's; ``_id`` needs none."""
        newest = [("at", DESCENDING), ("_id", DESCENDING)]
        self.collection.create_index([("actor", ASCENDING), *newest])
        self.collection.create_index([("action", ASCENDING), *newest])
        # Both filters together (GET /audit/events?actor=&action=).
        self.collection.create_index(
            [("actor", ASCENDING), ("action", ASCENDING), *newest]
        )
        self.collection.create_index(newest)
        # The sealer's queue (unsealed, oldest first) and the verifier's walk.
        self.collection.create_index(
            [("seal", ASCENDING), ("at", ASCENDING), ("_id", ASCENDING)]
        )
        self.collection.create_index([("seal", ASCENDING), ("seq", ASCENDING)])
        # Recovery asks whether a money movement already has its entry.
        self.collection.create_index("details.movement_id", sparse=True)

    def append(self, action: str, **fields: Any) -> dict:
        """Insert one self-contained entry (one write, nothing read) and return it.

        ``fields`` are :meth:`build`'s (actor, target, ip, request_id, details,
        at).

        :raises TypeError, ValueError: a field has a type or value the canonical
            form does not allow (checked before anything is written).
        """
        entry = self.build(action, **fields)
        # A retry after a network error cannot insert the entry twice: pymongo
        # retries a write once, the server recognises it, and _id is fixed here.
        self._durable.insert_one(entry)
        return entry

    def build(
        self,
        action: str,
        *,
        actor: str | None,
        target: str | ObjectId | None = None,
        ip: str | None = None,
        request_id: str | None = None,
        details: dict | None = None,
        at: datetime | None = None,
        entry_id: ObjectId | None = None,
    ) -> dict:
        """Make an entry, hashed, without writing it (see :meth:`append`)."""
        if not isinstance(action, str) or not action:
            raise ValueError("action must be a non-empty string")
        if details is not None and not isinstance(details, dict):
            raise TypeError("details must be a dict or None")
        if at is not None:
            at = _bson_time(at)  # hash what BSON will hand back
        entry = {
            "_id": entry_id or ObjectId(),
            "at": at or utc_now(),
            "actor": _optional_text(actor, "actor"),
            "action": _check_text(action, "action"),
            "target": _optional_text(target, "target"),
            "ip": _optional_text(ip, "ip"),
            "request_id": _optional_text(request_id, "request_id"),
            "details": _clean_details(details),
            "seal": None,
            "seq": None,
        }
        entry["hash"] = entry_hash(entry)
        return entry

    def append_once(self, entries: list[dict]) -> int:
        """Insert built entries whose ``_id`` is not in the log yet; count them.

        For entries derived from another record (a movement's, keyed by the
        movement id): a second insert of the same one is a duplicate, ignored,
        so several writers cannot log one movement twice.
        """
        return insert_new(self._durable, entries)

    def movements_among(self, movement_ids: list[ObjectId]) -> set[ObjectId]:
        """Return which of ``movement_ids`` have an entry in the log already.

        Derived entries carry the movement id as their ``_id``; entries written
        by requests before the log was derived, as ``details.movement_id``.
        """
        found = self.collection.find(
            {"$or": [
                {"_id": {"$in": movement_ids}},
                {"details.movement_id": {"$in": [str(m) for m in movement_ids]}},
            ]},
            {"details.movement_id": 1},
        )  # fmt: skip
        have: set[ObjectId] = set()
        for doc in found:
            have.add(doc["_id"])
            moved = (doc.get("details") or {}).get("movement_id")
            if moved is not None:
                have.add(ObjectId(moved))
        return have

    def actions_between(
        self, actions: Iterable[str], since: datetime, until: datetime
    ) -> Any:
        """Stream the entries of ``actions`` written in [since, until]."""
        return self.collection.find(
            {"action": {"$in": list(actions)}, "at": {"$gte": since, "$lte": until}}
        )

    def find(self, entry_id: ObjectId) -> dict | None:
        """Return an entry by id, or None."""
        return self.collection.find_one({"_id": entry_id})

    def list_page(
        self,
        *,
        limit: int = 20,
        after: tuple[datetime, ObjectId] | None = None,
        actor: str | None = None,
        action: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[list[dict], bool]:
        """Return a page of entries, newest first, filtered as asked.

        Keyset pagination on ``(at, _id)``, both set at insert: the next page
        passes the last entry's pair as ``after``. ``start`` is inclusive and
        ``end`` exclusive, like TransactionModel.list_posted.
        """
        query: dict = {}
        if actor is not None:
            query["actor"] = actor
        if action is not None:
            query["action"] = action
        query.update(time_window("at", start, end))
        if after is not None:
            at, oid = after
            query = {
                "$and": [
                    query,
                    {"$or": [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": oid}}]},
                ]
            }
        docs = list(
            self.collection.find(
                query, sort=[("at", DESCENDING), ("_id", DESCENDING)], limit=limit + 1
            )
        )
        return docs[:limit], len(docs) > limit

    def verify(self, key: Any = CONFIGURED) -> dict:
        """Recompute every entry hash and every seal; report the first break.

        See :meth:`AuditSealModel.verify`.
        """
        return AuditSealModel().verify(key)


class AuditSealModel:
    """The seals of the audit log, and the positions they give its entries."""

    @property
    def collection(self) -> Any:
        return get_db()["audit_seals"]

    @property
    def _entries(self) -> Any:
        return AuditModel().collection

    def last(self) -> dict | None:
        """Return the seal with the highest number (pending or not), or None."""
        docs = self.collection.find({}, sort=[("_id", DESCENDING)], limit=1)
        return next(iter(docs), None)

    def seal(
        self,
        now: datetime | None = None,
        *,
        key: Any = CONFIGURED,
        settle: timedelta = SEAL_SETTLE,
        batch: int = SEAL_BATCH,
    ) -> dict:
        """Seal every unsealed entry older than ``now - settle``; report what it did.

        Finishes a seal a crashed sealer left pending first. Returns ``{"busy",
        "seals", "entries", "last_seal", "last_digest", "keyed"}``: ``busy``
        when another sealer holds the lease (then nothing was done), ``seals``
        the numbers finished by this run, ``entries`` how many they cover.

        :raises SealError: the stored seals are not what a sealer wrote.
        """
        key = _key(key)
        clock = (lambda: _bson_time(now)) if now is not None else utc_now
        started = clock()
        cutoff = _bson_time(started - settle)
        holder = str(ObjectId())
        leases = LeaseModel()
        report = {"busy": False, "seals": [], "entries": 0, "keyed": key is not None}
        if leases.acquire(SEAL_LEASE, holder, SEAL_LEASE_TTL, started) is None:
            report["busy"] = True
            return self._with_head(report)
        try:
            while True:
                last = self.last()
                if last is None or last.get("state") != "pending":
                    try:
                        last = self._open(last, cutoff, started, batch, key)
                    except DuplicateKeyError:
                        # Another sealer (past an expired lease) began that seal.
                        report["busy"] = True
                        break
                    if last is None:
                        break
                finished = self._finish(last, key)
                report["seals"].append(finished["_id"])
                report["entries"] += finished["count"]
                log.info(
                    "audit seal %d: %d entries, digest %s",
                    finished["_id"],
                    finished["count"],
                    finished["digest"],
                )
                if leases.acquire(SEAL_LEASE, holder, SEAL_LEASE_TTL, clock()) is None:
                    report["busy"] = True
                    break
        finally:
            leases.release(SEAL_LEASE, holder)
        return self._with_head(report)

    def _with_head(self, report: dict) -> dict:
        last = self.last()
        if last is not None and last.get("state") == "pending":
            last = self.collection.find_one({"_id": last["_id"] - 1})
        report["last_seal"] = last["_id"] if last else None
        report["last_digest"] = last.get("digest") if last else None
        return report

    def _open(
        self,
        last: dict | None,
        cutoff: datetime,
        sealed_at: datetime,
        batch: int,
        key: str | None,
    ) -> dict | None:
        """Write seal ``last + 1`` as pending over the queue; None if it is empty.

        :raises DuplicateKeyError: that seal number is taken.
        :raises SealError: ``last`` does not verify under ``key``.
        """
        if last is None:
            number, prev, first_seq = 1, GENESIS_HASH, 1
        else:
            if last.get("state") != "sealed" or not seal_verifies(last, key):
                raise SealError(f"audit seal {last.get('_id')} does not verify")
            number = last["_id"] + 1
            prev = last["digest"]
            first_seq = last["first_seq"] + last["count"]
        queue = self._entries.find(
            {"seal": None, "at": {"$lt": cutoff}},
            {"_id": 1},
            sort=[("at", ASCENDING), ("_id", ASCENDING)],
            limit=batch,
        )
        entry_ids = [doc["_id"] for doc in queue]
        if not entry_ids:
            return None
        pending = {
            "_id": number,
            "state": "pending",
            "prev": prev,
            "first_seq": first_seq,
            "count": len(entry_ids),
            "cutoff": cutoff,
            "sealed_at": sealed_at,
            "entry_ids": entry_ids,
        }
        self.collection.insert_one(pending)
        return pending

    def _finish(self, pending: dict, key: str | None) -> dict:
        """Mark a pending seal's entries and seal it (idempotent); return it.

        :raises SealError: the pending seal or its entries are not as written.
        """
        number = pending["_id"]
        self._check_pending(pending)
        entry_ids, first_seq = pending["entry_ids"], pending["first_seq"]
        self._entries.bulk_write(
            [
                UpdateOne(
                    {"_id": entry_id, "seal": {"$in": [None, number]}},
                    {"$set": {"seal": number, "seq": first_seq + offset}},
                )
                for offset, entry_id in enumerate(entry_ids)
            ],
            ordered=False,
        )
        marked = list(
            self._entries.find(
                {"seal": number}, {"hash": 1, "seq": 1}, sort=[("seq", ASCENDING)]
            )
        )
        expected_seqs = list(range(first_seq, first_seq + len(entry_ids)))
        if [doc["_id"] for doc in marked] != entry_ids or [
            doc["seq"] for doc in marked
        ] != expected_seqs:
            raise SealError(f"audit seal {number}: its entries are not as listed")
        hashes = [doc.get("hash") for doc in marked]
        if not all(_is_hex64(value) for value in hashes):
            raise SealError(f"audit seal {number}: an entry has no hash")
        fields = {"entries": fold_hashes(hashes)}
        header = {k: v for k, v in pending.items() if k != "entry_ids"}
        fields["digest"] = seal_digest({**header, **fields}, key)
        self.collection.update_one(
            {"_id": number, "state": "pending"},
            {"$set": {"state": "sealed", **fields}, "$unset": {"entry_ids": ""}},
        )
        sealed = self.collection.find_one({"_id": number})
        if sealed is None or sealed.get("state") != "sealed":
            raise SealError(f"audit seal {number} could not be sealed")
        return sealed

    def _check_pending(self, pending: dict) -> None:
        """Refuse to finish a pending seal that does not follow its predecessor."""
        number = pending.get("_id")
        if pending.keys() != PENDING_FIELDS or type(number) is not int:
            raise SealError(f"audit seal {number}: malformed pending seal")
        entry_ids = pending["entry_ids"]
        if (
            not isinstance(entry_ids, list)
            or not entry_ids
            or len(set(entry_ids)) != len(entry_ids)
            or pending["count"] != len(entry_ids)
        ):
            raise SealError(f"audit seal {number}: malformed entry list")
        if number == 1:
            before = {"digest": GENESIS_HASH, "first_seq": 1, "count": 0}
        else:
            before = self.collection.find_one({"_id": number - 1, "state": "sealed"})
        if (
            before is None
            or pending["prev"] != before["digest"]
            or pending["first_seq"] != before["first_seq"] + before["count"]
        ):
            raise SealError(f"audit seal {number} does not follow seal {number - 1}")

    def verify(self, key: Any = CONFIGURED) -> dict:
        """Walk the seals and their entries, then the unsealed entries.

        Returns ``{"valid", "entries", "first_bad_id", "first_bad_seal",
        "sealed", "unsealed", "seals", "last_sealed_at", "last_seal",
        "last_digest", "keyed"}``. ``first_bad_seal`` names the seal whose
        range breaks, and ``first_bad_id`` the entry (the seal's first when the
        break is in the seal itself, or null when it has none).
        """
        return _Verification(self, _key(key)).run()


class _Verification:
    """One pass over the log, remembering the first break it finds.

    Appends and a sealer may run meanwhile. The seals are read first, and the
    walk of sealed entries stops at the highest seal read; an entry a seal
    marks later is missed by this pass (neither counted nor judged), never
    reported as broken.
    """

    def __init__(self, seals: AuditSealModel, key: str | None) -> None:
        self.seals = seals
        self.key = key
        self.bad_id: str | None = None
        self.bad_seal: int | None = None
        self.found_break = False
        self.sealed = 0
        self.walked = 0
        self.completed: list[dict] = []

    def bad(self, entry: dict | None, seal: Any = None) -> None:
        if self.found_break:
            return
        self.found_break = True
        self.bad_id = str(entry.get("_id")) if entry is not None else None
        self.bad_seal = seal if type(seal) is int else None

    def run(self) -> dict:
        entries = self.seals._entries
        seal_docs = list(self.seals.collection.find({}, sort=[("_id", ASCENDING)]))
        numbers = [doc["_id"] for doc in seal_docs if type(doc["_id"]) is int]
        top = max(numbers, default=0)
        sealed_entries = entries.find(
            {"seal": {"$gte": 1, "$lte": top}},
            sort=[("seal", ASCENDING), ("seq", ASCENDING)],
        )
        self.walk_seals(seal_docs, self.groups(sealed_entries if top else []))
        self.orphans_above(top)
        for doc in entries.find({"seal": None}, sort=[("at", 1), ("_id", 1)]):
            self.walked += 1
            if _entry_problem(doc, None, None) is not None:
                self.bad(doc)
        # A seal that is neither null nor a number a seal could have.
        odd = {"$exists": True, "$ne": None, "$not": {"$gte": 1}}
        for doc in entries.find({"seal": odd}, sort=[("seal", 1), ("seq", 1)]):
            self.walked += 1
            self.bad(doc)
        last = self.completed[-1] if self.completed else None
        return {
            "valid": not self.found_break,
            "entries": self.walked,
            "first_bad_id": self.bad_id,
            "first_bad_seal": self.bad_seal,
            "sealed": self.sealed,
            "unsealed": self.walked - self.sealed,
            "seals": len(self.completed),
            "last_sealed_at": last.get("sealed_at") if last else None,
            "last_seal": last.get("_id") if last else None,
            "last_digest": last.get("digest") if last else None,
            "keyed": self.key is not None,
        }

    @staticmethod
    def groups(docs: Iterable[dict]) -> Iterator[tuple[Any, list[dict]]]:
        for number, group in groupby(docs, key=lambda doc: doc.get("seal")):
            yield number, list(group)

    def orphans_above(self, top: int) -> None:
        """Judge entries naming a seal above ``top``: begun since, or removed."""
        entries = self.seals._entries
        above = entries.find({"seal": {"$gt": top}}, sort=[("seal", 1), ("seq", 1)])
        for number, group in self.groups(above):
            # A seal exists before any entry is marked with its number.
            if self.seals.collection.find_one({"_id": number}, {"_id": 1}) is None:
                self.walked += len(group)
                self.bad(group[0], number)

    def walk_seals(
        self, seal_docs: list[dict], groups: Iterator[tuple[Any, list[dict]]]
    ) -> None:
        prev, next_seq = GENESIS_HASH, 1
        group = next(groups, None)
        for index, seal in enumerate(seal_docs):
            number = seal.get("_id")
            # Entries naming a seal number that has no seal: it was removed.
            while group is not None and _before(group[0], number):
                self.walked += len(group[1])
                self.bad(group[1][0], group[0])
                group = next(groups, None)
            covered: list[dict] = []
            if group is not None and group[0] == number:
                covered = group[1]
                group = next(groups, None)
            self.walked += len(covered)
            if seal.get("state") == "pending" and index == len(seal_docs) - 1:
                for doc in covered:  # work in progress: judged as unsealed
                    if _entry_problem(doc, number, None) is not None:
                        self.bad(doc)
                continue
            self.completed.append(seal)
            self.sealed += len(covered)
            if number != len(self.completed):
                # A gap in the seal numbers: the missing seal is the break.
                self.bad(covered[0] if covered else None, len(self.completed))
            self.check_seal(seal, covered, prev, next_seq)
            prev = seal.get("digest")
            count = seal.get("count")
            next_seq += count if type(count) is int else len(covered)
        for number, docs in [group, *groups] if group is not None else []:
            self.walked += len(docs)
            self.bad(docs[0], number)

    def check_seal(
        self, seal: dict, covered: list[dict], prev: str, first_seq: int
    ) -> None:
        number = seal.get("_id")
        first = covered[0] if covered else None
        if (
            seal.keys() != SEALED_FIELDS
            or seal["state"] != "sealed"
            or seal["prev"] != prev
            or type(seal["first_seq"]) is not int
            or seal["first_seq"] != first_seq
            or type(seal["count"]) is not int
        ):
            self.bad(first, number)
            return
        for offset, doc in enumerate(covered):
            if _entry_problem(doc, number, first_seq + offset) is not None:
                self.bad(doc, number)
                return
        if seal["count"] != len(covered):
            # A removed entry at the end of the range, or an extra one after it.
            self.bad(covered[-1] if covered else None, number)
            return
        entries = fold_hashes(doc["hash"] for doc in covered)
        if entries != seal["entries"] or not seal_verifies(seal, self.key):
            self.bad(first, number)


def _before(group_seal: Any, number: Any) -> bool:
    """Tell whether entries of seal ``group_seal`` sort before seal ``number``."""
    try:
        return group_seal < number
    except TypeError:
        return False


def seal(now: datetime | None = None) -> dict:
    """Seal the audit log under the configured key (the job runner's entry point)."""
    return AuditSealModel().seal(now)
