"""Flagged movements: the rules that flag a posted movement, and its review.

A flag never blocks: the request that moves the money posts it and writes
nothing more. Reviews are derived from the journal by :func:`catch_up`, a sweep
of the movements posted since the feed's position, like the audit feed
(``app.core.audit_feed``, whose position rules it shares): a review can be
late but is never lost, and never doubled, since its ``_id`` is the movement
id. The sweep runs in the job runner and before the reviews are read, so a
banker sees a flag right after the movement. The rules, each judged from the
movement's journal entry (its out leg for a transfer):

- ``large_amount``: any movement of at least FLAG_AMOUNT;
- ``velocity``: a withdrawal or transfer out that makes the customer's
  withdrawals and transfers out posted in the VELOCITY_WINDOW up to it (itself
  included) reach FLAG_VELOCITY_COUNT: one indexed count per such movement;
- ``new_payee``: a transfer of more than NEW_PAYEE_CENTS to one of the
  customer's payees added less than NEW_PAYEE_AGE before it;
- ``unconfirmed_payee``: a transfer to a payee whose name check was not a
  ``match``.

A transfer pays a payee when the sender kept its target account as one when
the money moved: the journal names the account, not the payee, so a sweep's
batch finds its payees by (owner, account number), those kept and those
deleted since (``app.models.payee``: a deleted payee is kept for these rules),
in two queries, and judges the payee as it was then; deleting a payee before
the sweep looks dodges nothing, and no movement writes anything for it. A
movement several rules flag gets one review with all of them. Closing a review
as ``fraud`` freezes the movement's account (the source of a withdrawal or
transfer, the account a deposit went into) as a banker's PATCH does
(:func:`app.core.accounts.set_status`). The close and the freeze are audited
in the writes that make them (see :func:`close_review`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId

from app.core import accounts, decision_audit
from app.core.accounts import StatusChange
from app.core.audit_feed import sweep_journal
from app.core.errors import (
    AccountBusy,
    AccountClosed,
    AccountNotFound,
    ReviewNotFound,
    ReviewNotOpen,
)
from app.core.movements import Caller
from app.core.payees import MATCH
from app.models import utc_now
from app.models.loan import LoanModel
from app.models.payee import PayeeModel
from app.models.review import ReviewModel
from app.models.transaction import TransactionModel

LARGE_AMOUNT, VELOCITY = "large_amount", "velocity"
NEW_PAYEE, UNCONFIRMED_PAYEE = "new_payee", "unconfirmed_payee"
RULES = (LARGE_AMOUNT, VELOCITY, NEW_PAYEE, UNCONFIRMED_PAYEE)
# What the sweep judges: the movements of customers' money (a loan's interest,
# the bank's own charge, is not one). Outgoing ones count for the velocity.
FLAGGED_TYPES = ("deposit", "withdrawal", "transfer_out")
OUTGOING = ("withdrawal", "transfer_out")
VELOCITY_WINDOW = timedelta(minutes=10)
NEW_PAYEE_CENTS = 100_000  # 1000.00: more than this to a new payee is flagged
NEW_PAYEE_AGE = timedelta(hours=24)
# The journal sweep's position (app.models.feed).
FEED = "reviews"
# The audit action of a close (snake case, as GET /audit/events filters actions).
CLOSED_ACTION = "review_closed"


@dataclass(frozen=True)
class FlagRules:
    """What the bank's settings say about flagging movements."""

    large_cents: int  # FLAG_AMOUNT
    velocity_count: int  # FLAG_VELOCITY_COUNT


@dataclass(frozen=True)
class Closing:
    """A review closed now, and the freeze of its account that the close made
    (None: not a fraud, or the account was frozen or closed already)."""

    review: dict
    frozen: StatusChange | None


def catch_up(overlap: timedelta, rules: FlagRules, now: datetime | None = None) -> int:
    """Open the review of every movement flagged since the feed's position.

    Return how many were opened now.
    """
    reviews = ReviewModel()
    return sweep_journal(
        FEED,
        overlap,
        lambda batch, until: reviews.open_once(reviews_of(batch, rules, until)),
        now,
    )


def reviews_of(batch: list[dict], rules: FlagRules, now: datetime) -> list[dict]:
    """Return the reviews to open for a batch of posted movements (new ones only)."""
    reviewed = ReviewModel().rules_of([entry["_id"] for entry in batch])
    # A loan's disbursement leaves the loan's own account: a banker decided it
    # already, so it is not a customer's movement to review.
    lending = LoanModel().ids_among(
        [entry["account_id"] for entry in batch if entry["type"] == "transfer_out"]
    )
    fresh = [
        entry
        for entry in batch
        if entry["type"] in FLAGGED_TYPES
        and entry["_id"] not in reviewed
        and entry["account_id"] not in lending
    ]
    payees = PayeeModel().ever_kept({_paid(entry) for entry in fresh} - {None})
    opened = []
    for entry in fresh:
        payee = _payee_then(entry, payees.get(_paid(entry), []))
        fired = rules_fired(entry, rules, payee)
        if fired:
            opened.append(_review(entry, fired, now))
    return opened


def rules_fired(entry: dict, rules: FlagRules, payee: dict | None) -> list[str]:
    """Return the rules that flag the movement of ``entry``, in RULES order.

    ``payee``: the sender's payee for the target of a transfer, if any.
    """
    fired = []
    if entry["amount_cents"] >= rules.large_cents:
        fired.append(LARGE_AMOUNT)
    if entry["type"] in OUTGOING and _outgoing_up_to(entry) >= rules.velocity_count:
        fired.append(VELOCITY)
    return fired + _payee_rules(entry, payee)


def _outgoing_up_to(entry: dict) -> int:
    """Count the owner's outgoing movements in the window up to ``entry``'s."""
    posted = entry["posted_at"]
    return TransactionModel().count_posted_by_user(
        entry["user_id"], OUTGOING, posted - VELOCITY_WINDOW, posted
    )


def _payee_rules(entry: dict, payee: dict | None) -> list[str]:
    """The payee rules that flag a transfer to ``payee``."""
    # A payee added after the money moved was not what the customer paid.
    if payee is None or payee["created_at"] > entry["posted_at"]:
        return []
    fired = []
    age = entry["posted_at"] - payee["created_at"]
    if entry["amount_cents"] > NEW_PAYEE_CENTS and age < NEW_PAYEE_AGE:
        fired.append(NEW_PAYEE)
    if payee["name_check"]["result"] != MATCH:
        fired.append(UNCONFIRMED_PAYEE)
    return fired


def _payee_then(entry: dict, payees: list[dict]) -> dict | None:
    """The payee a transfer paid: one the sender kept for its target when the
    money moved (added by its posting, not deleted before it began), deleted
    since or not; the earliest added if a delete and a new add both fell in
    the movement's flight."""
    paid = [
        payee
        for payee in payees
        if payee["created_at"] <= entry["posted_at"]
        and payee.get("deleted_at", entry["created_at"]) >= entry["created_at"]
    ]
    return min(paid, key=lambda payee: payee["created_at"], default=None)


def _paid(entry: dict) -> tuple[ObjectId, str] | None:
    """(sender, target account) of a transfer: how its payee is found."""
    if entry["type"] != "transfer_out":
        return None
    return entry["user_id"], entry["counterparty_account_number"]


def _review(entry: dict, fired: list[str], now: datetime) -> dict:
    """The open review of the movement whose (out) journal entry is ``entry``."""
    return {
        "_id": entry["_id"],
        "status": "open",
        "rules": fired,
        "transaction": entry,
        "created_at": now,
        "closed_at": None,
        "closed_by": None,
        "outcome": None,
        "note": None,
        "freeze_pending": False,
    }


def movement_id(entry: dict) -> ObjectId:
    """Return the id of the movement a journal entry belongs to (its review's id)."""
    return entry.get("transfer_id") or entry["_id"]


def with_flags(entries: list[dict]) -> list[dict]:
    """Return journal entries with ``flags``: the rules their movement was
    flagged by (both legs of a transfer; empty when none). One query."""
    flagged = ReviewModel().rules_of(list({movement_id(entry) for entry in entries}))
    return [
        {**entry, "flags": flagged.get(movement_id(entry), [])} for entry in entries
    ]


def list_reviews(
    limit: int, after: tuple | None = None, status: str | None = None
) -> tuple[list[dict], bool]:
    """Return a page of reviews, newest first, and whether more follow."""
    return ReviewModel().list_page(limit, after=after, status=status)


def close_review(
    review_id: str,
    outcome: str,
    note: str | None,
    closer: Caller,
    now: datetime | None = None,
) -> Closing:
    """Close an open review with its outcome; ``fraud`` freezes its account.

    One guarded update closes it, so of two closes at once exactly one wins.
    The close is audited with its banker in that same update, and the freeze
    in the update that notes it (``app.core.decision_audit``), so a process
    that stops anywhere leaves each entry written once, now or by the job.

    :raises ReviewNotFound: no such review (a malformed id included).
    :raises ReviewNotOpen: the review is closed already; the first close stands
        (a fraud close cut short before its freeze is finished first, and the
        freeze made then travels with the refusal).
    :raises AccountBusy: the account kept changing while being frozen: the
        review is closed, and a retry finishes the freeze.
    """
    reviews = ReviewModel()
    review = reviews.find(review_id)
    if review is None:
        raise ReviewNotFound()
    entry = decision_audit.entry(
        CLOSED_ACTION, actor=closer.username, target=review["_id"], origin=closer,
        details={"outcome": outcome, "rules": review["rules"],
                 "account_number": review["transaction"]["account_number"]},
    )  # fmt: skip
    closed = reviews.close_if_open(
        review["_id"], outcome=outcome, note=note, closed_by=closer.username,
        at=now or utc_now(), audit=[entry],
    )  # fmt: skip
    if closed is None:
        current = reviews.find(review["_id"]) or review
        raise ReviewNotOpen(frozen=_freeze_pending(current, closer))
    try:
        frozen = _freeze_pending(closed, closer, also=[entry])
    except AccountBusy:
        decision_audit.deliver([entry])  # closed; the freeze is a retry's
        raise
    if not closed["freeze_pending"]:
        decision_audit.deliver([entry])
    return Closing(closed, frozen)


def finish_closes() -> int:
    """Finish what closes that stopped left undone (the job runner's part): the
    freeze of a fraud close, and every audit entry still on its review. Return
    how many freezes were made and entries written."""
    made = 0
    for review in ReviewModel().freezes_pending():
        try:
            change = _freeze_pending(review, None)
        except AccountBusy:
            continue  # the account kept changing: the next run tries again
        made += change is not None
    return made + decision_audit.drain(ReviewModel())


def _freeze_pending(
    review: dict, by: Caller | None, also: list[dict] | None = None
) -> StatusChange | None:
    """Freeze the account of a fraud review whose freeze is still to be made.

    Return the change made now; None when there was nothing to do. An account
    frozen or closed already stays as it is: the close stands either way. The
    freeze is audited with ``by`` (None: the job, for the banker who closed)
    in the write that notes it, then delivered with the entries ``also``.
    """
    if not review.get("freeze_pending"):
        return None
    try:
        change = accounts.set_status(review["transaction"]["account_number"], "frozen")
    except (AccountClosed, AccountNotFound):
        change = None
    made = change if change is not None and change.previous is not None else None
    entries = []
    if made is not None:
        entries.append(decision_audit.entry(
            "account_status_changed",
            actor=by.username if by else review.get("closed_by"),
            target=made.account["account_number"], origin=by,
            details={"from": made.previous, "to": made.account["status"],
                     "review_id": str(review["_id"])},
        ))  # fmt: skip
    # Another runner may note the freeze first (having found the account
    # frozen by this one): the entry is this runner's all the same.
    ReviewModel().freeze_done(review["_id"], audit=entries)
    decision_audit.deliver([*entries, *(also or [])])
    return made
