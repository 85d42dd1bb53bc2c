"""The in-memory backend's aggregation evaluator answers as mongomock does.

app/db.py answers the pipelines of a small subset from the stored documents
(mongomock copies the whole collection first: minutes for the reports on
200,000 entries) and hands every other pipeline, or one meeting a document
outside the subset, to mongomock. Here random documents and pipelines of the
subset go through both; wherever the evaluator answers, it must answer what
mongomock answers.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.db import (
    _aggregate,
    _documents_of,
    _fast_paths,
    _Unsupported,
    memory_client,
)

AT = datetime(2026, 3, 1, tzinfo=UTC)
DATES = [AT + timedelta(hours=h) for h in (0, 5, 24, 30, 71)]
IDS = [ObjectId() for _ in range(3)]
# No booleans: mongomock compares them as Python does (true == 1, and $sum
# counts true), the server (and the evaluator) as a type of their own; that
# rule is tested on its own below.
SCALARS = st.one_of(
    st.sampled_from(["a", "b", "", "posted"]),
    st.integers(-2, 3),
    st.sampled_from([0.5, 1.0]),
    st.none(),
    st.sampled_from(DATES),
    st.sampled_from(IDS),
)
MISSING = object()
VALUES = st.one_of(SCALARS, st.just(MISSING), st.just([1, "a"]))
SUMMED = st.one_of(
    st.integers(-2, 3), st.sampled_from([0.5, "a", None]), st.just(MISSING)
)


@st.composite
def documents(draw):
    docs = []
    for _ in range(draw(st.integers(0, 12))):
        doc = {"_id": ObjectId()}
        fields = {
            "a": VALUES,
            "b": SUMMED,
            "t": st.sampled_from([*DATES, MISSING]),
        }
        for name, values in fields.items():
            value = draw(values)
            if value is not MISSING:
                doc[name] = value
        docs.append(doc)
    return docs


def condition():
    literal = SCALARS
    return st.one_of(
        literal,
        st.builds(lambda v: {"$eq": v}, literal),
        st.builds(lambda v: {"$ne": v}, literal),
        st.builds(lambda vs: {"$in": vs}, st.lists(literal, max_size=3)),
        st.builds(lambda vs: {"$nin": vs}, st.lists(literal, max_size=3)),
        st.builds(lambda v: {"$gt": v}, st.integers(-2, 3)),
        st.builds(lambda lo, hi: {"$gte": lo, "$lt": hi},
                  st.sampled_from(DATES), st.sampled_from(DATES)),
        st.builds(lambda v: {"$exists": v}, st.booleans()),
    )  # fmt: skip


FIELD_FILTER = st.dictionaries(
    st.sampled_from(["a", "b", "t"]), condition(), max_size=2
)
FILTERS = st.one_of(
    FIELD_FILTER,
    st.builds(
        lambda parts: {"$or": parts}, st.lists(FIELD_FILTER, min_size=1, max_size=2)
    ),
)
SUMS = st.one_of(
    st.sampled_from(["$b", 1, 0]),
    st.builds(
        lambda op, left, right, then: {"$cond": [{op: [left, right]}, then, 0]},
        st.sampled_from(["$eq", "$ne", "$gte", "$lt"]),
        st.sampled_from(["$a", "$b"]),
        SCALARS,
        st.sampled_from([1, "$b"]),
    ),
)
EXPRESSIONS = st.one_of(
    st.sampled_from(["$a", "$b", "$t", 1, 0]),
    st.builds(
        lambda op, left, right, then: {"$cond": [{op: [left, right]}, then, 0]},
        st.sampled_from(["$eq", "$ne", "$gte", "$lt"]),
        st.sampled_from(["$a", "$b"]),
        SCALARS,
        st.sampled_from([1, "$b"]),
    ),
)
ACCUMULATORS = st.dictionaries(
    st.sampled_from(["n", "s", "hi", "lo"]),
    st.one_of(
        st.builds(lambda expr: {"$sum": expr}, SUMS),
        st.builds(lambda op, expr: {op: expr},
                  st.sampled_from(["$max", "$min"]), EXPRESSIONS),
    ),
    min_size=1, max_size=3,
)  # fmt: skip
GROUP_KEYS = st.sampled_from([None, "$a", "$t", {"a": "$a", "b": "$b"}, "x"])
STAGES = st.one_of(
    st.builds(
        lambda key, acc: [{"$group": {"_id": key, **acc}}], GROUP_KEYS, ACCUMULATORS
    ),
    st.builds(lambda key: [{"$group": {"_id": key}}, {"$count": "n"}], GROUP_KEYS),
    st.just([{"$count": "n"}]),
    st.builds(
        lambda acc, default: [{"$bucket": {
            "groupBy": "$t", "boundaries": DATES[:4], "output": acc,
            **({"default": default} if default else {})}}],
        ACCUMULATORS, st.sampled_from([None, "other"]),
    ),
    st.builds(
        lambda acc, where: [{"$facet": {
            "all": [{"$group": {"_id": "$a", **acc}}],
            "some": [{"$match": where}, {"$count": "n"}]}}],
        ACCUMULATORS, FIELD_FILTER,
    ),
)  # fmt: skip


def plain(value):
    """Dates as UTC text (mongomock's tzinfo is bson's, the evaluator's UTC)."""
    if isinstance(value, datetime):
        return "date:" + value.astimezone(UTC).isoformat()
    return repr(value)


def canonical(docs: list[dict]) -> list[str]:
    """Documents in no particular order (as groups come), each as sorted JSON;
    a facet's list likewise. mongomock's ``$count`` of no documents is
    ``{"n": 0}``; the server's is no document at all (the evaluator's too)."""
    if docs == [{"n": 0}]:
        docs = []
    return sorted(
        json.dumps(
            {k: canonical(v) if isinstance(v, list) else v for k, v in doc.items()},
            sort_keys=True,
            default=plain,
        )
        for doc in docs
    )


def both(docs: list[dict], pipeline: list) -> tuple[list[dict], list[dict]]:
    """The evaluator's answer and mongomock's (an example neither rejects)."""
    collection = memory_client()["t"]["t"]
    if docs:
        collection.insert_many([dict(doc) for doc in docs])
    stored = list(_documents_of(collection))
    # On no documents mongomock's $group still answers one group (and $count
    # a zero); the server answers nothing, as the evaluator does (tested below).
    try:
        assume(collection.count_documents(pipeline[0]["$match"]) > 0)
    except _Unsupported:
        raise
    except Exception:  # noqa: BLE001 - mongomock refuses the filter itself
        assume(False)
    try:
        ours = _aggregate(stored, pipeline)
    except _Unsupported:
        assume(False)
    try:
        theirs = list(collection.aggregate(pipeline))
    except Exception:  # noqa: BLE001 - mongomock refuses it: nothing to compare
        assume(False)
    # Nothing was changed in the store.
    assert list(_documents_of(collection)) == stored
    return ours, theirs


def test_the_evaluator_is_on():
    assert _fast_paths().aggregate


@given(docs=documents(), where=FILTERS, stages=STAGES)
@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_the_evaluator_answers_as_mongomock_does(docs, where, stages):
    ours, theirs = both(docs, [{"$match": where}, *stages])
    assert canonical(ours) == canonical(theirs)


REPORT_PIPELINES = [
    # TransactionModel.month_figures, UserModel.customer_counts,
    # LoginAttemptModel.outcomes_by_period, LoanModel.disbursed_between,
    # ReviewModel.count_opened.
    [{"$match": {"a": {"$ne": "x"}, "$or": [
        {"b": {"$in": [1, 2, 3]}, "t": {"$gte": DATES[1], "$lt": DATES[3]}},
        {"a": {"$in": ["a"]}, "t": {"$lt": DATES[2]}}]}},
     {"$facet": {"by_a": [{"$match": {"t": {"$gte": DATES[1], "$lt": DATES[3]}}},
                          {"$group": {"_id": "$a", "count": {"$sum": 1},
                                      "cents": {"$sum": "$b"}}}],
                 "who": [{"$match": {"b": {"$in": [1, 2]}}}, {"$group": {"_id": "$a"}},
                         {"$count": "n"}],
                 "owed": [{"$match": {"a": {"$in": ["a"]}, "t": {"$lt": DATES[2]}}},
                          {"$group": {"_id": None, "s": {"$sum": "$b"}}}]}}],
    [{"$match": {"a": "posted", "t": {"$lt": DATES[3]}}},
     {"$group": {"_id": None, "total": {"$sum": 1}, "new": {"$sum": {"$cond": [
         {"$gte": ["$t", DATES[1]]}, 1, 0]}}}}],
    [{"$match": {"t": {"$gte": DATES[0], "$lt": DATES[4]}}},
     {"$bucket": {"groupBy": "$t", "boundaries": DATES,
                  "output": {o: {"$sum": {"$cond": [{"$eq": ["$a", o]}, 1, 0]}}
                             for o in ("a", "b")}}}],
    [{"$match": {"t": {"$gte": DATES[1], "$lt": DATES[3]}}}, {"$count": "n"}],
]  # fmt: skip


@pytest.mark.parametrize("pipeline", REPORT_PIPELINES)
def test_the_reports_pipelines_are_answered_by_the_evaluator(pipeline):
    docs = [
        {"_id": ObjectId(), "a": a, "b": b, "t": t}
        for a in ("a", "b", "posted")
        for b in (1, 2, 3)
        for t in DATES
    ]
    collection = memory_client()["t"]["t"]
    collection.insert_many(docs)
    ours = _aggregate(_documents_of(collection), pipeline)
    assert ours, "the figures are not empty"
    assert canonical(ours) == canonical(list(collection.aggregate(pipeline)))


def test_no_documents_make_no_group_and_no_count():
    """As the server answers (mongomock would give a group of zeros, and n: 0)."""
    empty = [{"$match": {"a": 1}}]
    assert _aggregate([], [*empty, {"$group": {"_id": None, "n": {"$sum": 1}}}]) == []
    assert _aggregate([], [*empty, {"$count": "n"}]) == []


def test_booleans_are_a_type_of_their_own_as_on_the_server():
    docs = [{"_id": 1, "a": True, "b": True}, {"_id": 2, "a": 1, "b": 2}]
    count = [{"$count": "n"}]
    assert _aggregate(docs, [{"$match": {"a": 1}}, *count]) == [{"n": 1}]
    assert _aggregate(docs, [{"$match": {"a": {"$in": [True]}}}, *count]) == [{"n": 1}]
    assert _aggregate(docs, [{"$match": {"a": {"$gte": 0}}}, *count]) == [{"n": 1}]
    summed = _aggregate(docs, [{"$group": {"_id": None, "s": {"$sum": "$b"}}}])
    assert summed == [{"_id": None, "s": 2}]  # $sum skips what is not a number
    grouped = _aggregate(docs, [{"$group": {"_id": "$a", "n": {"$sum": 1}}}])
    assert sorted(map(repr, grouped)) == [
        "{'_id': 1, 'n': 1}",
        "{'_id': True, 'n': 1}",
    ]


@pytest.mark.parametrize(
    "pipeline",
    [
        [{"$match": {"a": {"$regex": "^a"}}}, {"$count": "n"}],  # an operator
        [{"$sort": {"a": 1}}],  # a stage
        [{"$match": {"a": 1}}],  # documents, not figures
        [{"$group": {"_id": {"$toLower": "$a"}}}],  # an expression
    ],
)
def test_what_the_evaluator_does_not_know_goes_to_mongomock(pipeline):
    with pytest.raises(_Unsupported):
        _aggregate([{"_id": 1, "a": "x"}], pipeline)


def test_an_array_where_the_filter_looks_goes_to_mongomock():
    with pytest.raises(_Unsupported):
        _aggregate([{"_id": 1, "a": ["x"]}], [{"$match": {"a": "y"}}, {"$count": "n"}])


def test_the_locked_collection_answers_through_the_evaluator(app):
    from app.db import get_db

    with app.app_context():
        collection = get_db()["scratch"]
        collection.insert_many([{"k": "a", "v": 2}, {"k": "a", "v": 3}, {"k": ["x"]}])
        found = collection.aggregate([{"$match": {"k": "a"}}, {"$group": {
            "_id": "$k", "v": {"$sum": "$v"}}}])  # fmt: skip
        assert found == [{"_id": "a", "v": 5}]
        # A document the evaluator cannot judge: mongomock answers, the same.
        assert collection.aggregate([{"$match": {"k": "x"}}, {"$count": "n"}]) == [
            {"n": 1}
        ]
