"""The ledger: the only code that changes an account balance.

Design
======

There are no multi-document transactions here (the in-memory backend has none,
and a ledger that needs them would behave differently on the two backends), so
every movement is a short, fixed sequence of single-document writes whose order
alone keeps journal and balances in agreement. The references were MongoDB's
two-phase-commit pattern (journal states, a pending-ids array on each account
guarded with ``$ne``, recovery at start-up) and TigerBeetle's pending / post /
void transfers. From the first we take the journal states and the per-account
list of applied-but-unposted entries; from the second, the idea that a transfer
first *reserves* what it needs (here: a hold on the receiving account) and is
then either posted or voided, so no step after the commit point can be refused.

Why this shape rather than either reference as written: the 2PC pattern
applies both legs and then needs a rollback path that reverses an applied leg
when the other fails, so a crash during rollback must itself be recovered, and
the history shows money that moved and came back. TigerBeetle reserves on the
source (``debits_pending``) and posts or voids later, which here would cost
another balance field and another write per transfer. Holding on the *target*
and making the source debit the single commit point means nothing is ever
reversed: before the debit, voiding only drops a hold; after it, every step
is a roll-forward that cannot be refused. Deposits and withdrawals are the
one-account case of the same commit point.

The journal (``transactions``) is append-only: entries are inserted ``pending``
and move once, to ``posted``, ``rejected`` (refused at the commit point) or
``aborted`` (abandoned by a crash and undone by recovery). A posted entry is
never edited; a correction would be a new entry.

Account fields the protocol uses:

- ``balance_cents`` and ``entry_seq``: the balance and the number of entries
  applied to it. Every balance change increments ``entry_seq`` in the same write.
- ``pending_entries``: ``{id, seq, balance_after}`` for each entry applied to
  the balance but not yet marked posted. Written in the same update as the
  balance, so "was this entry applied?" always has an answer that agrees with it.
- ``holds``: ids of incoming transfer legs that were accepted and are waiting
  for their credit.
- ``fenced_until``: recovery's watermark. No entry created at or before it can
  be applied or held, so an abandoned request that wakes up late cannot apply
  an entry recovery has already aborted.

Deposit and withdrawal
----------------------

1. **Journal** the entry ``pending``. Nothing has moved.
2. **Commit point**: one conditional update of the account, a compare-and-set
   on ``entry_seq``::

       filter  {_id, entry_seq: s, status: "active",
                fenced_until: {$lt: entry.created_at},
                "pending_entries.id": {$ne: entry_id}}
       update  {$inc: {balance_cents: delta, entry_seq: 1},
                $push: {pending_entries: {id, seq: s + 1, balance_after: b + delta}}}

   ``s`` and ``b`` come from a read of the account; an overdraft is refused
   against that exact snapshot, and the ``entry_seq`` guard makes the update
   fail if anything changed the balance since, in which case the account is
   read again and the step retried. So the check and the change are one atomic
   decision, the refusal reports the balance that refused, and the entry's
   ``seq`` and ``balance_after`` are fixed at the commit point, where recovery
   can read them. A refusal marks the entry ``rejected``.
3. **Post**: ``{_id, status: "pending"} -> status posted, seq, balance_after``.
4. **Release**: ``$pull`` the entry's record from ``pending_entries``.

Transfer
--------

1. **Journal** both legs ``pending``: ``transfer_out`` on the source (its id is
   the transfer id) and ``transfer_in`` on the target, each naming the other.
   Before anything else the source is judged from the request's read of it
   (active, enough money): a refusal there rejects both legs, so a caller who
   could not pay learns nothing about the target (a number that names no
   account is answered the same way; see :func:`refuse_unknown_target`).
2. **Hold** on the target: ``{_id, status: "active", fenced_until < created_at,
   holds: {$ne: in_id}} -> $push holds``. The target accepts the credit now, so
   a later freeze or close cannot strand money that already left the source
   (an account with holds cannot be closed).
3. **Commit point**: the debit of the source, exactly step 2 above. Refused:
   the hold is dropped and both legs are ``rejected``.
4. **Credit** the target, guarded by the hold instead of the status:
   ``{_id, entry_seq: s, holds: in_id} -> $inc, $pull holds, $push record``.
   The hold is consumed by the credit itself, so the credit happens at most once.
5. **Post** both legs, 6. **release** both records.

Every step after the commit point is idempotent and cannot be refused, so a
transfer whose debit happened is always finished, and one whose debit did not
happen is always voided: both legs or neither.

Recovery
--------

:func:`settle` finishes or undoes one movement; :func:`recover` settles every
movement left pending longer than a grace period (so it never races a request
that is still running) and releases records of entries already posted. For a
pending entry it looks at the account:

- the entry's record is on the account (it committed): post it and release;
- it is not: raise the account's ``fenced_until`` to the entry's time, read the
  account again (the commit may have landed just before the fence), and if the
  record is still absent mark the entry ``aborted``; for a transfer, also fence
  the target, drop the hold and abort the other leg.

A transfer whose debit committed is rolled forward: the credit (step 4) is
applied if it has not been, then both legs are posted. Running recovery twice
changes nothing the second time.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from app.db import get_db
from app.models import utc_now
from app.models.account import WITH_HOLDS, WITH_PENDING_RECORDS

log = logging.getLogger("app.ledger")

CREDIT_TYPES = ("deposit", "transfer_in")
# The bank's own side of the books. Their balances are derived from the journal
# (each one-sided entry names its contra account), never stored in a document
# that every movement would write. Same sign as account balances: a deposit of
# 10.00 lowers "cash" by 10.00, so customers plus system always sum to zero.
SYSTEM_ACCOUNTS = ("cash", "loan_funds", "interest_income", "fees")
# The system account on the other side of each one-sided entry type; a
# transfer's legs balance each other and have none.
CONTRA_ACCOUNTS = {"deposit": "cash", "withdrawal": "cash"}


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

    ``side`` is ``"source"`` or ``"target"``: the account that refused.
    """

    def __init__(
        self, reason: Refusal, balance_cents: int | None = None, side: str = "source"
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.balance_cents = balance_cents
        self.side = side


class LedgerBusy(Exception):
    """The account changed under every attempt; the movement may be retried."""

    reason = Refusal.BUSY


@dataclass(frozen=True)
class Transfer:
    """The two posted legs of a transfer."""

    out_entry: dict
    in_entry: dict


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
) -> dict:
    """Credit ``account`` and return the posted journal entry.

    :raises LedgerRefusal: the account is not active.
    :raises LedgerBusy: the account kept changing under the commit point.
    """
    return _move(account, "deposit", amount_cents, description, movement_id)


def withdraw(
    account: dict,
    amount_cents: int,
    description: str | None,
    movement_id: ObjectId | None = None,
) -> dict:
    """Debit ``account`` if its balance covers the amount; return the entry.

    :raises LedgerRefusal: ``insufficient_funds`` or the account is not active.
    :raises LedgerBusy: the account kept changing under the commit point.
    """
    return _move(account, "withdrawal", amount_cents, description, movement_id)


def transfer(
    source: dict,
    target: dict,
    amount_cents: int,
    description: str | None,
    transfer_id: ObjectId | None = None,
) -> Transfer:
    """Move money from ``source`` to ``target``: both legs or neither.

    :raises LedgerRefusal: a side is not active, or the source lacks the funds.
    :raises LedgerBusy: the source kept changing under the commit point.
    """
    _check_amount(amount_cents)
    if source["_id"] == target["_id"]:
        raise ValueError("a transfer needs two different accounts")
    now = utc_now()
    out_id = transfer_id or ObjectId()
    in_id = ObjectId()
    out_entry = _new_entry(
        source, "transfer_out", amount_cents, description, out_id, now,
        counterparty=target["account_number"], transfer_id=out_id, pair_id=in_id,
    )  # fmt: skip
    in_entry = _new_entry(
        target, "transfer_in", amount_cents, description, in_id, now,
        counterparty=source["account_number"], transfer_id=out_id, pair_id=out_id,
    )  # fmt: skip
    # Step 1: both legs, in this order (a partial insert leaves only the out leg).
    _journal().insert_many([out_entry, in_entry])
    # The source is judged first, from the caller's own read of it: a caller who
    # could not pay learns nothing of the target's state (frozen, closed).
    refusal = _source_refusal(source, out_entry)
    if refusal is not None:
        _close(out_entry, "rejected", refusal.reason)
        _close(in_entry, "rejected", f"source_{refusal.reason}")
        raise refusal
    try:
        held = _hold(target, in_entry)  # step 2
    except (LedgerRefusal, LedgerBusy) as refusal:
        _close(out_entry, "rejected", f"target_{refusal.reason}")
        _close(in_entry, "rejected", refusal.reason)
        raise
    try:
        out_record = _commit(source, out_entry)  # step 3: the commit point
    except (LedgerRefusal, LedgerBusy) as refusal:
        _drop_hold(target["_id"], in_id)
        _close(out_entry, "rejected", refusal.reason)
        _close(in_entry, "rejected", f"source_{refusal.reason}")
        raise
    in_record = _credit(held, in_entry)  # step 4
    _post(out_entry, out_record)  # step 5
    _post(in_entry, in_record)
    _release(source["_id"], out_id)  # step 6
    _release(target["_id"], in_id)
    return Transfer(out_entry=out_entry, in_entry=in_entry)


def refuse_unknown_target(source: dict, amount_cents: int) -> LedgerRefusal:
    """Say why a transfer to a number that names no account is refused.

    The source's refusal when it has one, as for a target that exists, so the
    answer tells a caller who could not pay nothing about the number.
    """
    probe = {"delta_cents": -amount_cents, "created_at": utc_now()}
    return _source_refusal(source, probe) or LedgerRefusal(
        Refusal.ACCOUNT_NOT_FOUND, side="target"
    )


def _source_refusal(source: dict, entry: dict) -> LedgerRefusal | None:
    """Judge a debit against a read of the source; None if it may go ahead.

    Advisory only: the commit point decides again against the current balance.
    """
    refusal = _refusal(source, entry, "source")
    if refusal is None and source["balance_cents"] + entry["delta_cents"] < 0:
        refusal = LedgerRefusal(Refusal.INSUFFICIENT_FUNDS, source["balance_cents"])
    return refusal


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
        "created_at": now,
        "posted_at": None,
    }


def _move(
    account: dict,
    type_: str,
    amount_cents: int,
    description: str | None,
    movement_id: ObjectId | None,
) -> dict:
    _check_amount(amount_cents)
    entry = _new_entry(
        account, type_, amount_cents, description, movement_id or ObjectId(), utc_now()
    )
    _journal().insert_one(entry)  # step 1
    try:
        record = _commit(account, entry)  # step 2: the commit point
    except (LedgerRefusal, LedgerBusy) as refusal:
        _close(entry, "rejected", refusal.reason)
        raise
    _post(entry, record)  # step 3
    _release(account["_id"], entry["_id"])  # step 4
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


def _commit(account: dict, entry: dict) -> dict:
    """Apply ``entry`` to ``account`` with one compare-and-set; return its record.

    ``account`` is a recent read; a stale one only costs a retry.
    """
    delta = entry["delta_cents"]
    for _attempt in range(COMMIT_ATTEMPTS):
        applied = _record_on(account, entry["_id"]) if account else None
        if applied is not None:
            return applied  # committed already: at most once
        refusal = _refusal(account, entry, "source")
        if refusal is not None:
            raise refusal
        balance = account["balance_cents"]
        if balance + delta < 0:
            raise LedgerRefusal(Refusal.INSUFFICIENT_FUNDS, balance)
        record = {
            "id": entry["_id"],
            "seq": account["entry_seq"] + 1,
            "balance_after": balance + delta,
        }
        result = _accounts().update_one(
            {
                "_id": account["_id"],
                "entry_seq": account["entry_seq"],
                "status": "active",
                "fenced_until": {"$lt": entry["created_at"]},
                "pending_entries.id": {"$ne": entry["_id"]},
            },
            {
                "$inc": {"balance_cents": delta, "entry_seq": 1},
                "$push": {"pending_entries": record},
            },
        )
        if result.matched_count == 1:
            return record
        account = _accounts().find_one({"_id": account["_id"]})
    raise LedgerBusy(str(account["_id"]))


def _hold(target: dict, entry: dict) -> dict:
    """Reserve the target's acceptance of an incoming leg (transfer step 2).

    Return the target as it is with the hold, so the credit needs no read of
    its own. A miss is judged on a fresh read: refused when that read says the
    target cannot take the leg, done when it shows the hold. Anything else
    means the status changed between the update and the read (frozen, then
    active again), so the update is tried again: a hold is never assumed, only
    seen.

    :raises LedgerRefusal: the target is not active, or recovery fenced it.
    :raises LedgerBusy: the target's status kept changing under every attempt.
    """
    for _attempt in range(COMMIT_ATTEMPTS):
        held = _accounts().find_one_and_update(
            {
                "_id": target["_id"],
                "status": "active",
                "fenced_until": {"$lt": entry["created_at"]},
                "holds": {"$ne": entry["_id"]},
            },
            {"$push": {"holds": entry["_id"]}},
            return_document=ReturnDocument.AFTER,
        )
        if held is not None:
            return held
        current = _accounts().find_one({"_id": target["_id"]})
        refusal = _refusal(current, entry, "target")
        if refusal is not None:
            raise refusal
        if entry["_id"] in current["holds"]:
            return current
    raise LedgerBusy(str(target["_id"]))


def _credit(target: dict, entry: dict) -> dict:
    """Apply an incoming leg whose debit committed (transfer step 4); return its record.

    Guarded by the hold, not the status: the target accepted this credit when the
    hold was placed, and the credit consumes the hold in the same write, so it
    happens at most once. Safe to call again: a later call finds the record, or
    the posted entry once the record is released.

    A committed leg without a hold is a state the protocol never makes (an older
    version could, by assuming a hold it had not placed). It is rolled forward
    too, since its money has left the source: guarded by the journal instead,
    read after the account, so that a credit applied, posted and released in
    between is seen as posted and never applied twice.
    """
    account: dict | None = target
    fresh = False  # ``target`` may predate the hold: read again before judging
    for _attempt in range(COMMIT_ATTEMPTS):
        if account is None:
            raise RuntimeError(f"account {target['_id']} vanished mid-transfer")
        record = _record_on(account, entry["_id"])
        if record is not None:
            return record
        held = entry["_id"] in account["holds"]
        if not held:
            if not fresh:
                account, fresh = _accounts().find_one({"_id": target["_id"]}), True
                continue
            current = _journal().find_one({"_id": entry["_id"]})
            if current is not None and current["status"] == "posted":
                return _posted_record(current)
            if current is None or current["status"] != "pending":
                raise RuntimeError(
                    f"transfer leg {entry['_id']} is {current and current['status']}"
                    " after its debit committed"
                )
            log.warning("transfer leg %s has no hold: credited unheld", entry["_id"])
        record = {
            "id": entry["_id"],
            "seq": account["entry_seq"] + 1,
            "balance_after": account["balance_cents"] + entry["delta_cents"],
        }
        guard = {
            "_id": account["_id"],
            "entry_seq": account["entry_seq"],
            "pending_entries.id": {"$ne": entry["_id"]},
            "holds": entry["_id"] if held else {"$ne": entry["_id"]},
        }
        result = _accounts().update_one(
            guard,
            {
                "$inc": {"balance_cents": entry["delta_cents"], "entry_seq": 1},
                "$pull": {"holds": entry["_id"]},
                "$push": {"pending_entries": record},
            },
        )
        if result.matched_count == 1:
            return record
        account, fresh = _accounts().find_one({"_id": target["_id"]}), True
    raise LedgerBusy(str(target["_id"]))


def _post(entry: dict, record: dict) -> None:
    """Mark an applied entry posted with the figures of its commit."""
    posted = {
        "status": "posted",
        "seq": record["seq"],
        "balance_after_cents": record["balance_after"],
        "posted_at": utc_now(),
    }
    _journal().update_one({"_id": entry["_id"], "status": "pending"}, {"$set": posted})
    entry.update(posted)


def _release(account_id: ObjectId, entry_id: ObjectId) -> None:
    _accounts().update_one(
        {"_id": account_id}, {"$pull": {"pending_entries": {"id": entry_id}}}
    )


def _drop_hold(account_id: ObjectId, entry_id: ObjectId) -> None:
    _accounts().update_one({"_id": account_id}, {"$pull": {"holds": entry_id}})


def _close(entry: dict, status: str, reason: str) -> bool:
    """Move a pending entry to ``rejected`` or ``aborted``; tell if it moved."""
    result = _journal().update_one(
        {"_id": entry["_id"], "status": "pending"},
        {"$set": {"status": status, "reason": reason, "posted_at": utc_now()}},
    )
    if result.matched_count == 1:
        entry.update(status=status, reason=reason)
        return True
    return False


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


# -- recovery -----------------------------------------------------------------


def _fence(account_id: ObjectId, moment: datetime) -> dict | None:
    """Refuse, from now on, every entry created at or before ``moment``."""
    _accounts().update_one({"_id": account_id}, {"$max": {"fenced_until": moment}})
    return _accounts().find_one({"_id": account_id})


def _reload(entry: dict) -> dict:
    return _journal().find_one({"_id": entry["_id"]})


def settle(movement_id: ObjectId) -> list[dict] | None:
    """Finish or undo one movement; return its posted entries, or None.

    ``movement_id`` is a deposit's or withdrawal's entry id, or a transfer id.
    None means nothing moved (never journalled, refused, or undone now). Only
    for movements no request is still running (see :func:`recover`).
    """
    first = _journal().find_one({"_id": movement_id})
    if first is None:
        return None
    if first["pair_id"] is None:
        return _settle_single(first)
    if first["type"] == "transfer_out":
        out_entry, in_entry = first, _journal().find_one({"_id": first["pair_id"]})
    else:
        out_entry, in_entry = _journal().find_one({"_id": first["pair_id"]}), first
    return _settle_transfer(out_entry, in_entry)


def _settle_single(entry: dict) -> list[dict] | None:
    if entry["status"] in ("rejected", "aborted"):
        return None
    if entry["status"] == "posted":
        _release(entry["account_id"], entry["_id"])
        return [entry]
    account = _accounts().find_one({"_id": entry["account_id"]})
    record = _record_on(account, entry["_id"])
    if record is None:
        account = _fence(entry["account_id"], entry["created_at"])
        record = _record_on(account, entry["_id"])
    if record is None:
        if not _close(entry, "aborted", "recovered"):
            # Posted (and released) between our reads: it did move.
            return _settle_single(_reload(entry))
        return None
    _post(entry, record)
    _release(entry["account_id"], entry["_id"])
    return [entry]


def _out_committed(out_entry: dict, source: dict | None) -> dict | None:
    """Return the out leg's record (from the account or the posted entry)."""
    if out_entry["status"] == "posted":
        return _posted_record(out_entry)
    return _record_on(source, out_entry["_id"]) if source else None


def _settle_transfer(out_entry: dict, in_entry: dict | None) -> list[dict] | None:
    source = _accounts().find_one({"_id": out_entry["account_id"]})
    record = _out_committed(out_entry, source)
    if record is None and out_entry["status"] == "pending":
        source = _fence(out_entry["account_id"], out_entry["created_at"])
        if in_entry is not None:
            _fence(in_entry["account_id"], in_entry["created_at"])
        record = _out_committed(_reload(out_entry), source)
    if record is None:
        # The debit never happened and now never can: void the transfer.
        _close(out_entry, "aborted", "recovered")
        if in_entry is not None:
            _drop_hold(in_entry["account_id"], in_entry["_id"])
            _close(in_entry, "aborted", "recovered")
        return None
    # The debit happened: roll forward.
    in_entry = _reload(in_entry)
    target = _accounts().find_one({"_id": in_entry["account_id"]})
    in_record = _credit(target, in_entry)
    _post(out_entry, record)
    _post(in_entry, in_record)
    _release(out_entry["account_id"], out_entry["_id"])
    _release(in_entry["account_id"], in_entry["_id"])
    return [_reload(out_entry), _reload(in_entry)]


def recover(grace: timedelta, now: datetime | None = None) -> dict:
    """Settle every movement pending longer than ``grace``; return counts.

    ``posted`` lists the movements it found posted (finished now, or posted by
    a request that died before releasing its records), so that the caller can
    write what their requests never did.

    The grace period keeps recovery off movements whose request is still
    running. Idempotent: a second run finds nothing to do.
    """
    cutoff = (now or utc_now()) - grace
    counts: dict = {
        "finished": 0,
        "aborted": 0,
        "released": 0,
        "failed": 0,
        "posted": [],
    }
    seen: set = set()
    stale = _journal().find({"status": "pending", "created_at": {"$lte": cutoff}})
    for entry in stale:
        movement_id = entry["transfer_id"] or entry["_id"]
        if movement_id in seen:
            continue
        seen.add(movement_id)
        try:
            settled = settle(movement_id)
        except PyMongoError:
            raise  # the database is failing: nothing else can be settled either
        except Exception:  # noqa: BLE001 - one odd movement must not stop the rest
            # Left pending, so the ledger check reports it and the next run
            # tries again; start-up goes on.
            log.exception("could not settle movement %s", movement_id)
            counts["failed"] += 1
            continue
        if settled:
            counts["finished"] += 1
            counts["posted"].append(movement_id)
        else:
            counts["aborted"] += 1
    # Records and holds whose entry is settled: the crash came after the post.
    # One query each, so that each is served by its own partial index.
    recorded = _accounts().find(WITH_PENDING_RECORDS, {"pending_entries": 1})
    for account in recorded:
        for record in account["pending_entries"]:
            entry = _journal().find_one({"_id": record["id"]})
            if entry is not None and entry["status"] == "posted":
                _release(account["_id"], record["id"])
                counts["released"] += 1
                counts["posted"].append(entry["transfer_id"] or entry["_id"])
    for account in _accounts().find(WITH_HOLDS, {"holds": 1}):
        for entry_id in account["holds"]:
            entry = _journal().find_one({"_id": entry_id})
            if entry is None or entry["status"] in ("rejected", "aborted"):
                _drop_hold(account["_id"], entry_id)
                counts["released"] += 1
    return counts
