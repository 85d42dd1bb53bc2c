"""Record the filters and sorts the app sends to its collections, and judge each
against the indexes its models declare (for tests/test_indexes.py).

:func:`install` puts a :class:`RecordingDatabase` in front of an app's database,
as tests/faults.py does for crashes. Every query method (``find``, ``find_one``,
``update_one``, ``count_documents``, ``bulk_write`` ...) is logged with its
filter, its sort and the app function that issued it, then run unchanged.

:func:`serving_index` decides whether a declared index serves one query on a real
MongoDB, by the ESR rule (equality, sort, range):

- the filter is put in disjunctive normal form; every ``$or`` branch (with the
  predicates around it) must be served, as the planner's OR stage needs;
- in a branch, an index's leading keys must cover every equality field
  (``$eq``, a plain value, ``$in``), then the sort keys follow in order, all in
  the index's direction or all reversed (a sort key the branch pins by equality
  drops out), then at most one range field (``$gt``/``$gte``/``$lt``/``$lte``,
  ``$type``, ``$exists: true`` on a partial index that implies it); a range on a
  sort key is bounded by the sort part;
- predicates no index bound can use (``$ne``, ``$nin``, ``$size``, ``$exists:
  false`` ...) are left to the fetch, as the server does;
- a partial index is a candidate only for a branch that repeats its
  ``partialFilterExpression`` predicates;
- equality on every key of a unique index (``_id`` among them) is a point
  look-up, served whatever else the filter says;
- an empty branch without a sort is a collection scan: never served.
"""

import copy
import itertools
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APP_DIR = str(Path(__file__).resolve().parent.parent / "app")
# The adapter, and app.models' shared helpers (keyset_page): the caller named
# is the model method that asked.
SKIPPED_FILES = {
    __file__,
    str(Path(APP_DIR) / "db.py"),
    str(Path(APP_DIR) / "models" / "__init__.py"),
}

EQUALITY_OPS = {"$eq", "$in"}
RANGE_OPS = {"$gt", "$gte", "$lt", "$lte", "$type"}
# Values of these operators are part of a query's shape, not data.
LITERAL_OPS = {"$exists", "$type", "$size"}
UNINDEXABLE_TOP = {"$nor", "$expr", "$where", "$text", "$comment"}


@dataclass
class Query:
    """One call that reads or targets documents by a filter."""

    collection: str
    operation: str
    filter: dict
    sort: tuple[tuple[str, int], ...]
    caller: str  # app module and function, e.g. app.models.ledger_recovery.recover

    @property
    def shape(self) -> str:
        """The filter with its data replaced by ``?``: what a code path sends."""
        return json.dumps(_shape(self.filter), sort_keys=True)

    def key(self) -> tuple:
        return (self.collection, self.operation, self.shape, self.sort, self.caller)

    def describe(self) -> str:
        sort = f" sort={list(self.sort)}" if self.sort else ""
        return (
            f"{self.collection}.{self.operation}({self.shape}){sort} from {self.caller}"
        )


@dataclass
class Recording:
    """The queries seen, in order, and the first of each distinct shape."""

    queries: list[Query] = field(default_factory=list)

    def distinct(self) -> list[Query]:
        seen: dict[tuple, Query] = {}
        for query in self.queries:
            seen.setdefault(query.key(), query)
        return list(seen.values())


def _shape(value: Any, operator: str | None = None) -> Any:
    if operator in LITERAL_OPS:
        return value
    if isinstance(value, dict):
        return {k: _shape(v, k) for k, v in value.items()}
    if isinstance(value, list) and operator in ("$and", "$or", "$nor"):
        return [_shape(v) for v in value]
    return "?"


def _caller() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(APP_DIR) and filename not in SKIPPED_FILES:
            return f"{frame.f_globals.get('__name__')}.{frame.f_code.co_name}"
        frame = frame.f_back
    return "<outside app>"


def _sort(sort: Any) -> tuple[tuple[str, int], ...]:
    if not sort:
        return ()
    if isinstance(sort, str):
        return ((sort, 1),)
    if isinstance(sort, dict):
        sort = sort.items()
    return tuple((name, int(direction)) for name, direction in sort)


# Where the filter and the sort travel in each query method's arguments.
FILTER_FIRST = {
    "find",
    "find_one",
    "find_one_and_update",
    "find_one_and_replace",
    "find_one_and_delete",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
    "count_documents",
}


class RecordingCollection:
    """A collection that logs each query's filter and sort, then runs it."""

    def __init__(self, name: str, collection: Any, recording: Recording) -> None:
        self._name = name
        self._collection = collection
        self._recording = recording

    def _log(self, operation: str, filter: Any, sort: Any = None) -> None:
        filter = {} if filter is None else filter
        if not isinstance(filter, dict):  # find_one(<id>)
            filter = {"_id": filter}
        self._recording.queries.append(
            Query(self._name, operation, copy.deepcopy(filter), _sort(sort), _caller())
        )

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._collection, attr)
        if attr in FILTER_FIRST:

            def query(*args: Any, **kwargs: Any) -> Any:
                filter = args[0] if args else kwargs.get("filter")
                self._log(attr, filter, kwargs.get("sort"))
                return target(*args, **kwargs)

            return query
        if attr == "distinct":

            def distinct(key: str, filter: Any = None, **kwargs: Any) -> Any:
                self._log(attr, filter)
                return target(key, filter, **kwargs)

            return distinct
        if attr == "aggregate":

            def aggregate(pipeline: list, *args: Any, **kwargs: Any) -> Any:
                match = pipeline[0].get("$match", {}) if pipeline else {}
                following = pipeline[1] if len(pipeline) > 1 else {}
                self._log(attr, match, following.get("$sort"))
                return target(pipeline, *args, **kwargs)

            return aggregate
        if attr == "bulk_write":

            def bulk_write(requests: list, *args: Any, **kwargs: Any) -> Any:
                for request in requests:
                    filter = getattr(request, "_filter", None)
                    if filter is not None:
                        self._log(f"bulk_write:{type(request).__name__}", filter)
                return target(requests, *args, **kwargs)

            return bulk_write
        return target


class RecordingDatabase:
    """A database handing out recording collections (see tests/faults.py)."""

    def __init__(self, database: Any, recording: Recording) -> None:
        self._database = database
        self.recording = recording

    def __getitem__(self, name: str) -> RecordingCollection:
        return RecordingCollection(name, self._database[name], self.recording)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)


def install(app, recording: Recording | None = None) -> Recording:
    """Record every query of ``app`` from now on; return the recording."""
    recording = recording or Recording()
    database = app.extensions["mongo_db"]
    raw = database._database if isinstance(database, RecordingDatabase) else database
    app.extensions["mongo_db"] = RecordingDatabase(raw, recording)
    return recording


# -- judging a query against the indexes -----------------------------------


@dataclass(frozen=True)
class Index:
    """A declared index, as index_information() reports it."""

    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    partial: dict | None = None

    @classmethod
    def from_info(cls, name: str, info: dict, identifying: bool = False) -> "Index":
        return cls(
            name,
            tuple((k, int(d)) for k, d in info["key"]),
            bool(info.get("unique")) or name == "_id_" or identifying,
            info.get("partialFilterExpression"),
        )


def declared_indexes(collection: Any, identifying: Iterable[tuple] = ()) -> list[Index]:
    """The indexes of ``collection`` (an in-memory or real one), ``_id`` first.

    ``identifying`` lists key patterns unique by construction without a unique
    index: an index on one of them counts as unique (a point look-up).
    """
    info = collection.index_information()
    identifying = {tuple(keys) for keys in identifying}
    indexes = [
        Index.from_info(name, spec, tuple(k for k, _ in spec["key"]) in identifying)
        for name, spec in info.items()
    ]
    if not any(index.name == "_id_" for index in indexes):
        indexes.insert(0, Index("_id_", (("_id", 1),), unique=True))
    return indexes


@dataclass
class Branch:
    """One conjunction of predicates: ``field -> [(operator, value), ...]``."""

    predicates: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)
    scans: bool = False  # holds a predicate no index can bound ($nor, $expr ...)

    def add(self, name: str, op: str, value: Any) -> None:
        self.predicates.setdefault(name, []).append((op, value))

    def merged(self, other: "Branch") -> "Branch":
        result = Branch(copy.deepcopy(self.predicates), self.scans or other.scans)
        for name, preds in other.predicates.items():
            for op, value in preds:
                result.add(name, op, value)
        return result

    def equality(self) -> set[str]:
        return {
            name
            for name, preds in self.predicates.items()
            if any(op in EQUALITY_OPS for op, _ in preds)
        }

    def ranges(self, index: Index) -> set[str]:
        """Fields the branch bounds by a range ``index`` can scan.

        ``$exists: true`` bounds nothing on a plain index (a missing field is
        indexed as null); on a partial index that requires it, every key counts.
        """
        required = _partial_branch(index).predicates
        found = set()
        for name, preds in self.predicates.items():
            for op, value in preds:
                exists = op == "$exists" and value is True
                if op in RANGE_OPS or (
                    exists and (op, value) in required.get(name, [])
                ):
                    found.add(name)
        return found - self.equality()


def branches(filter: dict) -> list[Branch]:
    """Put a filter in disjunctive normal form: a list of conjunctions."""
    result = [Branch()]
    for name, value in filter.items():
        if name == "$and":
            for part in value:
                result = [a.merged(b) for a in result for b in branches(part)]
        elif name == "$or":
            alternatives = list(
                itertools.chain.from_iterable(branches(part) for part in value)
            )
            result = [a.merged(b) for a in result for b in alternatives]
        elif name in UNINDEXABLE_TOP:
            for branch in result:
                branch.scans = True
        else:
            for branch in result:
                _add_field(branch, name, value)
    return result


def _add_field(branch: Branch, name: str, value: Any) -> None:
    operators = (
        isinstance(value, dict) and value and all(key.startswith("$") for key in value)
    )
    if not operators:
        branch.add(name, "$eq", value)
        return
    for op, operand in value.items():
        branch.add(name, op, operand)


def _partial_branch(index: Index) -> Branch:
    """The predicates of a partial index's filter (none for a full index)."""
    wanted = Branch()
    for part in branches(index.partial or {}):
        wanted = wanted.merged(part)
    return wanted


def _implies(branch: Branch, index: Index) -> bool:
    """Tell whether every document the branch matches is in the (partial) index."""
    wanted = _partial_branch(index)
    return all(
        pred in branch.predicates.get(name, [])
        for name, preds in wanted.predicates.items()
        for pred in preds
    )


def serves(index: Index, branch: Branch, sort: tuple[tuple[str, int], ...]) -> bool:
    """Tell whether ``index`` serves one conjunction with ``sort`` (ESR).

    ``index.unique`` also stands for keys unique by construction elsewhere (see
    :func:`declared_indexes`'s ``identifying``).
    """
    if not _implies(branch, index):
        return False
    equality = branch.equality()
    index_fields = [name for name, _ in index.keys]
    if index.unique and set(index_fields) <= equality:
        return True  # a point look-up: the rest is checked on one document
    keys = list(index.keys)
    position = 0
    # A field the partial filter fixes by equality has one value in the index.
    pinned = equality - _partial_branch(index).equality()
    while position < len(keys) and keys[position][0] in pinned:
        pinned.discard(keys[position][0])
        position += 1
    if pinned:
        return False  # an equality field the leading keys do not cover
    wanted = [(name, d) for name, d in sort if name not in equality]
    sign = 0
    for name, direction in wanted:
        if position >= len(keys) or keys[position][0] != name:
            return False
        step = 1 if keys[position][1] == direction else -1
        if sign and step != sign:
            return False
        sign = step
        position += 1
    ranges = branch.ranges(index) - {name for name, _ in wanted}
    if len(ranges) > 1:
        return False
    if ranges:
        if position >= len(keys) or keys[position][0] not in ranges:
            return False
        position += 1
    return position > 0 and not branch.scans


def serving_index(query: Query, indexes: list[Index]) -> list[str] | None:
    """Name, per ``$or`` branch, an index that serves it; None if one has none."""
    names = []
    for branch in branches(query.filter):
        match = next(
            (index.name for index in indexes if serves(index, branch, query.sort)),
            None,
        )
        if match is None:
            return None
        names.append(match)
    return names
