"""Model classes, one per collection, plus the ledger that moves money."""

from datetime import UTC, datetime

from bson import ObjectId
from bson.errors import InvalidId

# Where recovery's fence starts: before any entry can exist.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The server error code of an insert whose unique key exists already.
DUPLICATE_KEY = 11000


class AlreadyTaken(Exception):
    """A unique key the write needs is held by another document already.

    The models' way of saying so, so the core needs nothing of the driver.
    """


def utc_now() -> datetime:
    """Return the current UTC time at BSON's millisecond precision."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def to_object_id(value: str | ObjectId) -> ObjectId | None:
    """Parse an id from the outside world; None when it is not an ObjectId."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


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
