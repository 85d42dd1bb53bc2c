"""Daily limits: what may leave a customer per bank day, never exceeded.

Money leaving a customer (withdrawals, and transfers to accounts that are not
their own, scheduled ones included) is counted per customer and calendar day in
BANK_TIMEZONE. The count is reserved before the movement runs, in one
conditional update that checks the limit (``app.models.daily_usage``), so no
number of parallel requests can pass it together; a movement that is refused
gives its reservation back at once; a posted one keeps it (and is confirmed at
once); one whose request died is judged by :func:`settle_stale` once the ledger
has settled it: posted, the amount stays; voided, it goes.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bson import ObjectId

from app.core.calendar import bank_day, next_day_start, utc_text
from app.core.errors import (
    DailyLimitExceeded,
    InvalidRequest,
    NotACustomer,
    UserNotFound,
    money_text,
)
from app.models import ledger_recovery, utc_now
from app.models.daily_usage import DailyUsageModel
from app.models.transaction import TransactionModel
from app.models.user import UserModel

log = logging.getLogger("app.limits")


@dataclass(frozen=True)
class DailyLimits:
    """The bank's rule: its default limit (DAILY_OUT_LIMIT) and its time zone."""

    default_cents: int
    zone: str


@dataclass(frozen=True)
class Reservation:
    """Cents counted for one movement on one customer's bank day."""

    user_id: ObjectId
    day: date
    movement_id: ObjectId
    cents: int


def limit_of(user: dict, rule: DailyLimits) -> int:
    """Return the customer's daily limit in cents (their own, else the bank's)."""
    own = user.get("daily_limit_cents")
    return rule.default_cents if own is None else own


def status(user: dict, rule: DailyLimits, now: datetime | None = None) -> dict:
    """Return the customer's limit, what is used today and when the day ends."""
    now = now or utc_now()
    limit = limit_of(user, rule)
    used = DailyUsageModel().used(user["_id"], bank_day(now, rule.zone))
    return {
        "daily_limit_cents": limit,
        "used_today_cents": used,
        "remaining_today_cents": max(0, limit - used),
        "resets_at": next_day_start(now, rule.zone),
    }


def reserve(
    user: dict,
    movement_id: ObjectId,
    cents: int,
    begun_at: datetime,
    rule: DailyLimits,
) -> Reservation:
    """Count a movement against the customer's limit for its day, or refuse it.

    The day is that of ``begun_at``, the movement's start, which the ledger
    also dates its entries at (so fencing at the reservation's time refuses a
    movement whose request stalled before its commit point; see :func:`settle`).

    :raises DailyLimitExceeded: the amount does not fit what is left today.
    """
    day = bank_day(begun_at, rule.zone)
    limit = limit_of(user, rule)
    used = DailyUsageModel().reserve(
        user["_id"], day, movement_id, cents, begun_at, limit
    )
    if used is not None:
        raise DailyLimitExceeded(
            limit, used, utc_text(next_day_start(begun_at, rule.zone))
        )
    return Reservation(user["_id"], day, movement_id, cents)


def confirm(reservation: Reservation) -> None:
    """The movement posted: its amount stays counted; forget the reservation."""
    DailyUsageModel().confirm(
        reservation.user_id, reservation.day, reservation.movement_id
    )


def give_back(reservation: Reservation) -> None:
    """The movement did not happen: it no longer counts."""
    DailyUsageModel().give_back(
        reservation.user_id, reservation.day, reservation.movement_id,
        reservation.cents,
    )  # fmt: skip


def settle(user_id: ObjectId, movement_id: ObjectId, posted: bool) -> None:
    """Judge the reservation of a movement the ledger has settled, if any."""
    usage = DailyUsageModel()
    found = usage.reservation(user_id, movement_id)
    if found is None:
        return
    day, cents, _at = found
    if posted:
        usage.confirm(user_id, day, movement_id)
    else:
        usage.give_back(user_id, day, movement_id, cents)


def settle_stale(grace: timedelta) -> int:
    """Judge every reservation older than ``grace``; return how many.

    A posted movement's reservation is confirmed (its request died before it
    could). One whose movement is not posted is judged
    after the ledger settles the movement, with the customer's accounts fenced
    at the reservation's time first, so a request that stalled before its
    commit point can never apply it after its amount was given back.
    """
    usage = DailyUsageModel()
    journal = TransactionModel()
    judged = 0
    for user_id, day, item in usage.stale(utc_now() - grace):
        entry = journal.find_entry(item["id"])
        posted = entry is not None and entry["status"] == "posted"
        if entry is None:
            ledger_recovery.fence_owner(user_id, item["at"])
            # None: nothing moved (refused, voided now, or never begun).
            posted = ledger_recovery.settle(item["id"]) is not None
        if posted:
            usage.confirm(user_id, day, item["id"])
        else:
            usage.give_back(user_id, day, item["id"], item["cents"])
        judged += 1
    return judged


def set_limit(
    user: dict | None, cents: int, rule: DailyLimits, *, by_banker: bool
) -> dict:
    """Set a customer's daily limit; return the user after.

    A customer may lower their own limit (one a banker raised included), or
    raise it back up to the bank's; a banker may set any limit. The bank's own limit is
    stored as no limit of the customer's, so a later change of DAILY_OUT_LIMIT
    reaches them.

    :raises UserNotFound: no such user.
    :raises NotACustomer: the user is staff (staff send no money).
    :raises InvalidRequest: a customer asks for more than the bank's limit.
    """
    if user is None:
        raise UserNotFound()
    if user.get("role", "customer") != "customer":
        raise NotACustomer()
    # A customer may lower whatever limit they have (one a banker raised
    # included), or raise it back up to the bank's, never above both.
    ceiling = max(limit_of(user, rule), rule.default_cents)
    if not by_banker and cents > ceiling:
        raise InvalidRequest(
            "daily_limit",
            f"Must be at most {money_text(ceiling)}: a customer may lower their "
            "limit, or raise it back up to the bank's.",
        )
    stored = None if cents == rule.default_cents else cents
    updated = UserModel().set_daily_limit(user["_id"], stored)
    if updated is None:
        raise UserNotFound()
    return updated
