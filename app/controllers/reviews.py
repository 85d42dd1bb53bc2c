"""Reviews of flagged movements: staff list them, a banker closes one.

The list brings the reviews up to the journal first (they are derived from it
by the flagging sweep, ``app.core.reviews``), so a reader sees the flag of
every movement posted until now.
"""

from flask import current_app

from app.controllers import caller, flag_rules
from app.core import reviews
from app.core.recovery import feed_overlap
from app.schemas.common import page
from app.schemas.review import close_review_schema, review_args_schema, review_schema


def list_reviews(args: dict) -> dict:
    """Return a page of reviews, newest first, of one status or all.

    :raises ValidationError: a bad limit, cursor or status.
    """
    query = review_args_schema.load(args)
    catch_up()
    docs, has_more = reviews.list_reviews(
        query["limit"], after=query["cursor"], status=query["status"]
    )
    return page(review_schema.dump(docs, many=True), docs, has_more)


def close_review(actor: dict, review_id: str, payload: object) -> dict:
    """Close a review with its outcome; render it.

    The use case audits the close with the banker, and a fraud close's freeze
    of the movement's account as that account's status change, as a banker's
    PATCH is (also when a refused close finished the freeze of one cut short).

    :raises ValidationError: a missing or unknown outcome, or a bad note.
    :raises DomainError: see :func:`app.core.reviews.close_review`.
    """
    data = close_review_schema.load(payload)
    closing = reviews.close_review(
        review_id, data["outcome"], data["note"], closer=caller(actor)
    )
    return review_schema.dump(closing.review)


def catch_up() -> int:
    """Open the reviews of the movements flagged since the sweep last ran."""
    timeout = current_app.config["LEDGER_PENDING_TIMEOUT"]
    return reviews.catch_up(feed_overlap(timeout), flag_rules())
