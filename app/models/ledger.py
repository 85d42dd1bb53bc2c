"""The ledger: the only code that changes an account balance.

Protocol
========

Every movement of one account's balance is a journal entry in ``transactions``
and one guarded update of the account. There are no multi-document
transactions (the in-memory backend has none), so the order of writes is what
keeps the journal and the balances from ever disagreeing:

1. **Journal.** Insert the entry with ``status: "pending"``. Nothing has moved.
2. **Commit point.** One atomic conditional update of the account::

       filter  {_id, status: "active", pending_entries: {$ne: entry_id},
                balance_cents: {$gte: amount}}          # the last for debits
       update  {$inc: {balance_cents: delta, entry_seq: 1},
                $push: {pending_entries: entry_id}}

   The balance changes and the entry's id is recorded on the account in the
   same single-document write, so "was this entry applied?" always has an
   answer that cannot disagree with the balance. The ``$ne`` guard makes the
   write happen at most once per entry; the ``$gte`` guard makes an overdraft
   impossible under any concurrency (no read-check-write). A refused update
   marks the entry ``rejected`` and nothing has moved.
3. **Post.** Mark the entry ``posted`` with its ``seq`` (the account's
   ``entry_seq`` after the update) and ``balance_after``.
4. **Release.** ``$pull`` the entry id from the account's ``pending_entries``.

Steps 3 and 4 are idempotent, so a crash anywhere leaves a state recovery can
settle by looking only at the entry and its account:

- entry pending, id not on the account: the commit point never happened; the
  movement is undone by marking the entry ``aborted`` (recovery first records
  the abort on the account so a late step 2 can no longer apply it).
- entry pending, id on the account: the money moved; finish steps 3 and 4. The
  entry's ``seq`` is the missing number in the account's posted sequence, in
  the order of ``pending_entries`` (``$push`` keeps commit order), and its
  ``balance_after`` is the balance minus the deltas of later entries.
- entry posted, id still on the account: finish step 4.

A posted entry is never edited; a correction is a new entry. Listing shows
posted entries only, so an account's posted history always sums to its
balance less the deltas still in ``pending_entries``.
"""

from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from app.db import get_db
from app.models import utc_now

CREDIT_TYPES = ("deposit", "transfer_in")


class LedgerRefusal(Exception):
    """A movement the ledger refused; nothing moved."""

    def __init__(self, reason: str, balance_cents: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.balance_cents = balance_cents


@dataclass(frozen=True)
class Movement:
    """The outcome of a posted movement."""

    entry: dict
    account: dict


def _accounts() -> Any:
    return get_db()["accounts"]


def _journal() -> Any:
    return get_db()["transactions"]


def deposit(account: dict, amount_cents: int, description: str | None) -> Movement:
    """Credit ``account`` with ``amount_cents`` and journal it."""
    return _move(account, "deposit", amount_cents, description)


def withdraw(account: dict, amount_cents: int, description: str | None) -> Movement:
    """Debit ``account`` if its balance covers ``amount_cents``, and journal it.

    :raises LedgerRefusal: ``insufficient_funds`` or the account is not active.
    """
    return _move(account, "withdrawal", amount_cents, description)


def _move(
    account: dict, type_: str, amount_cents: int, description: str | None
) -> Movement:
    if amount_cents <= 0:
        raise ValueError("amount_cents must be positive")
    delta = amount_cents if type_ in CREDIT_TYPES else -amount_cents
    now = utc_now()
    entry = {
        "_id": ObjectId(),
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
        "counterparty_account_number": None,
        "transfer_id": None,
        "status": "pending",
        "created_at": now,
        "posted_at": None,
    }
    # Step 1: journal first, so every later state is explainable.
    _journal().insert_one(entry)

    # Step 2: the commit point.
    guard: dict = {
        "_id": account["_id"],
        "status": "active",
        "pending_entries": {"$ne": entry["_id"]},
    }
    if delta < 0:
        guard["balance_cents"] = {"$gte": amount_cents}
    updated = _accounts().find_one_and_update(
        guard,
        {
            "$inc": {"balance_cents": delta, "entry_seq": 1},
            "$push": {"pending_entries": entry["_id"]},
        },
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        _reject(entry)

    # Step 3: post the entry with the figures the commit point produced.
    posted = {
        "status": "posted",
        "seq": updated["entry_seq"],
        "balance_after_cents": updated["balance_cents"],
        "posted_at": utc_now(),
    }
    _journal().update_one({"_id": entry["_id"], "status": "pending"}, {"$set": posted})
    entry.update(posted)

    # Step 4: release the entry from the account.
    _accounts().update_one(
        {"_id": account["_id"]}, {"$pull": {"pending_entries": entry["_id"]}}
    )
    return Movement(entry=entry, account=updated)


def _reject(entry: dict) -> None:
    """Explain a refused commit point, mark the entry rejected and raise."""
    current = _accounts().find_one({"_id": entry["account_id"]})
    if current is None:
        reason = "account_not_found"
    elif current["status"] != "active":
        reason = f"account_{current['status']}"
    else:
        reason = "insufficient_funds"
    _journal().update_one(
        {"_id": entry["_id"], "status": "pending"},
        {"$set": {"status": "rejected", "reason": reason, "posted_at": utc_now()}},
    )
    raise LedgerRefusal(reason, current["balance_cents"] if current else None)
