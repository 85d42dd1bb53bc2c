"""Scheduled transfers (standing orders): place, show, pause, resume, cancel, pay.

An order pays ``amount`` from one of the customer's accounts to another account
on each of its occurrences (``app.core.schedules``). The job runner pays every
occurrence due up to today, including ones missed while nothing ran, through
the same use case as ``POST /transfers`` (``app.core.spending``: daily limit,
ledger, round-ups), each exactly once: the payment is keyed by the occurrence
(``app.core.exactly_once``), so a second runner, a crashed runner's successor
or a retry finds it paid instead of paying it again. A payment that is refused
is tried again on each run until its day ends, then recorded ``failed``; three
failed occurrences in a row suspend the order.

An occurrence is the customer's transfer, so one of at least
APPROVAL_THRESHOLD to someone else's account waits for a banker exactly as the
same transfer sent by hand does (``app.core.approvals``): under the same work
key, the runner reserves the amount and stores the approval instead of moving
the money (asked once, however many runners or retries reach it), and records
the occurrence ``awaiting_approval`` with the approval's id. The order then
moves on to its next occurrence; the run shows the approval's outcome when it
has one (``succeeded`` with the transfer once posted, ``failed`` with
``approval_rejected``, ``approval_cancelled``, ``approval_expired`` or the
movement's reason otherwise). A banker's refusal is not a failed payment: it
does not count towards suspending the order. The approval outlives the order:
cancelling the order leaves an occurrence already asked to its approval
(``POST /approvals/{id}/cancel`` cancels that).
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime

from bson import ObjectId

from app.core import approvals, payees
from app.core.accounts import own_account
from app.core.approvals import ApprovalRules
from app.core.calendar import bank_day
from app.core.errors import (
    AccountBusy,
    AccountNotFound,
    DomainError,
    InvalidRequest,
    InvalidState,
    ScheduledTransferNotFound,
    reason_of,
)
from app.core.exactly_once import Done, WorkInProgress, run_once
from app.core.movements import Caller, Movement, MovementKey, TransferOrder
from app.core.schedules import Recurrence, first_on_or_after, occurrence
from app.models import to_object_id, utc_now
from app.models.account import AccountModel
from app.models.approval import POSTED, TERMINAL, ApprovalModel
from app.models.scheduled_transfer import AWAITING_APPROVAL, ScheduledTransferModel
from app.models.user import UserModel

log = logging.getLogger("app.scheduled")

# Failed occurrences in a row that suspend an order.
SUSPEND_AFTER = 3
# What each move of the customer's may start from.
_MOVES = {
    "pause": (("active",), "paused"),
    "resume": (("paused", "suspended"), "active"),
    "cancel": (("active", "paused", "suspended"), "cancelled"),
}


@dataclass(frozen=True)
class StandingOrder:
    """A customer's request for a scheduled transfer, validated in shape."""

    cents: int
    start_date: date
    to_account_number: str | None = None
    payee_id: str | None = None
    from_account_number: str | None = None
    description: str | None = None
    recurrence: Recurrence | None = None


@dataclass(frozen=True)
class PayRun:
    """What one pass over the due orders did."""

    done: int = 0  # occurrences paid (or handed to a banker's approval)
    failed: int = 0  # payments refused (retried later, or recorded failed)


def place(owner: dict, order: StandingOrder, *, currency: str, today: date) -> dict:
    """Place a standing order for the owner; return it.

    :raises InvalidRequest: the start is in the past, the end before the start,
        or the target is the source.
    :raises AccountNotFound: the source is not the owner's (or is a goal), or
        no open account has the target number.
    :raises PayeeNotFound: no such payee of the owner's.
    """
    if order.start_date < today:
        raise InvalidRequest("start_date", "Must be today or later.")
    recurrence = order.recurrence
    if recurrence and recurrence.end_date and recurrence.end_date < order.start_date:
        raise InvalidRequest("recurrence", "end_date must not be before start_date.")
    source = own_account(owner, order.from_account_number, currency)
    if source.get("kind") == "goal":
        raise AccountNotFound()
    target_number = order.to_account_number
    if order.payee_id is not None:
        target_number = payees.payee_account(owner, order.payee_id)
    if target_number == source["account_number"]:
        raise InvalidRequest(
            "to_account_number", "Must differ from the source account."
        )
    target = AccountModel().find_by_number(target_number)
    if (
        target is None
        or target["status"] == "closed"
        or (target.get("kind") == "goal" and target["user_id"] != owner["_id"])
    ):
        raise AccountNotFound()
    return ScheduledTransferModel().create(
        {
            "user_id": owner["_id"],
            "username": owner["username"],
            "from_account_number": source["account_number"],
            "to_account_number": target_number,
            "payee_id": to_object_id(order.payee_id) if order.payee_id else None,
            "amount_cents": order.cents,
            "currency": currency,
            "description": order.description,
            "start_date": order.start_date.isoformat(),
            "recurrence": _stored_recurrence(recurrence),
            "next_run_date": order.start_date.isoformat(),
        }
    )


def get(owner: dict, order_id: str) -> dict:
    """Return one of the owner's orders.

    :raises ScheduledTransferNotFound: no such order of the owner's.
    """
    oid = to_object_id(order_id)
    order = ScheduledTransferModel().find_owned(owner["_id"], oid) if oid else None
    if order is None:
        raise ScheduledTransferNotFound()
    return order


def list_orders(owner: dict, limit: int, after: tuple | None) -> tuple[list, bool]:
    """Return a page of the owner's orders, newest first."""
    return ScheduledTransferModel().list_for_user(owner["_id"], limit, after)


def list_runs(
    owner: dict, order_id: str, limit: int, after: tuple | None
) -> tuple[list, bool]:
    """Return a page of one of the owner's orders' runs, newest first.

    :raises ScheduledTransferNotFound: no such order of the owner's.
    """
    order = get(owner, order_id)
    runs, more = ScheduledTransferModel().list_runs(order["_id"], limit, after)
    return _with_approvals(runs), more


def _with_approvals(runs: list[dict]) -> list[dict]:
    """The runs with each asked occurrence shown as its approval stands (one
    query for the page): still ``awaiting_approval``, ``succeeded`` with the
    transfer, or ``failed`` with why."""
    asked = [run["approval_id"] for run in runs if run.get("approval_id")]
    found = ApprovalModel().find_many(asked) if asked else {}
    shown = []
    for run in runs:
        approval = found.get(run.get("approval_id"))
        if approval is not None and approval["status"] in TERMINAL:
            status = approval["status"]
            if status == POSTED:
                run = {**run, "status": "succeeded",
                       "transfer_id": approval["transfer_id"]}  # fmt: skip
            else:
                reason = approval["reason"] if status == "failed" else None
                run = {**run, "status": "failed",
                       "reason": reason or f"approval_{status}"}  # fmt: skip
        shown.append(run)
    return shown


def change(owner: dict, order_id: str, move: str, *, today: date) -> dict:
    """Pause, resume or cancel one of the owner's orders; return it.

    One guarded update per move, so a move races nothing into a state the
    rules do not allow. Resuming skips what fell due while the order was
    paused or suspended (it pays from today on), and completes an order with
    nothing left to pay.

    :raises ScheduledTransferNotFound: no such order of the owner's.
    :raises InvalidState: the order's state does not allow ``move``.
    """
    order = get(owner, order_id)
    model = ScheduledTransferModel()
    from_statuses, to_status = _MOVES[move]
    extra: dict = {}
    if move == "resume":
        n, day = first_on_or_after(
            date.fromisoformat(order["start_date"]),
            _recurrence(order),
            order["next_index"],
            today,
        )
        extra = {"next_index": n, "failures_in_a_row": 0, "last_attempt": None}
        extra["next_run_date"] = day.isoformat() if day else None
        if day is None:
            to_status = "completed"
    changed = model.change_status(
        order["_id"], from_statuses, to_status, extra, not_paying_at=utc_now()
    )
    if changed is None:
        current = model.find_owned(owner["_id"], order["_id"]) or order
        if current["status"] in from_statuses:
            # A runner is paying its occurrence right now: after it, the move
            # applies to what is left (and before it, it would have stopped it).
            raise AccountBusy("The order is being paid right now; retry in a moment.")
        raise InvalidState(current["status"], move)
    return changed


def due_count(now: datetime, zone: str) -> int:
    """Count the orders with an occurrence to pay today or earlier."""
    return ScheduledTransferModel().count_due(bank_day(now, zone).isoformat())


def pay_due(now: datetime, zone: str, rules: ApprovalRules) -> PayRun:
    """Pay every occurrence due on or before today (``now`` in ``zone``); ask a
    banker for those that need one (see the module docstring).

    Safe to run from several processes at once: a lease keeps runners off each
    other's orders (it only saves work), and each occurrence's payment is keyed
    by the occurrence, so it moves money once however many runners reach it.
    """
    today = bank_day(now, zone)
    model = ScheduledTransferModel()
    done = failed = 0
    for candidate in model.due(today.isoformat()):
        token = ObjectId()
        lease_start = utc_now()
        order = model.take_lease(
            candidate["_id"], token, lease_start,
            lease_start + rules.spending.stale_after,
        )  # fmt: skip
        if order is None:
            continue  # another runner has it
        try:
            paid, refused = _pay_order(order, today, now, rules)
        except Exception:  # noqa: BLE001 - one order must not stop the others
            log.exception("scheduled transfer %s could not be paid", order["_id"])
            paid, refused = 0, 1
        finally:
            model.drop_lease(order["_id"], token)
        done += paid
        failed += refused
    return PayRun(done=done, failed=failed)


def _pay_order(
    order: dict, today: date, now: datetime, rules: ApprovalRules
) -> tuple[int, int]:
    """Pay an order's due occurrences in date order; return (paid, refused)."""
    model = ScheduledTransferModel()
    paid = refused = 0
    while order["status"] == "active" and order["next_run_date"] is not None:
        due = date.fromisoformat(order["next_run_date"])
        if due > today:
            break
        tried = order.get("last_attempt") or {}
        recorded = model.find_run(order, due.isoformat())
        if recorded is not None:
            # Settled by a runner that stopped before moving the order on.
            run = {key: recorded[key] for key in ("status", "transfer_id", "reason")}
        elif due < today and tried.get("due_date") == due.isoformat():
            # Refused during its day, and the day is over: failed, never paid
            # late (the customer may have paid by hand meanwhile).
            refused += 1
            run = {"status": "failed", "transfer_id": None, "reason": tried["reason"]}
        else:
            # Marked as being paid, in one write guarded by its state: a pause
            # or cancel lands before (nothing is paid) or waits until after.
            until = utc_now() + rules.spending.stale_after
            if model.start_paying(order, until) is None:
                break  # paused, cancelled, or another runner is paying it
            try:
                done = _pay_occurrence(order, due, rules)
            except WorkInProgress:
                break  # another runner holds its claim: theirs to record
            except DomainError as refusal:
                refused += 1
                reason = reason_of(refusal)
                if due >= today:
                    # Its day is not over: tried again on the next run.
                    model.note_attempt(order, {"due_date": due.isoformat(),
                                               "reason": reason, "attempted_at": now})
                    break  # fmt: skip
                run = {"status": "failed", "transfer_id": None, "reason": reason}
            else:
                paid += done.now  # not when an earlier runner had paid it
                if done.approval is not None:
                    asked = done.approval["_id"]
                    run = {"status": AWAITING_APPROVAL, "transfer_id": None,
                           "reason": None, "approval_id": asked}  # fmt: skip
                else:
                    moved_id = done.movement.movement_id
                    run = {"status": "succeeded", "transfer_id": moved_id,
                           "reason": None}  # fmt: skip
        if recorded is None:
            # Whether this failure suspends the order, kept with the run: the
            # notification of a suspension is derived from the runs.
            suspends = (
                run["status"] == "failed"
                and order["failures_in_a_row"] + 1 >= SUSPEND_AFTER
            )
            model.record_run(
                order,
                {"due_date": due.isoformat(), **run, "attempted_at": utc_now(),
                 "suspends": suspends},
            )  # fmt: skip
        n = order["next_index"] + 1
        following = occurrence(
            date.fromisoformat(order["start_date"]), _recurrence(order), n
        )
        # Only a failed payment counts towards a suspension (an asked one does not).
        moved = model.advance(
            order, n, following.isoformat() if following else None,
            run["status"] != "failed", SUSPEND_AFTER,
        )  # fmt: skip
        if moved is None:
            break  # another runner recorded it and moved the order on
        order = moved
    return paid, refused


def _pay_occurrence(order: dict, due: date, rules: ApprovalRules) -> Done:
    """Pay one occurrence, exactly once whoever tries; return what was paid, or
    the approval it waits for (a large transfer to someone else's account)."""
    user = UserModel().find_by_id(order["user_id"])
    if user is None or not user.get("active", True):
        raise AccountNotFound("The customer who placed the order is disabled.")
    caller = Caller(user, request_id=f"scheduled:{order['_id']}:{due.isoformat()}")
    transfer = TransferOrder(
        to_account_number=order["to_account_number"],
        cents=order["amount_cents"],
        from_account_number=order["from_account_number"],
        description=order["description"],
    )

    def pay(key: MovementKey) -> Movement | dict:
        spent = approvals.transfer(caller, transfer, rules, key)
        return spent.approval if spent.approval is not None else spent.movement

    return run_once(
        order["user_id"],
        f"scheduled:{order['_id']}:{due.isoformat()}",
        pay,
        stale_after=rules.spending.stale_after,
    )


def _recurrence(order: dict) -> Recurrence | None:
    stored = order["recurrence"]
    if stored is None:
        return None
    end = stored.get("end_date")
    return Recurrence(
        frequency=stored["frequency"],
        interval=stored["interval"],
        count=stored.get("count"),
        end_date=date.fromisoformat(end) if end else None,
    )


def _stored_recurrence(recurrence: Recurrence | None) -> dict | None:
    if recurrence is None:
        return None
    return {
        "frequency": recurrence.frequency,
        "interval": recurrence.interval,
        "count": recurrence.count,
        "end_date": recurrence.end_date.isoformat() if recurrence.end_date else None,
    }
