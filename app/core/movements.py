"""Use cases that move money: deposit, withdraw, transfer, each exactly once.

A use case takes typed orders and the caller, runs the rules in order, and
hands the movement to the ledger (``app.models.ledger``), the only code that
changes a balance. What the ledger refuses comes back as a domain error. The
caller's origin goes into the journal entry; the audit entry of a movement is
derived from the journal (``app.core.audit_feed``), not written beside it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from app.core.accounts import own_account
from app.core.errors import (
    AccountBusy,
    AccountClosed,
    AccountFrozen,
    AccountNotFound,
    DomainError,
    InsufficientFunds,
    InvalidRequest,
)
from app.models import ledger
from app.models.ledger import Refusal


@dataclass(frozen=True)
class Caller:
    """Who asks, and from where (for the audit trail)."""

    user: dict  # the user document: at least _id and username
    ip: str | None = None
    request_id: str | None = None

    @property
    def username(self) -> str:
        return self.user["username"]

    @property
    def origin(self) -> dict:
        """What the journal keeps of the caller, for the audit trail."""
        return {"actor": self.username, "ip": self.ip, "request_id": self.request_id}


@dataclass(frozen=True)
class MovementKey:
    """What an exactly-once caller (an Idempotency-Key's claim) fixes in advance:
    the movement's id, and when it began (the claim's time). The ledger dates
    the movement's entries at ``begun_at``, so fencing the caller's accounts at
    that time refuses a request that stalled before its commit point."""

    id: ObjectId
    begun_at: datetime


@dataclass(frozen=True)
class Deposit:
    """Put ``cents`` into one of the caller's accounts (default: primary)."""

    cents: int
    account_number: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Withdrawal:
    """Take ``cents`` out of one of the caller's accounts (default: primary)."""

    cents: int
    account_number: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class TransferOrder:
    """Move ``cents`` from one of the caller's accounts to any active account."""

    to_account_number: str
    cents: int
    from_account_number: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Movement:
    """A posted movement: its journal entries (one, or a transfer's two legs)."""

    entries: tuple[dict, ...]

    @property
    def first(self) -> dict:
        """The deposit's or withdrawal's entry, or a transfer's out leg."""
        return next(
            (e for e in self.entries if e["type"] == "transfer_out"), self.entries[0]
        )

    @property
    def movement_id(self) -> ObjectId:
        return self.first["transfer_id"] or self.first["_id"]


def deposit(
    caller: Caller, order: Deposit, *, currency: str, key: MovementKey | None = None
) -> Movement:
    """Credit the caller's account, exactly once per movement id.

    :raises AccountNotFound: the account is not the caller's.
    :raises AccountFrozen: the account is frozen.
    :raises AccountClosed: the account is closed.
    :raises AccountBusy: the account kept changing; a retry is safe.
    """
    return _one_account(caller, order, ledger.deposit, currency, key)


def withdraw(
    caller: Caller,
    order: Withdrawal,
    *,
    currency: str,
    key: MovementKey | None = None,
    admit: Callable[[dict], None] | None = None,
    reservation_id: ObjectId | None = None,
) -> Movement:
    """Debit the caller's account if the balance covers it, exactly once.

    ``admit``: a rule that judges the account before the commit point (see
    ``ledger.withdraw``); the domain error it raises refuses the withdrawal.
    ``reservation_id``: the reservation the withdrawal spends (an approved
    one's, ``app.core.approvals``), consumed by the commit point itself.

    :raises AccountNotFound: the account is not the caller's.
    :raises InsufficientFunds: the balance is lower than the amount.
    :raises AccountFrozen: the account is frozen.
    :raises AccountClosed: the account is closed.
    :raises AccountBusy: the account kept changing; a retry is safe.
    """
    return _one_account(
        caller, order, ledger.withdraw, currency, key, admit, reservation_id
    )


def _one_account(
    caller: Caller,
    order: Deposit | Withdrawal,
    step: Callable,
    currency: str,
    key: MovementKey | None,
    admit: Callable[[dict], None] | None = None,
    reservation_id: ObjectId | None = None,
) -> Movement:
    """Run a one-account movement (``step``) on the caller's named account."""
    account = own_account(caller.user, order.account_number, currency)
    _not_a_goal(account, "account_number")
    extra: tuple = () if admit is None else (admit,)
    if reservation_id is not None:
        extra = (admit, reservation_id)
    entry = _in_ledger(
        step, account, order.cents, order.description,
        key and key.id, caller.origin, key and key.begun_at, *extra,
    )  # fmt: skip
    return Movement((entry,))


def transfer(
    caller: Caller,
    order: TransferOrder,
    *,
    currency: str,
    key: MovementKey | None = None,
    from_goal: bool = False,
    admit: Callable[[dict], None] | None = None,
    reservation_id: ObjectId | None = None,
) -> Movement:
    """Move money from the caller's account to another: both legs or neither.

    ``from_goal``: the source may be one of the caller's savings goals (the
    goals use case, which sends a goal's money only to its owner's accounts);
    the transfer routes refuse a goal as the source. ``admit``: a rule that
    judges the held target before the commit point (see ``ledger.transfer``);
    the domain error it raises refuses the transfer. ``reservation_id``: the
    reservation the transfer spends (an approved one's), consumed by its debit.

    The source is judged before the target, so a caller who could not pay
    learns nothing about the target number.

    :raises InvalidRequest: the source and the target are the same account.
    :raises AccountNotFound: the source is not the caller's, or no such target.
    :raises InsufficientFunds: the source balance is lower than the amount.
    :raises AccountFrozen: either account is frozen.
    :raises AccountClosed: either account is closed.
    :raises AccountBusy: an account kept changing; a retry is safe.
    """
    source = own_account(caller.user, order.from_account_number, currency)
    if not from_goal:
        _not_a_goal(source, "from_account_number")
    if source["account_number"] == order.to_account_number:
        # The source defaulted to the primary account, which is also the target.
        raise InvalidRequest(
            "to_account_number", "Must differ from the source account."
        )
    done = _in_ledger(
        ledger.transfer,
        source,
        order.to_account_number,
        order.cents,
        order.description,
        key and key.id,
        caller.origin,
        key and key.begun_at,
        admit,
        ledger.Terms(reservation_id=reservation_id),
    )
    return Movement((done.out_entry, done.in_entry))


def ledger_transfer(
    source: dict,
    to_account_number: str,
    cents: int,
    description: str | None,
    *,
    key: MovementKey | None,
    origin: dict | None,
    terms: ledger.Terms,
    admit: Callable[[dict], None] | None = None,
) -> Movement:
    """A transfer on terms the customer routes never grant (see ``ledger.Terms``):
    a loan's disbursement out of its account, a repayment into it. The caller
    (app.core.loans) has chosen both accounts and checked their kinds.

    :raises DomainError: as :func:`transfer`, or what ``admit`` raises.
    """
    done = _in_ledger(
        ledger.transfer, source, to_account_number, cents, description,
        key and key.id, origin, key and key.begun_at, admit, terms,
    )  # fmt: skip
    return Movement((done.out_entry, done.in_entry))


def in_ledger(step: Callable, *args: Any) -> Any:
    """Run any ledger step, turning its refusals into domain errors."""
    return _in_ledger(step, *args)


def _not_a_goal(account: dict, field: str) -> None:
    """Refuse a goal or a loan where only a current or savings account may be."""
    if account.get("kind") == "goal":
        raise InvalidRequest(
            field,
            "A goal's money moves through /goals/{goal_id}/deposits and "
            "/withdrawals.",
        )
    if account.get("kind") == "loan":
        raise InvalidRequest(
            field, "A loan is repaid through /loans/{loan_id}/repayments."
        )


def _in_ledger(step: Callable, *args: Any) -> Any:
    """Run a ledger movement, turning its refusals into domain errors."""
    try:
        return step(*args)
    except ledger.LedgerRefusal as refusal:
        raise _domain_error(refusal) from None
    except ledger.LedgerBusy:
        raise AccountBusy() from None


def _domain_error(refusal: ledger.LedgerRefusal) -> DomainError:
    reason = refusal.reason
    if reason is Refusal.INSUFFICIENT_FUNDS:
        return InsufficientFunds(
            refusal.balance_cents or 0, refusal.requested_cents or 0
        )
    if reason is Refusal.ACCOUNT_FROZEN:
        return AccountFrozen(refusal.side)
    if reason is Refusal.ACCOUNT_CLOSED:
        return AccountClosed(refusal.side)
    if reason in (Refusal.EXPIRED, Refusal.BUSY):
        # EXPIRED: recovery abandoned this movement while the request stalled.
        return AccountBusy()
    return AccountNotFound()
