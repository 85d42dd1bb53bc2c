"""The ledger: the only code that changes an account balance.

Design
======

There are no multi-document transactions here (the in-memory backend has none,
and a ledger that needs them would behave differently on the two backends), so
every movement is a short, fixed sequence of single-document writes whose order
alone keeps journal and balances in agreement. The references were MongoDB's
two-phase-commit pattern (a pending-ids array on each account guarded with
``$ne``, recovery at start-up), TigerBeetle's pending / post / void transfers,
and the transactional-outbox idea of writing the intent and the state change in
one document. From the first we take the per-account list of applied entries;
from the second, that a transfer first *reserves* what it needs (here: a hold
on the receiving account) and is then either finished or voided; from the
third, that the commit point itself carries everything needed to finish the
movement, so nothing has to be written before it.

So the **commit point is the first write that matters**: one conditional update
of the account that changes the balance *and* stores the whole journal entry
beside it (a *record* in ``pending_entries``). The journal (``transactions``)
is written after, from that record, already posted: a crash after the commit
point leaves a record that recovery turns into the same journal entry. A crash
before it leaves nothing to undo. Nothing is ever reversed, and a posted entry
is never edited (a correction would be a new entry). Refusals are journalled
as ``rejected`` entries; a transfer that recovery voids, as ``aborted`` legs.

Account fields the protocol uses:

- ``balance_cents`` and ``entry_seq``: the balance and the number of entries
  applied to it. Every balance change increments ``entry_seq`` in the same write.
- ``pending_entries``: ``{id, seq, balance_after, entry[, pair]}`` for each
  entry applied to the balance whose record is not yet released. ``entry`` is
  the journal entry to write (``pair``: a transfer's other leg, on the source's
  record). Written in the same update as the balance, so "was this entry
  applied?" always has an answer that agrees with it.
- ``holds``: ``{id, out, source, cents, at}`` for each incoming transfer leg the
  account accepted and whose credit is still to come.
- ``fenced_until``: recovery's watermark. No entry created at or before it can
  be applied or held, so an abandoned request that wakes up late cannot apply
  an entry recovery has already voided.

Deposit and withdrawal (3 writes)
---------------------------------

1. **Commit point**: a compare-and-set on ``entry_seq``::

       filter  {_id, entry_seq: s, status: "active",
                fenced_until: {$lt: entry.created_at},
                "pending_entries.id": {$ne: entry_id}}
       update  {$inc: {balance_cents: delta, entry_seq: 1},
                $push: {pending_entries: {id, seq: s + 1, balance_after: b + delta,
                                          entry}}}

   ``s`` and ``b`` come from a read of the account; an overdraft is refused
   against that exact snapshot, and the ``entry_seq`` guard makes the update
   fail if anything changed the balance since, in which case the account is
   read again and the step retried. So the check and the change are one atomic
   decision, the refusal reports the balance that refused, and the entry's
   ``seq`` and ``balance_after`` are fixed at the commit point. A refusal
   journals the entry ``rejected``, and nothing else happens.
2. **Journal** the entry ``posted`` with the record's figures. Its ``_id`` is
   the entry id, so a second insert (recovery, or a retry) of the same entry
   fails as a duplicate and is ignored: written once.
3. **Release**: ``$pull`` the record from ``pending_entries``.

Transfer (5 writes)
-------------------

The source is judged first from the request's read of it (active, enough
money): a refusal there journals the out leg rejected, so a caller who could not
pay learns nothing about the target (a number that names no account is
answered the same way).

1. **Hold** on the target, found by its number: ``{account_number, status:
   "active", fenced_until < created_at, holds.id: {$ne: in_id}} -> $push holds``,
   returning the target as held (so the in leg and the credit need no read of
   their own). The target accepts the credit now, so a later freeze or close
   cannot strand money that already left the source (an account with holds
   cannot be closed). The hold names the source and the out leg, for recovery.
2. **Commit point**: the debit of the source, exactly step 1 above; its record
   carries both legs. Refused: the hold is dropped and the out leg is journalled
   ``rejected``.
3. **Credit** the target, guarded by the hold instead of the status:
   ``{_id, entry_seq: s, holds.id: in_id} -> $inc, $pull hold, $push record``.
   The hold is consumed by the credit itself, so the credit happens at most once.
4. **Journal** both legs ``posted`` in one insert.
5. **Release** both records in one bulk write.

Every step after the commit point is idempotent and cannot be refused, so a
transfer whose debit happened is always finished, and one whose debit did not
happen is always voided: both legs or neither.

Recovery
--------

:func:`app.models.ledger_recovery.settle` finishes or voids one movement,
found by its id: in the journal,
else as a record on an account (the commit happened: journal it from the record,
credit a transfer's target if that is still to do, release), else as a hold (a
transfer stopped before or at its commit point: fence the source at the
movement's time, read it again in case the debit landed just before the fence,
and if it did not, drop the hold and journal both legs ``aborted``).
:func:`app.models.ledger_recovery.recover` settles every movement whose
records or holds are older than a
grace period (so it never races a request that is still running). Running
recovery twice changes nothing the second time.
"""

import itertools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from app.db import get_db
from app.models import DUPLICATE_KEY, utc_now
from app.models.account import LOAN_KIND

log = logging.getLogger("app.ledger")

CREDIT_TYPES = ("deposit", "transfer_in")
# The bank's own side of the books. Their balances are derived from the journal
# (each one-sided entry names its contra account), never stored in a document
# that every movement would write. Same sign as account balances: a deposit of
# 10.00 lowers "cash" by 10.00, so customers plus system always sum to zero.
# No "loan_funds": a loan's disbursement is a transfer between two accounts of
# the customer's (the loan account, its receivable, and the account credited),
# which leaves the customers' total, and so the system accounts, unmoved; an
# account that can never move is not listed (see app.core.loans). A contra
# account found in the journal but not named here is listed all the same.
SYSTEM_ACCOUNTS = ("cash", "interest_income", "fees")
# The system account on the other side of each one-sided entry type; a
# transfer's legs balance each other and have none.
CONTRA_ACCOUNTS = {
    "deposit": "cash",
    "withdrawal": "cash",
    # A loan's interest, charged to the loan account on its due date.
    "interest": "interest_income",
}
# A loan account (LOAN_KIND): its balance is negative (what the customer
# owes). Money goes into it only as a repayment (``Terms(into_loan=True)``) and
# out of it only as its disbursement (``Terms(floor_cents=-principal)``).


def contra_of(entry: dict) -> str | None:
    """The system account that balances ``entry`` (older entries: by type)."""
    return entry.get("contra_account") or CONTRA_ACCOUNTS.get(entry["type"])


# Compare-and-set attempts before a movement gives up on a very hot account.
COMMIT_ATTEMPTS = 64


class Refusal(StrEnum):
    """Why the ledger refused a movement (stored in rejected entries' reason)."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    ACCOUNT_FROZEN = "account_frozen"
    ACCOUNT_CLOSED = "account_closed"
    ACCOUNT_NOT_FOUND = "account_not_found"
    # Recovery fenced the account past the entry: the request stalled too long.
    EXPIRED = "expired"
    BUSY = "busy"


class LedgerRefusal(Exception):
    """A movement the ledger refused; nothing moved.

    ``side`` is ``"source"`` or ``"target"``: the account that refused. For
    ``insufficient_funds``, ``balance_cents`` is the balance that refused and
    ``requested_cents`` the amount it could not cover.
    """

    def __init__(
        self,
        reason: Refusal,
        balance_cents: int | None = None,
        side: str = "source",
        requested_cents: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.balance_cents = balance_cents
        self.side = side
        self.requested_cents = requested_cents


class LedgerBusy(Exception):
    """The account changed under every attempt; the movement may be retried."""

    reason = Refusal.BUSY


class _NotAdmitted(Exception):
    """The caller's ``admit`` rule refused a movement with ``error``.

    ``reason``, journalled on the rejected entries, names the error's class in
    snake case (``DailyLimitExceeded`` -> ``daily_limit_exceeded``).
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error
        self.reason = re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


def _admit(admit: Callable[[dict], None] | None, target: dict) -> None:
    """Ask the caller's rule whether the held target may be paid."""
    if admit is None:
        return
    try:
        admit(target)
    except Exception as error:  # noqa: BLE001 - whatever the rule refuses with
        raise _NotAdmitted(error) from error


@dataclass(frozen=True)
class Transfer:
    """The two posted legs of a transfer."""

    out_entry: dict
    in_entry: dict


@dataclass(frozen=True)
class Terms:
    """What a movement may do beyond the common case (all off by default).

    ``floor_cents``: the lowest balance the debited account may reach (0; a
    loan's disbursement: minus the principal; None: no floor, for a charge).
    ``reservation_id``: the reservation the debit spends (see :func:`reserve`):
    its amount counts as available to this debit, and the commit point consumes
    it in the same write. ``into_loan``: the target is a loan account (a
    repayment); any other transfer is refused a loan account as its target.
    """

    floor_cents: int | None = 0
    reservation_id: ObjectId | None = None
    into_loan: bool = False


# Called with the entries each journal write posted (newly: a duplicate insert
# of an entry already there is not passed again), e.g. by app.metrics to count
# movements; an observer must not raise.
_posting_observers: list[Callable[[list[dict]], None]] = []


def observe_postings(callback: Callable[[list[dict]], None]) -> None:
    """Have ``callback`` called with the entries of every journal write posted."""
    if callback not in _posting_observers:
        _posting_observers.append(callback)


def _accounts() -> Any:
    return get_db()["accounts"]


def _journal() -> Any:
    return get_db()["transactions"]


# -- movements ----------------------------------------------------------------


def deposit(
    account: dict,
    amount_cents: int,
    description: str | None,
    movement_id: ObjectId | None = None,
    origin: dict | None = None,
    begun_at: datetime | None = None,
) -> dict:
    """Credit ``account`` and return the posted journal entry.

    ``origin`` (who asked, from where) is stored on the entry, for the audit
    trail derived from the journal. ``begun_at``: when the movement began, if
    before now (its entries' ``created_at``; see :func:`fence_owner`).

    :raises LedgerRefusal: the account is not active.
    :raises LedgerBusy: the account kept changing under the commit point.
    """
    return _move(
        account, "deposit", amount_cents, description, movement_id, origin, begun_at
    )


def withdraw(
    account: dict,
    amount_cents: int,
    description: str | None,
    movement_id: ObjectId | None = None,
    origin: dict | None = None,
    begun_at: datetime | None = None,
    admit: Callable[[dict], None] | None = None,
    reservation_id: ObjectId | None = None,
) -> dict:
    """Debit ``account`` if its available balance covers the amount; return the entry.

    ``admit``: as for :func:`transfer`, called with the account before the
    commit point; what it raises refuses the withdrawal. ``reservation_id``:
    the reservation (see :func:`reserve`) this withdrawal spends; it is
    consumed by the commit point itself.

    :raises LedgerRefusal: ``insufficient_funds`` or the account is not active.
    :raises LedgerBusy: the account kept changing under the commit point.
    """
    return _move(
        account, "withdrawal", amount_cents, description, movement_id, origin,
        begun_at, admit, Terms(reservation_id=reservation_id),
    )  # fmt: skip


def charge_interest(
    account: dict,
    amount_cents: int,
    description: str | None,
    movement_id: ObjectId | None = None,
    begun_at: datetime | None = None,
) -> dict:
    """Charge a loan's interest to its account (booked to ``interest_income``).

    The loan account's balance goes further below zero: a charge has no floor.

    :raises LedgerRefusal: the account is not active.
    :raises LedgerBusy: the account kept changing under the commit point.
    """
    return _move(
        account, "interest", amount_cents, description, movement_id, None,
        begun_at, terms=Terms(floor_cents=None),
    )  # fmt: skip


def transfer(
    source: dict,
    target_number: str,
    amount_cents: int,
    description: str | None,
    transfer_id: ObjectId | None = None,
    origin: dict | None = None,
    begun_at: datetime | None = None,
    admit: Callable[[dict], None] | None = None,
    terms: "Terms | None" = None,
) -> Transfer:
    """Move money from ``source`` to the account numbered ``target_number``.

    Both legs or neither. ``admit``, if given, is called with the target once
    it is held and before the commit point (a rule of the caller's that needs
    to know the target, such as a daily limit); whatever it raises refuses the
    transfer like a refusal of the ledger's own: nothing moves, both legs are
    journalled ``rejected``, and the exception goes on to the caller.
    ``terms``: how far the source may go (a loan's disbursement), the
    reservation the transfer spends, whether the target is a loan (a repayment).

    :raises LedgerRefusal: a side is not active or does not exist (``side``
        says which), or the source lacks the funds.
    :raises LedgerBusy: an account kept changing under every attempt.
    """
    _check_amount(amount_cents)
    if source["account_number"] == target_number:
        raise ValueError("a transfer needs two different accounts")
    now = _started(begun_at)
    out_id = transfer_id or ObjectId()
    in_id = ObjectId()
    out_entry = _new_entry(
        source, "transfer_out", amount_cents, description, out_id, now,
        counterparty=target_number, transfer_id=out_id, pair_id=in_id,
        origin=origin,
    )  # fmt: skip
    # The source is judged first, from the caller's own read of it: a caller who
    # could not pay learns nothing of the target (frozen, closed, or none).
    terms = terms or Terms()
    refusal = _source_refusal(source, out_entry, terms)
    if refusal is not None:
        _journal_closed([out_entry], "rejected", refusal.reason)
        raise refusal
    try:
        target = _hold(target_number, out_entry, in_id, terms.into_loan)  # step 1
    except (LedgerRefusal, LedgerBusy) as refusal:
        _journal_closed([out_entry], "rejected", f"target_{refusal.reason}")
        raise
    in_entry = _new_entry(
        target, "transfer_in", amount_cents, description, in_id, now,
        counterparty=source["account_number"], transfer_id=out_id, pair_id=out_id,
        origin=origin,
    )  # fmt: skip
    try:
        _admit(admit, target)
        out_record = _commit(source, out_entry, terms, pair=in_entry)  # 2: commit
    except (LedgerRefusal, LedgerBusy, _NotAdmitted) as refusal:
        in_entry["reason"] = f"source_{refusal.reason}"
        _journal_closed([out_entry, in_entry], "rejected", refusal.reason)
        _drop_hold(target["_id"], in_id)  # after the trace (see _settle)
        if isinstance(refusal, _NotAdmitted):
            raise refusal.error from None
        raise
    in_record = _credit(target, in_entry)  # step 3
    _journal_posted([(out_entry, out_record), (in_entry, in_record)])  # step 4
    _release([(source["_id"], out_id), (target["_id"], in_id)])  # step 5
    return Transfer(out_entry=out_entry, in_entry=in_entry)


def reserve(
    account: dict, reservation_id: ObjectId, amount_cents: int, at: datetime
) -> dict:
    """Hold back ``amount_cents`` of ``account``'s available balance; return it.

    One compare-and-set, guarded like a debit (the entry count and the
    reservations as read), so a reservation and a debit can never both spend
    the same money. Placing the same reservation again changes nothing. The
    balance does not move: only ``available_cents`` drops. A debit named for
    the reservation spends it (:class:`Terms`), :func:`release` gives it back.
    ``at`` is when the reservation's request began; like a movement's entries,
    a reservation begun at or before the account's fence is refused as expired,
    so a request that stalled past recovery cannot place one afterwards.

    :raises LedgerRefusal: the account is not active or fenced past ``at``, or
        its available balance does not cover the amount.
    :raises LedgerBusy: the account kept changing under every attempt.
    """
    _check_amount(amount_cents)
    held = {"id": reservation_id, "cents": amount_cents, "at": at}
    for _attempt in range(COMMIT_ATTEMPTS):
        if _reservation_on(account, reservation_id) is not None:
            return account
        if account["status"] != "active":
            raise LedgerRefusal(Refusal(f"account_{account['status']}"))
        if account["fenced_until"] >= at:
            raise LedgerRefusal(Refusal.EXPIRED)
        if available_cents(account) < amount_cents:
            raise LedgerRefusal(
                Refusal.INSUFFICIENT_FUNDS,
                available_cents(account),
                requested_cents=amount_cents,
            )
        placed = _accounts().find_one_and_update(
            {
                "_id": account["_id"],
                "entry_seq": account["entry_seq"],
                "reserved_cents": _reserved_filter(account),
                "status": "active",
                "fenced_until": {"$lt": at},
                "reservations.id": {"$ne": reservation_id},
            },
            {"$inc": {"reserved_cents": amount_cents}, "$push": {"reservations": held}},
            return_document=ReturnDocument.AFTER,
        )
        if placed is not None:
            return placed
        account = _accounts().find_one({"_id": account["_id"]})
    raise LedgerBusy(str(account["_id"]))


def release(account_id: ObjectId, reservation_id: ObjectId, amount_cents: int) -> bool:
    """Give a reservation back; True if this call released it (at most once)."""
    result = _accounts().update_one(
        {
            "_id": account_id,
            "reservations": {
                "$elemMatch": {"id": reservation_id, "cents": amount_cents}
            },
        },
        {
            "$inc": {"reserved_cents": -amount_cents},
            "$pull": {"reservations": {"id": reservation_id}},
        },
    )
    return result.modified_count == 1


def _started(begun_at: datetime | None) -> datetime:
    """When a movement counts as begun: its entries' ``created_at``.

    A movement fixed in advance (an Idempotency-Key's claim) begins when it was
    claimed, not when its request got round to it, so that fencing the accounts
    at the claim's time (:func:`fence_owner`) refuses a request that stalled
    before its commit point, however long it stalled.
    """
    now = utc_now()
    return now if begun_at is None else min(now, begun_at)


def _source_refusal(source: dict, entry: dict, terms: Terms) -> LedgerRefusal | None:
    """Judge a debit against a read of the source; None if it may go ahead.

    Advisory only: the commit point decides again against the current balance.
    """
    refusal = _refusal(source, entry, "source")
    if refusal is None:
        refusal = _overdraft(source, entry, terms)
    return refusal


def reserved_cents(account: dict) -> int:
    """What pending approvals hold back on ``account`` (see :func:`reserve`)."""
    return account.get("reserved_cents", 0)


def available_cents(account: dict) -> int:
    """The balance less the reservations: what a debit may spend."""
    return account["balance_cents"] - reserved_cents(account)


def _reservation_on(account: dict, reservation_id: ObjectId | None) -> dict | None:
    if reservation_id is None:
        return None
    return next(
        (r for r in account.get("reservations", []) if r["id"] == reservation_id),
        None,
    )


def _overdraft(account: dict, entry: dict, terms: Terms) -> LedgerRefusal | None:
    """Refuse a debit that would take ``account`` below its floor, or None.

    The debit may spend the available balance plus its own reservation; a debit
    named for a reservation the account no longer holds (released meanwhile)
    is refused as expired.
    """
    delta = entry["delta_cents"]
    if terms.floor_cents is None or delta >= 0:
        return None
    available = available_cents(account)
    if terms.reservation_id is not None:
        reservation = _reservation_on(account, terms.reservation_id)
        if reservation is None:
            return LedgerRefusal(Refusal.EXPIRED)
        available += reservation["cents"]
    if available + delta < terms.floor_cents:
        return LedgerRefusal(
            Refusal.INSUFFICIENT_FUNDS, available, requested_cents=-delta
        )
    return None


def _reserved_filter(account: dict) -> Any:
    """Match ``account``'s reservations as read (older accounts have none)."""
    reserved = reserved_cents(account)
    return reserved if reserved else {"$in": [0, None]}


def _check_amount(amount_cents: int) -> None:
    if amount_cents <= 0:
        raise ValueError("amount_cents must be positive")


def _new_entry(
    account: dict,
    type_: str,
    amount_cents: int,
    description: str | None,
    entry_id: ObjectId,
    now: datetime,
    counterparty: str | None = None,
    transfer_id: ObjectId | None = None,
    pair_id: ObjectId | None = None,
    origin: dict | None = None,
) -> dict:
    delta = amount_cents if type_ in CREDIT_TYPES else -amount_cents
    return {
        "_id": entry_id,
        "account_id": account["_id"],
        "account_number": account["account_number"],
        "user_id": account["user_id"],
        "username": account["username"],
        "type": type_,
        "amount_cents": amount_cents,
        "currency": account["currency"],
        "delta_cents": delta,
        "balance_after_cents": None,
        "seq": None,
        "description": description,
        "counterparty_account_number": counterparty,
        "contra_account": CONTRA_ACCOUNTS.get(type_),
        "transfer_id": transfer_id,
        "pair_id": pair_id,
        "status": "pending",
        "reason": None,
        # Who asked and from where: {actor, ip, request_id}, for the audit trail.
        "origin": origin,
        "created_at": now,
        "posted_at": None,
    }


def _move(
    account: dict,
    type_: str,
    amount_cents: int,
    description: str | None,
    movement_id: ObjectId | None,
    origin: dict | None,
    begun_at: datetime | None,
    admit: Callable[[dict], None] | None = None,
    terms: Terms | None = None,
) -> dict:
    _check_amount(amount_cents)
    terms = terms or Terms()
    entry = _new_entry(
        account, type_, amount_cents, description, movement_id or ObjectId(),
        _started(begun_at), origin=origin,
    )  # fmt: skip
    try:
        if admit is not None:
            # Judged on the caller's read first, as a transfer's source is: a
            # refusal of the ledger's own comes before the caller's rule.
            refusal = _source_refusal(account, entry, terms)
            if refusal is not None:
                raise refusal
            _admit(admit, account)
        record = _commit(account, entry, terms)  # step 1: the commit point
    except (LedgerRefusal, LedgerBusy, _NotAdmitted) as refusal:
        _journal_closed([entry], "rejected", refusal.reason)
        if isinstance(refusal, _NotAdmitted):
            raise refusal.error from None
        raise
    _journal_posted([(entry, record)])  # step 2
    _release([(account["_id"], entry["_id"])])  # step 3
    return entry


# -- the steps ----------------------------------------------------------------


def _refusal(account: dict | None, entry: dict, side: str) -> LedgerRefusal | None:
    """Say why ``account`` cannot take ``entry`` now, or None if it can."""
    if account is None:
        return LedgerRefusal(Refusal.ACCOUNT_NOT_FOUND, side=side)
    if account["status"] != "active":
        return LedgerRefusal(Refusal(f"account_{account['status']}"), side=side)
    if account["fenced_until"] >= entry["created_at"]:
        return LedgerRefusal(Refusal.EXPIRED, side=side)
    return None


def _commit(
    account: dict, entry: dict, terms: Terms | None = None, pair: dict | None = None
) -> dict:
    """Apply ``entry`` to ``account`` with one compare-and-set; return its record.

    The record carries the entry (and a transfer's other leg, ``pair``), so the
    journal can be written from it after a crash. ``account`` is a recent read;
    a stale one only costs a retry. The guard covers the reservations as read,
    so a debit never spends money an approval holds back; a debit that spends
    its own reservation (``terms.reservation_id``) consumes it in this write.
    """
    delta = entry["delta_cents"]
    terms = terms or Terms()
    for _attempt in range(COMMIT_ATTEMPTS):
        applied = _record_on(account, entry["_id"]) if account else None
        if applied is not None:
            return applied  # committed already: at most once
        refusal = _refusal(account, entry, "source") or _overdraft(
            account, entry, terms
        )
        if refusal is not None:
            raise refusal
        balance = account["balance_cents"]
        record = {
            "id": entry["_id"],
            "seq": account["entry_seq"] + 1,
            "balance_after": balance + delta,
            "entry": entry,
        }
        if pair is not None:
            record["pair"] = pair
        guard = {
            "_id": account["_id"],
            "entry_seq": account["entry_seq"],
            "reserved_cents": _reserved_filter(account),
            "status": "active",
            "fenced_until": {"$lt": entry["created_at"]},
            "pending_entries.id": {"$ne": entry["_id"]},
        }
        change: dict = {
            "$inc": {"balance_cents": delta, "entry_seq": 1},
            "$push": {"pending_entries": record},
        }
        spent = _reservation_on(account, terms.reservation_id)
        if spent is not None:
            guard["reservations.id"] = spent["id"]
            change["$inc"]["reserved_cents"] = -spent["cents"]
            change["$pull"] = {"reservations": {"id": spent["id"]}}
        result = _accounts().update_one(guard, change)
        if result.matched_count == 1:
            return record
        account = _accounts().find_one({"_id": account["_id"]})
    raise LedgerBusy(str(account["_id"]))


def _hold(
    target_number: str, out_entry: dict, in_id: ObjectId, into_loan: bool = False
) -> dict:
    """Reserve the target's acceptance of an incoming leg (transfer step 1).

    Return the target as it is with the hold. A miss is judged on a fresh read:
    refused when that read says the target cannot take the leg (or there is no
    such account), done when it shows the hold. Anything else means the status
    changed between the update and the read (frozen, then active again), so the
    update is tried again: a hold is never assumed, only seen. A loan account
    takes a leg only when ``into_loan`` (a repayment), and only a loan account
    does then; otherwise it is answered like a number that names no account.

    :raises LedgerRefusal: the target is missing or not active, or fenced.
    :raises LedgerBusy: the target's status kept changing under every attempt.
    """
    created = out_entry["created_at"]
    hold = {
        "id": in_id,
        "out": out_entry["_id"],
        "source": out_entry["account_id"],
        "cents": out_entry["amount_cents"],
        "at": created,
    }
    for _attempt in range(COMMIT_ATTEMPTS):
        held = _accounts().find_one_and_update(
            {
                "account_number": target_number,
                "status": "active",
                "fenced_until": {"$lt": created},
                "holds.id": {"$ne": in_id},
                # A goal receives money from its owner only.
                "$or": [{"kind": {"$ne": "goal"}}, {"user_id": out_entry["user_id"]}],
                "kind": LOAN_KIND if into_loan else {"$ne": LOAN_KIND},
            },
            {"$push": {"holds": hold}},
            return_document=ReturnDocument.AFTER,
        )
        if held is not None:
            return held
        current = _accounts().find_one({"account_number": target_number})
        if _foreign_goal(current, out_entry) or (
            current is not None and (current.get("kind") == LOAN_KIND) != into_loan
        ):
            current = None  # answered like a number that names no account
        refusal = _refusal(current, out_entry, "target")
        if refusal is not None:
            raise refusal
        if _hold_on(current, in_id) is not None:
            return current
    raise LedgerBusy(target_number)


def _foreign_goal(account: dict | None, entry: dict) -> bool:
    """Tell whether ``account`` is a savings goal of someone other than the payer."""
    return (
        account is not None
        and account.get("kind") == "goal"
        and account["user_id"] != entry["user_id"]
    )


def _credit(target: dict | None, entry: dict) -> dict:
    """Apply an incoming leg whose debit committed (transfer step 3); return its record.

    Guarded by the hold, not the status: the target accepted this credit when the
    hold was placed, and the credit consumes the hold in the same write, so it
    happens at most once. Safe to call again: a later call finds the record, or
    the posted entry once the record is released.
    """
    account = target
    fresh = False  # ``target`` may predate the credit: read again before judging
    # The debit has committed: the credit cannot be refused, only delayed by
    # other credits to a hot target, so it is never given up (a "busy, retry"
    # answer would tell the client nothing moved). Past COMMIT_ATTEMPTS it backs
    # off a little between attempts.
    for attempt in itertools.count():
        if attempt >= COMMIT_ATTEMPTS:
            time.sleep(min(0.05, 0.001 * (attempt - COMMIT_ATTEMPTS + 1)))
        if account is None:
            raise RuntimeError(f"account {entry['account_id']} vanished mid-transfer")
        record = _record_on(account, entry["_id"])
        if record is not None:
            return record
        if _hold_on(account, entry["_id"]) is None:
            if not fresh:
                account = _accounts().find_one({"_id": entry["account_id"]})
                fresh = True
                continue
            posted = _journal().find_one({"_id": entry["_id"]})
            if posted is not None and posted["status"] == "posted":
                return _posted_record(posted)
            raise RuntimeError(
                f"transfer leg {entry['_id']} has neither hold nor credit"
                " after its debit committed"
            )
        record = {
            "id": entry["_id"],
            "seq": account["entry_seq"] + 1,
            "balance_after": account["balance_cents"] + entry["delta_cents"],
            "entry": entry,
        }
        result = _accounts().update_one(
            {
                "_id": account["_id"],
                "entry_seq": account["entry_seq"],
                "pending_entries.id": {"$ne": entry["_id"]},
                "holds.id": entry["_id"],
            },
            {
                "$inc": {"balance_cents": entry["delta_cents"], "entry_seq": 1},
                "$pull": {"holds": {"id": entry["_id"]}},
                "$push": {"pending_entries": record},
            },
        )
        if result.matched_count == 1:
            return record
        account, fresh = _accounts().find_one({"_id": entry["account_id"]}), True
    raise AssertionError("unreachable")  # pragma: no cover


def _journal_posted(applied: list[tuple[dict, dict]], recovered: bool = False) -> None:
    """Write applied entries to the journal, posted with their commit figures.

    One insert for all of them. An entry already there (written by recovery, or
    by the request recovery raced) is the same entry: the duplicate is ignored.
    ``recovered``: written by recovery, for a request that stopped.
    """
    now = utc_now()
    docs = []
    for entry, record in applied:
        entry.update(
            status="posted",
            seq=record["seq"],
            balance_after_cents=record["balance_after"],
            posted_at=now,
        )
        if recovered:
            entry["recovered"] = True
        docs.append(entry)
    inserted = _insert_once(docs)
    if inserted and _posting_observers:
        for observer in _posting_observers:
            observer(inserted)


def _journal_closed(entries: list[dict], status: str, reason: str) -> None:
    """Journal entries that moved nothing: ``rejected`` or ``aborted``."""
    now = utc_now()
    for entry in entries:
        entry.update(status=status, reason=entry.get("reason") or reason)
        entry["posted_at"] = now
    _insert_once(entries)


def _insert_once(docs: list[dict]) -> list[dict]:
    """Insert ``docs``, ignoring those already journalled; return the new ones."""
    try:
        _journal().insert_many(docs, ordered=False)
    except BulkWriteError as error:
        details = error.details
        if details.get("writeConcernErrors") or any(
            e.get("code") != DUPLICATE_KEY for e in details["writeErrors"]
        ):
            raise
        there = {e["index"] for e in details["writeErrors"]}
        return [doc for index, doc in enumerate(docs) if index not in there]
    return docs


def _release(records: list[tuple[ObjectId, ObjectId]]) -> None:
    """Drop the records of journalled entries: (account id, entry id) pairs.

    One round trip: an update, or a bulk write for a transfer's two accounts.
    """
    if len(records) == 1:
        ((account_id, entry_id),) = records
        _accounts().update_one(
            {"_id": account_id}, {"$pull": {"pending_entries": {"id": entry_id}}}
        )
        return
    _accounts().bulk_write(
        [
            UpdateOne(
                {"_id": account_id}, {"$pull": {"pending_entries": {"id": entry_id}}}
            )
            for account_id, entry_id in records
        ],
        ordered=False,
    )


def _drop_hold(account_id: ObjectId, entry_id: ObjectId) -> None:
    _accounts().update_one({"_id": account_id}, {"$pull": {"holds": {"id": entry_id}}})


def _posted_record(entry: dict) -> dict:
    """The commit record of an entry already posted (and maybe released)."""
    return {
        "id": entry["_id"],
        "seq": entry["seq"],
        "balance_after": entry["balance_after_cents"],
    }


def _record_on(account: dict, entry_id: ObjectId) -> dict | None:
    for record in account["pending_entries"]:
        if record["id"] == entry_id:
            return record
    return None


def _hold_of(account: dict, out_id: ObjectId) -> dict:
    return next(hold for hold in account["holds"] if hold["out"] == out_id)


def _hold_on(account: dict, entry_id: ObjectId) -> dict | None:
    for hold in account["holds"]:
        if hold["id"] == entry_id:
            return hold
    return None
