"""Money leaving a customer: withdrawals and transfers under the daily limit.

These are the use cases the customer routes and the job runner call. Each
counts the amount against the customer's daily limit (``app.core.limits``)
when the money leaves them (a withdrawal; a transfer to an account that is not
their own), runs the movement (``app.core.movements``, through the ledger),
then judges the reservation: posted, it stays; refused, it is given back. What
follows a posted movement comes last: its round-up into a savings goal
(``app.core.roundups``), which never fails the movement.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bson import ObjectId

from app.core import limits, movements, roundups
from app.core.errors import DomainError
from app.core.limits import DailyLimits, Reservation
from app.core.movements import Caller, Movement, MovementKey, TransferOrder, Withdrawal
from app.models import utc_now

log = logging.getLogger("app.limits")


@dataclass(frozen=True)
class SpendingRules:
    """What the bank's settings say about money leaving a customer."""

    currency: str
    limits: DailyLimits
    # LEDGER_PENDING_TIMEOUT: after this, a claim's holder counts as dead.
    stale_after: timedelta


def withdraw(
    caller: Caller,
    order: Withdrawal,
    rules: SpendingRules,
    key: MovementKey | None = None,
    reservation_id: ObjectId | None = None,
) -> Movement:
    """Withdraw from the caller's account within their daily limit, exactly once.

    ``reservation_id``: the approval's reservation the withdrawal spends.

    :raises DailyLimitExceeded: the amount does not fit what is left today.
    :raises DomainError: see :func:`app.core.movements.withdraw`.
    """
    key = key or _fresh_key()
    reserved: list[Reservation] = []
    movement = _counted(
        reserved,
        lambda: movements.withdraw(
            caller, order, currency=rules.currency, key=key,
            admit=_reserving(caller, order.cents, key, rules, reserved),
            reservation_id=reservation_id,
        ),
    )  # fmt: skip
    roundups.after_spending(
        caller, movement, currency=rules.currency, stale_after=rules.stale_after
    )
    return movement


def transfer(
    caller: Caller,
    order: TransferOrder,
    rules: SpendingRules,
    key: MovementKey | None = None,
    reservation_id: ObjectId | None = None,
) -> Movement:
    """Transfer from the caller's account; to someone else, within the limit.

    A transfer between the caller's own accounts is not money leaving them and
    counts against nothing. The reservation is a rule the ledger asks once the
    target is held (``admit``): a refusal there moves nothing and journals the
    transfer rejected. ``reservation_id``: the approval's reservation it spends.

    :raises DailyLimitExceeded: the amount does not fit what is left today.
    :raises DomainError: see :func:`app.core.movements.transfer`.
    """
    key = key or _fresh_key()
    reserved: list[Reservation] = []
    admit = _reserving(
        caller, order.cents, key, rules, reserved,
        leaves=lambda target: target["user_id"] != caller.user["_id"],
    )  # fmt: skip
    movement = _counted(
        reserved,
        lambda: movements.transfer(
            caller, order, currency=rules.currency, key=key, admit=admit,
            reservation_id=reservation_id,
        ),  # fmt: skip
    )
    if reserved:  # it left the customer
        roundups.after_spending(
            caller, movement, currency=rules.currency, stale_after=rules.stale_after
        )
    return movement


def _fresh_key() -> MovementKey:
    """The id and start of a movement no client key fixed in advance.

    Fixed here, before the reservation, so the reservation and the movement's
    entries carry the same id and time (see :func:`app.core.limits.settle`).
    """
    return MovementKey(ObjectId(), utc_now())


def _reserving(
    caller: Caller,
    cents: int,
    key: MovementKey,
    rules: SpendingRules,
    reserved: list[Reservation],
    leaves: Callable[[dict], bool] = lambda account: True,
) -> Callable[[dict], None]:
    """The ledger's ``admit`` rule: count money leaving the caller, or refuse.

    Asked with the account the money comes from (a withdrawal's) or goes to (a
    transfer's held target) once the ledger has found it, so a refused movement
    is journalled ``rejected``, and knowing the target's owner costs no read.
    ``leaves`` says whether the money leaves the caller.
    """

    def admit(account: dict) -> None:
        if leaves(account):
            reserved.append(
                limits.reserve(caller.user, key.id, cents, key.begun_at, rules.limits)
            )

    return admit


def _counted(reserved: list[Reservation], move: Callable[[], Movement]) -> Movement:
    """Run a movement; keep its reservation if it posted, give it back if not.

    A domain error means the ledger moved nothing: the count is given back now.
    A posted movement keeps it, and its reservation is confirmed at once (taken
    off the day's ``pending`` list, which so stays as short as the movements in
    flight: a busy sender's document would otherwise grow with every payment).
    Anything else (the database failed, the process died) may have moved money
    or not: the reservation stays until the movement is settled (by the retry
    of its Idempotency-Key, or by :func:`app.core.limits.settle_stale`).
    """
    try:
        movement = move()
    except DomainError:
        for reservation in reserved:
            limits.give_back(reservation)
        raise
    for reservation in reserved:
        try:
            limits.confirm(reservation)
        except Exception:  # noqa: BLE001 - the money moved; the sweep confirms it
            log.warning("reservation of %s left to the sweep", reservation.movement_id)
    return movement
