"""Recovery: finish or void the movements whose request stopped.

The ledger's protocol (app.models.ledger) makes every movement a fixed
sequence of single-document writes. A request can stop between any two of
them. What it leaves then is a record on an account (it committed: roll the
movement forward) or a hold on a target (a transfer that stopped before or at
its commit point: fence the source, then finish or void it). This module finds
those and settles them. It uses the ledger's own steps, so a movement is
finished exactly as its request would have finished it.
"""

import logging
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from app.models import ledger, utc_now
from app.models.account import WITH_HOLDS, WITH_PENDING_RECORDS

log = logging.getLogger("app.ledger")


def fence_owner(user_id: ObjectId, moment: datetime) -> None:
    """Refuse every movement of ``user_id``'s accounts begun at or before ``moment``.

    Before an abandoned keyed movement is settled: whatever its request has not
    applied by now it never will (every keyed movement debits or credits one of
    its caller's own accounts).
    """
    ledger._accounts().update_many(
        {"user_id": user_id}, {"$max": {"fenced_until": moment}}
    )


def oldest_unjournalled() -> datetime | None:
    """When the oldest movement still to be journalled began (None: there is none).

    An entry's record is released only after its journal insert, and its
    posting time comes after its start, so no entry yet to reach the journal
    can be posted before this moment (see app.core.audit_feed).
    """
    starts = [
        record["entry"]["created_at"]
        for account in ledger._accounts().find(
            WITH_PENDING_RECORDS, {"pending_entries.entry.created_at": 1}
        )
        for record in account["pending_entries"]
        if "entry" in record
    ]
    return min(starts, default=None)


def settle(movement_id: ObjectId) -> list[dict] | None:
    """Finish or void one movement; return its posted entries, or None.

    ``movement_id`` is a deposit's or withdrawal's entry id, or a transfer id.
    None means nothing moved (never started, refused, or voided now). Only for
    movements no request is still running (see :func:`recover`).
    """
    return _settle(movement_id)[1]


def _settle(movement_id: ObjectId) -> tuple[str, list[dict] | None]:
    """Settle one movement; return (what was done, its posted entries or None).

    What was done: ``finished`` (journalled now), ``released`` (it was in the
    journal already), ``aborted`` (voided now) or ``none``.
    """
    first = ledger._journal().find_one({"_id": movement_id})
    if first is not None and first["status"] in ("rejected", "aborted"):
        # Journalled before its hold was dropped: drop one a crash left behind.
        held = ledger._accounts().find_one(
            {"$and": [WITH_HOLDS, {"holds.out": movement_id}]}
        )
        if held is not None:
            ledger._drop_hold(held["_id"], ledger._hold_of(held, movement_id)["id"])
        return "none", None
    # Each repeats its partial index's filter, so the planner may use it.
    account = ledger._accounts().find_one(
        {"$and": [WITH_PENDING_RECORDS, {"pending_entries.id": movement_id}]}
    )
    if account is not None:
        record = ledger._record_on(account, movement_id)
        done = "released" if first is not None else "finished"
        if "pair" in record:
            entries = _finish_transfer(account["_id"], record)
            return done, entries
        ledger._journal_posted([(dict(record["entry"]), record)], recovered=True)
        ledger._release([(account["_id"], movement_id)])
        return done, [ledger._journal().find_one({"_id": movement_id})]
    if first is not None:  # posted, its own record released
        if first["pair_id"] is None:
            return "none", [first]
        pair = ledger._journal().find_one({"_id": first["pair_id"]})
        # The release is one bulk write of two updates, not atomic: the other
        # leg's record may have stayed behind.
        behind = ledger._accounts().find_one(
            {"$and": [WITH_PENDING_RECORDS, {"pending_entries.id": first["pair_id"]}]}
        )
        if behind is not None and pair is not None:
            ledger._release([(behind["_id"], pair["_id"])])
            return "released", [first, pair]
        return "none", [first, pair]
    target = ledger._accounts().find_one(
        {"$and": [WITH_HOLDS, {"holds.out": movement_id}]}
    )
    if target is None:
        return "none", None  # never reached the ledger's first write
    hold = ledger._hold_of(target, movement_id)
    # Fence the source at the transfer's time, then look again: the debit either
    # landed before the fence (finish it) or can never land (void it).
    source = _fence(hold["source"], hold["at"])
    record = ledger._record_on(source, movement_id) if source else None
    if record is not None:
        return "finished", _finish_transfer(source["_id"], record)
    # Journal first, then drop the hold: a crash in between leaves a hold the
    # next run drops (above), never a void without its trace.
    if source is not None:
        ledger._journal_closed(
            _voided_legs(source, target, hold), "aborted", "recovered"
        )
    ledger._drop_hold(target["_id"], hold["id"])
    return "aborted", None


def _finish_transfer(source_id: ObjectId, record: dict) -> list[dict]:
    """Roll a transfer whose debit committed forward: credit, journal, release."""
    out_entry, in_entry = dict(record["entry"]), dict(record["pair"])
    target = ledger._accounts().find_one({"_id": in_entry["account_id"]})
    in_record = ledger._credit(target, in_entry)
    ledger._journal_posted([(out_entry, record), (in_entry, in_record)], recovered=True)
    ledger._release(
        [(source_id, out_entry["_id"]), (in_entry["account_id"], in_entry["_id"])]
    )
    found = {e["_id"]: e for e in ledger._journal().find(
        {"_id": {"$in": [out_entry["_id"], in_entry["_id"]]}})}  # fmt: skip
    return [found[out_entry["_id"]], found[in_entry["_id"]]]


def _voided_legs(source: dict, target: dict, hold: dict) -> list[dict]:
    """The two legs of a transfer voided before its debit, for the journal."""
    out_id, in_id = hold["out"], hold["id"]
    return [
        ledger._new_entry(
            source, "transfer_out", hold["cents"], None, out_id, hold["at"],
            counterparty=target["account_number"], transfer_id=out_id, pair_id=in_id,
        ),
        ledger._new_entry(
            target, "transfer_in", hold["cents"], None, in_id, hold["at"],
            counterparty=source["account_number"], transfer_id=out_id, pair_id=out_id,
        ),
    ]  # fmt: skip


def _fence(account_id: ObjectId, moment: datetime) -> dict | None:
    """Refuse, from now on, every entry created at or before ``moment``."""
    return ledger._accounts().find_one_and_update(
        {"_id": account_id},
        {"$max": {"fenced_until": moment}},
        return_document=ReturnDocument.AFTER,
    )


def recover(grace: timedelta, now: datetime | None = None) -> dict:
    """Settle every movement whose records or holds are older than ``grace``.

    Returns counts: ``finished`` (journalled now), ``released`` (journalled
    already, records dropped now), ``aborted`` (voided), ``failed``, and
    ``posted``: the movements that moved.

    The grace period keeps recovery off movements whose request is still
    running. Idempotent: a second run finds nothing to do.
    """
    cutoff = (now or utc_now()) - grace
    counts: dict = {"finished": 0, "aborted": 0, "released": 0, "failed": 0,
                    "posted": []}  # fmt: skip
    stale: dict = {}  # movement id -> None, in the order found
    for account in ledger._accounts().find(WITH_PENDING_RECORDS):
        for record in account["pending_entries"]:
            entry = record.get("entry")
            if entry is None:  # not this protocol's (docs/operations.md's upgrade note)
                log.error("account %s: unreadable record %s", account["_id"], record)
                counts["failed"] += 1
            elif entry["created_at"] <= cutoff:
                stale[entry["transfer_id"] or entry["_id"]] = None
    for account in ledger._accounts().find(WITH_HOLDS):
        for hold in account["holds"]:
            if hold["at"] <= cutoff:
                stale[hold["out"]] = None
    for movement_id in stale:
        try:
            done, entries = _settle(movement_id)
        except PyMongoError:
            raise  # the database is failing: nothing else can be settled either
        except Exception:  # noqa: BLE001 - one odd movement must not stop the rest
            # Left as it is, so the ledger check reports it and the next run
            # tries again; start-up goes on.
            log.exception("could not settle movement %s", movement_id)
            counts["failed"] += 1
            continue
        if done in counts:
            counts[done] += 1
        if entries:
            counts["posted"].append(movement_id)
    return counts
