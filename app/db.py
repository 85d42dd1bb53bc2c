"""Database backend selection (real MongoDB or in-memory mongomock-ng) and get_db().

Everything that knows the in-memory backend is here: models, the core and the
tests get a database through :func:`get_db` (or a client from
:func:`memory_client`) and never name the library. The adapter below reads a
few of mongomock-ng's private internals to spare it work; each of those fast
paths is checked once against the public API (:func:`_fast_paths`) and turned
off, leaving the slower public behaviour, if this mongomock-ng differs.
"""

import bisect
import functools
import gc
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
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
    aggregate: bool  # the store's ``documents``, read by :func:`_aggregate`


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
    try:
        aggregate = _aggregate_agrees(
            mongomock_ng.MongoClient(tz_aware=True)["probe"]["aggregate"]
        )
    except Exception:  # noqa: BLE001 - any surprise means: do not use it
        aggregate = False
    paths = _FastPaths(
        id_lookup=id_lookup, cursor_read=cursor_read, aggregate=aggregate
    )
    if not (id_lookup and cursor_read and aggregate):
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

    def aggregate(self, pipeline: list, *args: Any, **kwargs: Any) -> list:
        """Run an aggregation pipeline; return its documents as a list.

        mongomock copies the whole collection before the first stage (and checks
        each document's dates on the way), so a report over 200,000 entries took
        minutes. The pipelines :func:`_aggregate` knows are answered from the
        stored documents instead; any other goes to mongomock unchanged.
        """
        with MEMORY_LOCK:
            if self._ttl:
                self._purge_expired()
            if _fast_paths().aggregate and not args and not kwargs:
                try:
                    return _aggregate(_documents_of(self._collection), pipeline)
                except _Unsupported:
                    pass
            return list(self._collection.aggregate(pipeline, *args, **kwargs))

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


# -- aggregation on the in-memory backend ---------------------------------------
#
# A small evaluator for the pipelines the reports send: a first ``$match`` of
# plain fields (equality, ``$ne``, ``$in``, ``$nin``, ranges, ``$exists``,
# ``$and``, ``$or``), then ``$group`` (``$sum``, ``$min``, ``$max``),
# ``$bucket``, ``$count`` and ``$facet`` over field paths, literals,
# comparisons and ``$cond``, with the server's semantics (types compared within
# their own kind, booleans apart from numbers; no documents, no group). It
# reads the stored documents without copying them. Anything else, down to one
# document holding an array or a sub-document where the pipeline looks, raises
# _Unsupported and mongomock answers instead: a pipeline outside the subset is
# slower here, never answered differently. :func:`_aggregate_agrees` compares
# the two once, at start-up; tests/test_memory_aggregate.py at length.

_MISSING = object()
_KINDS = {
    type(None): "null",
    bool: "bool",
    int: "number",
    float: "number",
    str: "string",
    datetime: "date",
    ObjectId: "objectid",
}


_TYPES_OF = {
    "null": (type(None),),
    "bool": (bool,),
    "number": (int, float),
    "string": (str,),
    "date": (datetime,),
    "objectid": (ObjectId,),
}
_COMPOUND = (list, dict)


class _Unsupported(Exception):
    """A pipeline, or a document it met, outside what the evaluator knows."""


def _stored(value: Any) -> Any:
    """A literal as mongomock stores it: dates naive UTC, to the millisecond."""
    if type(value) is datetime:
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if type(value) not in _KINDS:
        raise _Unsupported(type(value).__name__)
    return value


def _kind(value: Any) -> str:
    try:
        return _KINDS[type(value)]
    except KeyError:
        raise _Unsupported(type(value).__name__) from None


def _shown(value: Any) -> Any:
    """A value as the tz-aware client returns it (dates aware UTC)."""
    if type(value) is datetime and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if type(value) is dict:
        return {key: _shown(item) for key, item in value.items()}
    if type(value) is list:
        return [_shown(item) for item in value]
    return value


def _field_name(path: Any) -> str:
    if type(path) is not str or not path or path.startswith("$") or "." in path:
        raise _Unsupported(repr(path))
    return path


def _equal_to(literal: Any) -> Callable[[Any], bool]:
    literal = _stored(literal)
    if literal is None:
        return lambda found: found is None or found is _MISSING
    types = _TYPES_OF[_kind(literal)]
    return lambda found: found == literal and type(found) in types


def _by_type(literals: Any) -> tuple[dict[type, set], bool]:
    """An ``$in`` list as value sets by Python type (1 and 1.0 together, True
    apart), and whether it holds null (which also matches a missing field)."""
    if type(literals) is not list:
        raise _Unsupported("$in")
    by_type: dict[type, set] = {}
    for literal in map(_stored, literals):
        for python_type in _TYPES_OF[_kind(literal)]:
            by_type.setdefault(python_type, set()).add(literal)
    return by_type, None in by_type.get(type(None), ())


def _in(literals: Any) -> Callable[[Any], bool]:
    by_type, with_null = _by_type(literals)

    def member(found: Any) -> bool:
        if found is _MISSING:
            return with_null
        values = by_type.get(type(found))
        return values is not None and found in values

    return member


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _bounds(ops: list[tuple[str, Any]]) -> tuple[tuple[type, ...], list] | None:
    """Range operators on one type: its Python types and the (compare, bound)
    pairs; None when the operators are not only ranges of one type."""
    if not ops or any(op not in _COMPARE for op, _ in ops):
        return None
    literals = [_stored(literal) for _, literal in ops]
    kinds = {_kind(literal) for literal in literals}
    if len(kinds) != 1 or kinds == {"null"}:
        raise _Unsupported("a range across types or on null")
    (kind,) = kinds
    pairs = [
        (_COMPARE[op], literal) for (op, _), literal in zip(ops, literals, strict=True)
    ]
    return _TYPES_OF[kind], pairs


def _condition(op: str, operand: Any) -> Callable[[Any], bool]:
    if op in ("$eq", "$ne"):
        equal = _equal_to(operand)
        return equal if op == "$eq" else lambda found: not equal(found)
    if op in ("$in", "$nin"):
        member = _in(operand)
        return member if op == "$in" else lambda found: not member(found)
    if op in _COMPARE:
        types, ((compare, literal),) = _bounds([(op, operand)])
        # A query range matches values of its bound's type only, as the server's.
        return lambda found: type(found) in types and compare(found, literal)
    if op == "$exists" and type(operand) is bool:
        return lambda found: (found is not _MISSING) is operand
    raise _Unsupported(op)


_SYMBOLS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _refuse(name: str) -> bool:
    raise _Unsupported(name)  # an array or a sub-document where a filter looks


def _match(spec: Any) -> Callable[[dict], bool]:
    """Compile a query filter of the subset into one predicate on stored documents.

    A scan calls it once per stored document, so it is one generated function
    (a chain of closures cost a call per predicate per document: twice the
    time). Its source holds only fixed templates and the names of constants;
    the field names and values are the constants, in its namespace. A document
    whose value is an array or a sub-document where a predicate looks (matched
    by other rules on the server) raises _Unsupported, unless already decided.
    """
    constants: dict[str, Any] = {"M": _MISSING, "C": _COMPOUND, "R": _refuse}
    source = (
        "def keep(doc):\n"
        "    get = doc.get\n"
        f"    return bool({_conjunction(spec, constants)})\n"
    )
    exec(compile(source, "<in-memory $match>", "exec"), constants)  # noqa: S102
    return constants["keep"]


def _constant(constants: dict[str, Any], value: Any) -> str:
    name = f"k{len(constants)}"
    constants[name] = value
    return name


def _conjunction(spec: Any, constants: dict[str, Any]) -> str:
    if type(spec) is not dict:
        raise _Unsupported("$match")
    parts: list[tuple[int, str]] = []
    for name, condition in spec.items():
        if name in ("$and", "$or"):
            if type(condition) is not list or not condition:
                raise _Unsupported(name)
            inner = [_conjunction(part, constants) for part in condition]
            joined = (" or " if name == "$or" else " and ").join(inner)
            parts.append((0 if name == "$or" else 5, f"({joined})"))
        else:
            parts.append(_predicate(_field_name(name), condition, constants))
    # The likeliest to refuse first (the order of a conjunction changes nothing
    # else): alternatives, a time window, a set of values, other ranges, the rest.
    parts.sort(key=lambda part: part[0])
    return "(" + " and ".join(text for _, text in parts) + ")" if parts else "True"


def _predicate(name: str, condition: Any, constants: dict[str, Any]) -> tuple:
    """One field's predicate as (rank, expression); the field is read once."""
    if (
        type(condition) is dict
        and condition
        and all(k.startswith("$") for k in condition)
    ):
        ops = list(condition.items())
    elif type(condition) in _COMPOUND:
        raise _Unsupported(name)
    else:
        ops = [("$eq", condition)]
    field = _constant(constants, name)
    read = f"(v := get({field}, M))"
    refused = f"(type(v) in C and R({field}))"  # False, unless it raises
    if len(ops) == 1 and ops[0][0] == "$eq" and ops[0][1] is not None:
        literal = _stored(ops[0][1])
        value = _constant(constants, literal)
        types = _constant(constants, _TYPES_OF[_kind(literal)])
        return 4, f"(({read} == {value} and type(v) in {types}) or {refused})"
    if len(ops) == 1 and ops[0][0] == "$in":
        by_type, with_null = _by_type(ops[0][1])
        sets = _constant(constants, by_type)
        return 2, (
            f"((v in s) if (s := {sets}.get(type({read}))) is not None "
            f"else ({refused} or (v is M and {with_null})))"
        )
    bounds = _bounds(ops)
    if bounds is not None:
        types, pairs = bounds
        tests = " and ".join(
            f"v {_SYMBOLS[op]} {_constant(constants, literal)}"
            for (op, _), (_, literal) in zip(ops, pairs, strict=True)
        )
        kinds = _constant(constants, types)
        rank = 1 if [op for op, _ in ops] == ["$gte", "$lt"] else 3
        return rank, f"(({tests}) if type({read}) in {kinds} else {refused})"
    checks = _constant(constants, [_condition(op, operand) for op, operand in ops])
    return 5, (f"(R({field}) if type({read}) in C else all(c(v) for c in {checks}))")


def _truthy(value: Any) -> bool:
    # The server's truth: false, null, missing and zero are false; all else true.
    return value not in (False, None, 0, _MISSING)


def _expression(expr: Any) -> Callable[[dict], Any]:
    """Compile an aggregation expression of the subset."""
    if type(expr) is str and expr.startswith("$"):
        name = _field_name(expr[1:])

        def field(doc: dict) -> Any:
            found = doc.get(name, _MISSING)
            if type(found) in (list, dict):
                raise _Unsupported(name)
            return found

        return field
    if type(expr) is not dict:
        literal = _stored(expr)
        return lambda doc: literal
    if len(expr) != 1:
        raise _Unsupported("an object expression")
    ((op, args),) = expr.items()
    if op == "$literal":
        literal = _stored(args)
        return lambda doc: literal
    if op == "$cond":
        if type(args) is dict and set(args) == {"if", "then", "else"}:
            args = [args["if"], args["then"], args["else"]]
        if type(args) is not list or len(args) != 3:
            raise _Unsupported("$cond")
        test, then, other = map(_expression, args)
        return lambda doc: then(doc) if _truthy(test(doc)) else other(doc)
    if op in ("$eq", "$ne", *_COMPARE):
        if type(args) is not list or len(args) != 2:
            raise _Unsupported(op)
        left, right = map(_expression, args)
        return lambda doc: _compared(op, left(doc), right(doc))
    raise _Unsupported(op)


def _compared(op: str, left: Any, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        raise _Unsupported("a comparison with a missing field")
    same = _kind(left) == _kind(right)
    if op == "$eq":
        return same and left == right
    if op == "$ne":
        return not (same and left == right)
    if not same:
        raise _Unsupported("a comparison across types")
    return _COMPARE[op](left, right)


def _group_key(expr: Any) -> Callable[[dict], Any]:
    """The ``_id`` of a group: an expression, or an object of expressions."""
    if type(expr) is dict and expr and not any(k.startswith("$") for k in expr):
        parts = [(key, _expression(value)) for key, value in expr.items()]

        def key(doc: dict) -> Any:
            return tuple(
                (name, _key_part(value))
                for name, part in parts
                if (value := part(doc)) is not _MISSING
            )

        return key
    if type(expr) is str and expr.startswith("$"):
        name = _field_name(expr[1:])

        def field_key(doc: dict) -> Any:
            value = doc.get(name)  # a missing field groups with null
            kind = _KINDS.get(type(value))
            if kind is None:
                raise _Unsupported(name)
            return (kind, value)

        return field_key
    single = _expression(expr)
    return lambda doc: _key_part(single(doc))


def _key_part(value: Any) -> Any:
    # 1 and True are equal in Python; the server groups them apart. A missing
    # field groups with null.
    if value is _MISSING:
        value = None
    return (_kind(value), value)


def _key_value(key: Any) -> Any:
    if type(key) is tuple and key and type(key[0]) is str:
        return key[1]  # (kind, value)
    return {name: part[1] for name, part in key}


class _Accumulator:
    """One ``{"$sum" | "$min" | "$max": expression}`` of a group or bucket."""

    def __init__(self, spec: Any) -> None:
        if type(spec) is not dict or len(spec) != 1:
            raise _Unsupported("an accumulator")
        ((self.op, expr),) = spec.items()
        if self.op not in ("$sum", "$min", "$max"):
            raise _Unsupported(self.op)
        self.expr = _expression(expr)
        fast = _summing(expr) if self.op == "$sum" else None
        self.add = fast or self.accumulate

    def start(self) -> Any:
        return 0 if self.op == "$sum" else _MISSING

    def accumulate(self, total: Any, doc: dict) -> Any:
        value = self.expr(doc)
        if self.op == "$sum":
            # Only numbers count: text, dates, null and booleans are skipped.
            return total + value if type(value) in (int, float) else total
        if value is None or value is _MISSING:
            return total
        if total is _MISSING:
            return value
        if _kind(value) != _kind(total):
            raise _Unsupported("$min/$max across types")
        better = value < total if self.op == "$min" else value > total
        return value if better else total

    @staticmethod
    def end(total: Any) -> Any:
        return None if total is _MISSING else total


def _summing(expr: Any) -> Callable[[Any, dict], Any] | None:
    """The reports' sums, each one function (the generic path calls one per
    operator per document): a count, a field's sum, a count of a field's value.
    """
    if type(expr) is int:
        return lambda total, doc: total + expr
    if type(expr) is str and expr.startswith("$"):
        name = _field_name(expr[1:])

        def add_field(total: Any, doc: dict) -> Any:
            value = doc.get(name)
            if type(value) in (int, float):
                return total + value
            if type(value) in _COMPOUND:
                raise _Unsupported(name)
            return total  # only numbers count: not text, dates, null or booleans

        return add_field
    condition = expr.get("$cond") if type(expr) is dict and len(expr) == 1 else None
    if type(condition) is dict and set(condition) == {"if", "then", "else"}:
        condition = [condition["if"], condition["then"], condition["else"]]
    if type(condition) is not list or len(condition) != 3:
        return None
    test, then, other = condition
    equal = test.get("$eq") if type(test) is dict and len(test) == 1 else None
    if (
        type(then) is not int
        or type(other) is not int
        or type(equal) is not list
        or len(equal) != 2
        or type(equal[0]) is not str
        or not equal[0].startswith("$")
        or type(equal[1]) not in _KINDS
        or (type(equal[1]) is str and equal[1].startswith("$"))
    ):
        return None
    name, literal = _field_name(equal[0][1:]), _stored(equal[1])
    kind = _kind(literal)

    def add_if_equal(total: Any, doc: dict) -> Any:
        value = doc.get(name, _MISSING)
        found = _KINDS.get(type(value))
        if found is None:
            raise _Unsupported(name)  # missing, an array, a sub-document
        return total + (then if found == kind and value == literal else other)

    return add_if_equal


def _accumulators(spec: Any) -> dict[str, _Accumulator]:
    if type(spec) is not dict:
        raise _Unsupported("accumulators")
    return {_field_name(name): _Accumulator(acc) for name, acc in spec.items()}


def _ended(fields: dict[str, _Accumulator], totals: list) -> dict:
    return {
        name: acc.end(total)
        for (name, acc), total in zip(fields.items(), totals, strict=True)
    }


def _group(docs: Any, spec: Any) -> list[dict]:
    if type(spec) is not dict or "_id" not in spec:
        raise _Unsupported("$group")
    key_of = _group_key(spec["_id"])
    fields = _accumulators({k: v for k, v in spec.items() if k != "_id"})
    groups: dict[Any, list] = {}
    steps = list(enumerate(acc.add for acc in fields.values()))
    for doc in docs:
        key = key_of(doc)
        totals = groups.get(key)
        if totals is None:
            totals = groups[key] = [acc.start() for acc in fields.values()]
        for index, step in steps:
            totals[index] = step(totals[index], doc)
    return [
        {"_id": _key_value(key), **_ended(fields, totals)}
        for key, totals in groups.items()
    ]


def _bucket(docs: Any, spec: Any) -> list[dict]:
    if (
        type(spec) is not dict
        or not {"groupBy", "boundaries"} <= set(spec)
        or (set(spec) - {"groupBy", "boundaries", "default", "output"})
    ):
        raise _Unsupported("$bucket")
    value_of = _expression(spec["groupBy"])
    bounds = [_stored(b) for b in spec["boundaries"]]
    kinds = {_kind(b) for b in bounds}
    if len(bounds) < 2 or len(kinds) != 1 or bounds != sorted(set(bounds)):
        raise _Unsupported("$bucket boundaries")
    (kind,) = kinds
    has_default = "default" in spec
    default = _stored(spec.get("default"))
    fields = _accumulators(spec.get("output", {"count": {"$sum": 1}}))
    totals: dict[int, list] = {}
    steps = list(enumerate(acc.add for acc in fields.values()))
    for doc in docs:
        value = value_of(doc)
        if _KINDS.get(type(value)) == kind and bounds[0] <= value < bounds[-1]:
            index = bisect.bisect_right(bounds, value) - 1
        elif has_default:
            index = len(bounds)  # after every boundary: the default bucket
        else:
            raise _Unsupported("a value outside the buckets")  # the server fails
        found = totals.get(index)
        if found is None:
            found = totals[index] = [acc.start() for acc in fields.values()]
        for position, step in steps:
            found[position] = step(found[position], doc)
    return [
        {"_id": bounds[index] if index < len(bounds) else default,
         **_ended(fields, found)}
        for index, found in sorted(totals.items())
    ]  # fmt: skip


def _count(docs: Any, name: Any) -> list[dict]:
    _field_name(name)
    counted = sum(1 for _doc in docs)
    return [{name: counted}] if counted else []


def _facet(docs: Any, spec: Any) -> list[dict]:
    if type(spec) is not dict or not spec:
        raise _Unsupported("$facet")
    given = list(docs)
    return [{_field_name(name): _run(given, sub) for name, sub in spec.items()}]


_STAGES = {"$group": _group, "$bucket": _bucket, "$count": _count, "$facet": _facet}


def _run(documents: Any, pipeline: Any) -> list[dict]:
    """Run a (sub-)pipeline: an optional first ``$match``, then figure stages."""
    if type(pipeline) is not list:
        raise _Unsupported("pipeline")
    stages = list(pipeline)
    if any(type(stage) is not dict or len(stage) != 1 for stage in stages):
        raise _Unsupported("a stage")
    docs: Any = documents
    if stages and "$match" in stages[0]:
        docs = filter(_match(stages.pop(0)["$match"]), docs)
    if not stages:
        raise _Unsupported("a pipeline of only $match")  # documents, not figures
    for stage in stages:
        ((name, spec),) = stage.items()
        if name not in _STAGES:
            raise _Unsupported(name)
        docs = _STAGES[name](docs, spec)
    return docs


def _documents_of(collection: Any) -> Any:
    """The stored documents of a mongomock collection, read in place.

    Its ``documents`` property takes the store's reader lock per call and
    yields each document through a generator; every call here already holds
    MEMORY_LOCK, so the dictionary's own view does (a third of a scan's time).
    """
    return collection._store._documents.values()


def _aggregate(documents: Any, pipeline: Any) -> list[dict]:
    """Answer ``pipeline`` over stored ``documents`` (read, never changed).

    :raises _Unsupported: a stage, operator or document outside the subset.
    """
    # The groups and facets allocate as they go; each allocation may trigger
    # the cyclic collector, which then walks every stored document of every
    # collection (a quarter of a second a time with a 200,000-entry journal).
    # What the evaluation allocates is freed by reference counting alone.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return [_shown(doc) for doc in _run(documents, pipeline)]
    except TypeError as error:  # a comparison the data did not allow
        raise _Unsupported(str(error)) from error
    finally:
        if collecting:
            gc.enable()


def _aggregate_agrees(collection: Any) -> bool:
    """Tell whether :func:`_aggregate` answers as mongomock does on sample data."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    collection.insert_many(
        [
            {"_id": ObjectId(), "k": k, "v": v, "at": at + timedelta(hours=h),
             "flag": k == "b"}
            for k, v, h in [("a", 1, 0), ("b", 2, 30), ("a", 5, 50), (None, 7, 1)]
        ]
    )  # fmt: skip
    bounds = [at, at + timedelta(days=1), at + timedelta(days=3)]
    pipelines = [
        [{"$match": {"k": {"$in": ["a", "b"]}, "at": {"$gte": at}}},
         {"$group": {"_id": "$k", "n": {"$sum": 1}, "v": {"$sum": "$v"},
                     "last": {"$max": "$at"}}}],
        [{"$match": {"$or": [{"k": None}, {"v": {"$gt": 4}}]}},
         {"$group": {"_id": None, "hi": {"$sum": {
             "$cond": [{"$gte": ["$v", 5]}, "$v", 0]}}}}],
        [{"$match": {"at": {"$lt": bounds[-1]}}},
         {"$bucket": {"groupBy": "$at", "boundaries": bounds,
                      "output": {"b": {"$sum": {"$cond": [
                          {"$eq": ["$k", "b"]}, 1, 0]}}}}}],
        [{"$match": {"flag": False}}, {"$group": {"_id": "$k"}}, {"$count": "n"}],
        [{"$match": {"v": {"$lte": 5}}},
         {"$facet": {"by_k": [{"$group": {"_id": {"k": "$k"}, "n": {"$sum": 1}}}],
                     "big": [{"$match": {"v": {"$ne": 1}}}, {"$count": "n"}]}}],
    ]  # fmt: skip

    def canonical(docs: list[dict]) -> list[str]:
        return sorted(json.dumps(doc, sort_keys=True, default=str) for doc in docs)

    for pipeline in pipelines:
        ours = _aggregate(_documents_of(collection), pipeline)
        if canonical(ours) != canonical(list(collection.aggregate(pipeline))):
            return False
    return True


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
