"""Reviews of flagged movements: staff list them, a banker closes one.

The list brings the reviews up to the journal first (they are derived from it
by the flagging sweep, ``app.core.reviews``), so a reader sees the flag of
every movement posted until now.
"""

from flask import current_app

from app import audit
from app.controllers import flag_rules
from app.controllers.banker import record_status_change
from app.core import reviews
from app.core.accounts import StatusChange
from app.core.errors import ReviewNotOpen
from app.core.recovery import feed_overlap
from app.schemas.common import page
from app.schemas.review import close_review_schema, review_args_schema, review_schema

# Audit action of a close (snake case, as GET /audit/events filters actions).
CLOSED_ACTION = "review_closed"


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
    """Close a review with its outcome, audited with the banker; render it.

    A fraud close that froze the movement's account is audited as that
    account's status change too, as a banker's PATCH is (also when a refused
    close finished the freeze of one cut short).

    :raises ValidationError: a missing or unknown outcome, or a bad note.
    :raises DomainError: see :func:`app.core.reviews.close_review`.
    """
    data = close_review_schema.load(payload)
    try:
        closing = reviews.close_review(
            review_id, data["outcome"], data["note"], closed_by=actor["username"]
        )
    except ReviewNotOpen as refusal:
        _record_freeze(actor, refusal.frozen, review_id)
        raise
    review = closing.review
    _record_freeze(actor, closing.frozen, review_id)
    audit.record(
        CLOSED_ACTION,
        actor=actor["username"],
        target=review["_id"],
        details={
            "outcome": review["outcome"],
            "rules": review["rules"],
            "account_number": review["transaction"]["account_number"],
            "frozen": closing.frozen is not None,
        },
    )
    return review_schema.dump(review)


def _record_freeze(actor: dict, change: StatusChange | None, review_id: str) -> None:
    """Audit the freeze a close made (nothing if it made none)."""
    if change is not None:
        # The id reached the review, so it is 24 hex digits: one case for all.
        record_status_change(actor, change, {"review_id": review_id.lower()})


def catch_up() -> int:
    """Open the reviews of the movements flagged since the sweep last ran."""
    timeout = current_app.config["LEDGER_PENDING_TIMEOUT"]
    return reviews.catch_up(feed_overlap(timeout), flag_rules())
