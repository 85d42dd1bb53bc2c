"""Model classes, one per collection, plus the ledger that moves money."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import BulkWriteError

# Where recovery's fence starts: before any entry can exist.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The server error code of an insert whose unique key exists already.
DUPLICATE_KEY = 11000


class AlreadyTaken(Exception):
    """A unique key the write needs is held by another document already.

    The models' way of saying so, so the core needs nothing of the driver.
    """


# How far the clock of this thread (context) runs from the real one: zero but
# inside :func:`clock_from`, which the demo-data seeder uses to write a history
# that happened over months. The clock still ticks there, so every wait and
# watermark that needs time to pass keeps working.
_clock_offset: ContextVar[timedelta] = ContextVar("clock_offset", default=timedelta(0))


def utc_now() -> datetime:
    """Return the current UTC time at BSON's millisecond precision."""
    now = datetime.now(UTC) + _clock_offset.get()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@contextmanager
def clock_from(moment: datetime) -> Iterator[None]:
    """Run the block with this context's clock starting at ``moment`` (aware)."""
    token = _clock_offset.set(moment - datetime.now(UTC))
    try:
        yield
    finally:
        _clock_offset.reset(token)


def to_object_id(value: str | ObjectId) -> ObjectId | None:
    """Parse an id from the outside world; None when it is not an ObjectId."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def insert_new(collection, docs: list[dict]) -> int:
    """Insert documents keyed by ids that may be taken already; count the new ones.

    For documents derived from another record and keyed by its id: one whose
    ``_id`` exists is the same document written before (by another writer, a
    retry), and the duplicate is ignored. Any other write error is raised.
    """
    if not docs:
        return 0
    try:
        return len(collection.insert_many(docs, ordered=False).inserted_ids)
    except BulkWriteError as error:
        errors = error.details["writeErrors"]
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return len(docs) - len(errors)


def time_window(field: str, start: datetime | None, end: datetime | None) -> dict:
    """Filter ``field`` to [start, end); either bound may be absent."""
    window = {}
    if start is not None:
        window["$gte"] = start
    if end is not None:
        window["$lt"] = end
    return {field: window} if window else {}


def keyset_page(
    collection, query: dict, limit: int, after: tuple[datetime, ObjectId] | None
) -> tuple[list[dict], bool]:
    """Return one page newest first, resuming strictly after ``after``.

    Keyset pagination on (created_at, _id): a page costs the same however much
    history lies behind it, and concurrent inserts cause no duplicates or gaps.
    """
    if after is not None:
        created_at, oid = after
        query = {
            "$and": [
                query,
                {
                    "$or": [
                        {"created_at": {"$lt": created_at}},
                        {"created_at": created_at, "_id": {"$lt": oid}},
                    ]
                },
            ]
        }
    docs = list(
        collection.find(query, sort=[("created_at", -1), ("_id", -1)], limit=limit + 1)
    )
    return docs[:limit], len(docs) > limit
