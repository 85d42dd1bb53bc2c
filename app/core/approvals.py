"""Large movements need a banker (maker-checker): ask, decide, expire, finish.

A customer's withdrawal, or transfer to an account that is not their own, of at
least APPROVAL_THRESHOLD moves no money when asked: it holds the amount back on
the source (a *reservation*, ``app.models.ledger.reserve``: the available
balance drops, the balance does not) and waits as an approval
(``app.models.approval``) whose ``_id`` is the reservation's id. Smaller
movements, moves between the customer's own accounts and the job runner's
scheduled payments go through ``app.core.spending`` at once, as before.

Asking is two writes, the reservation first: a refusal (not enough available,
a frozen source) then leaves nothing behind, and a crash between the two
leaves a reservation without an approval, which nothing can spend and the
``approvals`` job releases once it is older than LEDGER_PENDING_TIMEOUT (an
Idempotency-Key's retry releases it at once, see ``app.core.idempotency``).
The other way round would leave an approval without its money; that one is
never approvable either: a decision checks that the source still holds the
reservation (and the ledger refuses a debit naming a missing one).

Each approval reaches exactly one outcome, whatever races, because every
decision is one update guarded by the status it leaves:

- reject, cancel, expire: ``pending_approval`` -> ``rejected`` | ``cancelled``
  | ``expired``, then the reservation is released;
- approve: ``pending_approval`` -> ``approving`` under a lease, then the
  movement runs through ``app.core.spending`` (so the daily limit counts it
  now, when the money moves) spending the reservation at its commit point,
  exactly once under the work key ``approval:<id>``
  (``app.core.exactly_once``), then ``approving`` -> ``posted`` with the
  movement's id; a refusal (the target frozen or closed meanwhile, the daily
  limit, the source frozen) -> ``failed`` and the reservation released. A
  failure is recorded only by the lease's holder; ``posted`` by any runner
  that saw the work key done, since nothing else can follow that.

A crash between a state change and what follows it is finished by the job
(:func:`run_job`): it expires what is past APPROVAL_TTL_SECONDS, takes over
the approving ones whose lease ran out (the same work key, so the money moves
once), and releases every reservation whose approval has reached its outcome,
or that has no approval at all. Nothing here takes an in-process lock or
writes a document shared by every request.

The request and every outcome are audited exactly once, with the actor (the
customer who asked or cancelled, the banker who approved or rejected, none for
an expiry): each entry is built before its write and stored by it (the
approval's insert, the guarded update that decides), then appended
insert-once; the job delivers the entries a stopped request left behind
(``app.core.decision_audit``).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId

from app.core import decision_audit, spending
from app.core.accounts import own_account
from app.core.errors import (
    AccountBusy,
    AccountNotFound,
    ApprovalNotFound,
    ApprovalNotPending,
    DomainError,
    reason_of,
)
from app.core.exactly_once import WorkInProgress, run_once
from app.core.movements import (
    Caller,
    Movement,
    MovementKey,
    TransferOrder,
    Withdrawal,
    in_ledger,
)
from app.core.spending import SpendingRules
from app.models import ledger, to_object_id, utc_now
from app.models.account import ACCOUNT_KINDS, AccountModel
from app.models.approval import (
    APPROVING,
    CANCELLED,
    EXPIRED,
    FAILED,
    PENDING,
    POSTED,
    REJECTED,
    TERMINAL,
    ApprovalModel,
    shown_status,
)
from app.models.user import UserModel

log = logging.getLogger("app.approvals")

# The audit action of each outcome, and of the request itself.
ACTIONS = {
    PENDING: "approval_requested",
    POSTED: "approval_approved",
    REJECTED: "approval_rejected",
    CANCELLED: "approval_cancelled",
    EXPIRED: "approval_expired",
    FAILED: "approval_failed",
}


@dataclass(frozen=True)
class ApprovalRules:
    """What the bank's settings say about large movements."""

    threshold_cents: int  # APPROVAL_THRESHOLD
    ttl: timedelta  # APPROVAL_TTL_SECONDS
    spending: SpendingRules


@dataclass(frozen=True)
class Spent:
    """What a customer's withdrawal or transfer came to: a movement posted at
    once, or an approval waiting for a banker (exactly one of the two)."""

    movement: Movement | None = None
    approval: dict | None = None


@dataclass(frozen=True)
class JobRun:
    """What one pass of the approvals job did."""

    done: int  # approvals expired or finished, reservations released
    failed: int  # approvals it could not finish this time


# -- asking -------------------------------------------------------------------


def withdraw(
    caller: Caller, order: Withdrawal, rules: ApprovalRules, key: MovementKey | None
) -> Spent:
    """Withdraw at once below the threshold; at or above it, ask a banker.

    :raises DomainError: see :func:`app.core.spending.withdraw`; asking, the
        source is not the caller's, is frozen or closed, or its available
        balance does not cover the amount.
    """
    if order.cents >= rules.threshold_cents:
        currency = rules.spending.currency
        source = own_account(caller.user, order.account_number, currency)
        if source.get("kind") in ACCOUNT_KINDS:
            return Spent(approval=_ask(caller, source, None, order, rules, key))
    return Spent(movement=spending.withdraw(caller, order, rules.spending, key))


def transfer(
    caller: Caller, order: TransferOrder, rules: ApprovalRules, key: MovementKey | None
) -> Spent:
    """Transfer at once below the threshold or between the caller's own accounts;
    to someone else's account, at or above the threshold, ask a banker.

    Only an active account of another customer's (no goal, no loan) is worth a
    banker's time: any other target goes the usual way, refused there as usual.

    :raises DomainError: see :func:`app.core.spending.transfer` and
        :func:`withdraw`.
    """
    if order.cents >= rules.threshold_cents:
        currency = rules.spending.currency
        source = own_account(caller.user, order.from_account_number, currency)
        target = AccountModel().find_by_number(order.to_account_number)
        if _leaves_caller(caller, source, target):
            return Spent(approval=_ask(caller, source, target, order, rules, key))
    return Spent(movement=spending.transfer(caller, order, rules.spending, key))


def _leaves_caller(caller: Caller, source: dict, target: dict | None) -> bool:
    """Tell whether a transfer takes money to an ordinary account of someone else."""
    return (
        source.get("kind") in ACCOUNT_KINDS
        and target is not None
        and target["user_id"] != caller.user["_id"]
        and target.get("kind") in ACCOUNT_KINDS
        and target["status"] == "active"
    )


def _ask(
    caller: Caller,
    source: dict,
    target: dict | None,
    order: Withdrawal | TransferOrder,
    rules: ApprovalRules,
    key: MovementKey | None,
) -> dict:
    """Hold the amount back on the source, then store the approval (see above).

    The approval's id is the movement key's (an Idempotency-Key's claim), so a
    retry settled after a crash finds the approval instead of asking again.
    """
    key = key or MovementKey(ObjectId(), utc_now())
    in_ledger(ledger.reserve, source, key.id, order.cents, key.begun_at)
    now = utc_now()
    asked = {
        "_id": key.id,
        "user_id": caller.user["_id"],
        "username": caller.username,
        "kind": "withdrawal" if target is None else "transfer",
        "account_id": source["_id"],
        "from_account_number": source["account_number"],
        "to_account_number": target and target["account_number"],
        "amount_cents": order.cents,
        "currency": source["currency"],
        "description": order.description,
        "created_at": now,
        "expires_at": now + rules.ttl,
    }
    entry = _entry(asked, PENDING, caller.username, caller)
    approval = ApprovalModel().create(asked, audit=[entry])
    decision_audit.deliver([entry])
    return approval


# -- reading ------------------------------------------------------------------


def get(approval_id: str) -> dict:
    """Return an approval by id.

    :raises ApprovalNotFound: no approval has that id (a malformed one included).
    """
    oid = to_object_id(approval_id)
    approval = ApprovalModel().find(oid) if oid else None
    if approval is None:
        raise ApprovalNotFound()
    return approval


def list_own(owner: dict, limit: int, after: tuple | None) -> tuple[list, bool]:
    """Return a page of the owner's approvals, newest first."""
    return ApprovalModel().list_for_user(owner["_id"], limit, after)


def list_all(limit: int, after: tuple | None, status: str | None) -> tuple[list, bool]:
    """Return a page of every approval, newest first, of one status or all."""
    return ApprovalModel().list_page(limit, after, status)


# -- deciding -----------------------------------------------------------------


def cancel(caller: Caller, approval_id: str) -> dict:
    """Cancel one of the caller's pending approvals; release its reservation.

    :raises ApprovalNotFound: no such approval of the caller's.
    :raises ApprovalNotPending: it was decided already.
    """
    approval = get(approval_id)
    if approval["user_id"] != caller.user["_id"]:
        raise ApprovalNotFound()
    return _close(approval, CANCELLED, caller)


def reject(banker: Caller, approval_id: str, reason: str) -> dict:
    """Reject a pending approval with the banker's reason; release its reservation.

    :raises ApprovalNotFound: no approval has that id.
    :raises ApprovalNotPending: it was decided already.
    """
    return _close(get(approval_id), REJECTED, banker, reason)


def approve(banker: Caller, approval_id: str, rules: SpendingRules) -> dict:
    """Approve a pending approval: post its movement, once; return the approval.

    The outcome is ``posted``, or ``failed`` (reason in snake case) when the
    movement became impossible meanwhile; either way the reservation is gone.
    An approval past its expiry is expired here instead, and one whose source
    no longer holds its reservation fails without moving anything.

    :raises ApprovalNotFound: no approval has that id.
    :raises ApprovalNotPending: it was decided already, or had expired.
    :raises AccountBusy: an account kept changing, or another runner is
        posting it right now; the job finishes it.
    """
    approval = get(approval_id)
    if approval["status"] == PENDING and not _reserved(approval):
        # Checked while pending: from here on nothing but this approval's own
        # outcome may release its reservation, so a runner that takes over
        # later need not (and, once the debit spent it, could not) check again.
        return _close(approval, FAILED, banker, "reservation_missing")
    now = utc_now()
    token = ObjectId()
    model = ApprovalModel()
    taken = model.start_approving(
        approval["_id"], banker.username, now, token, now + rules.stale_after
    )
    if taken is None:
        current = model.find(approval["_id"]) or approval
        if current["status"] == PENDING:  # past its expiry: the job's, done now
            current = _expire(current, now) or model.find(approval["_id"])
        raise _not_pending(current)
    return _execute(taken, token, rules, banker)


def _close(
    approval: dict, status: str, actor: Caller, reason: str | None = None
) -> dict:
    """Move a pending approval to ``status`` with one guarded update, then
    release its reservation and audit the decision.

    :raises ApprovalNotPending: it was not pending.
    """
    entry = _entry(approval, status, actor.username, actor, reason=reason)
    closed = ApprovalModel().close_pending(
        approval["_id"], status, actor.username, reason, utc_now(), audit=[entry]
    )
    if closed is None:
        raise _not_pending(ApprovalModel().find(approval["_id"]) or approval)
    _release(closed)
    decision_audit.deliver([entry])
    return closed


def _expire(approval: dict, now: datetime) -> dict | None:
    """Expire a pending approval past its expiry at ``now``; None if it was not."""
    entry = _entry(approval, EXPIRED, None)
    expired = ApprovalModel().close_pending(
        approval["_id"], EXPIRED, None, None, now, expired_only=True, audit=[entry]
    )
    if expired is not None:
        _release(expired)
        decision_audit.deliver([entry])
    return expired


def _execute(
    approval: dict, token: ObjectId, rules: SpendingRules, banker: Caller | None
) -> dict:
    """Post an approving approval's movement, once, and record its outcome.

    ``banker``: the approver, when it is their request (None: the job, acting
    on their decision); ``token``: its lease (see :func:`_finish`).

    :raises AccountBusy: see :func:`approve`.
    """
    try:
        done = run_once(
            approval["user_id"],
            f"approval:{approval['_id']}",
            _movement_of(approval, rules),
            stale_after=rules.stale_after,
        )
    except WorkInProgress:
        raise AccountBusy(
            "The approval is being posted right now; it will show its outcome."
        ) from None
    except AccountBusy:
        raise  # nothing moved; the job tries again once the lease runs out
    except DomainError as refusal:
        return _finish(approval, token, FAILED, {"reason": reason_of(refusal)}, banker)
    moved = {"transfer_id": done.movement.movement_id}
    return _finish(approval, token, POSTED, moved, banker)


class CustomerDisabled(AccountNotFound):
    """The customer who asked was disabled (or deleted) since."""


def _movement_of(
    approval: dict, rules: SpendingRules
) -> Callable[[MovementKey], Movement]:
    """The approval's movement for ``run_once``: as its customer, spending its
    reservation, counted against their daily limit now.

    Everything it judges is judged inside it, so a runner that finds the
    movement posted already (by an approver that stopped) judges nothing.
    """
    cents, source = approval["amount_cents"], approval["from_account_number"]
    description, reserved = approval["description"], approval["_id"]

    def move(key: MovementKey) -> Movement:
        owner = UserModel().find_by_id(approval["user_id"])
        if owner is None or not owner.get("active", True):
            raise CustomerDisabled()
        caller = Caller(owner, request_id=f"approval:{reserved}")
        if approval["kind"] == "withdrawal":
            order = Withdrawal(cents, source, description)
            return spending.withdraw(caller, order, rules, key, reservation_id=reserved)
        transfer_order = TransferOrder(
            approval["to_account_number"], cents, source, description
        )
        return spending.transfer(
            caller, transfer_order, rules, key, reservation_id=reserved
        )

    return move


def _finish(
    approval: dict,
    token: ObjectId,
    status: str,
    changes: dict,
    banker: Caller | None,
) -> dict:
    """Record an approving approval's outcome; audit it with the approving banker.

    ``posted`` is recorded by whichever runner saw the movement posted, lease
    or not: once its work key is done, no other outcome is possible. ``failed``
    only by the lease's holder, and it releases the reservation: a runner that
    took the lease over meanwhile may yet post it.

    :raises AccountBusy: the lease was taken over; its holder records the outcome.
    """
    entry = _entry(approval, status, approval["decided_by"], banker, **changes)
    finished = ApprovalModel().finish(
        approval["_id"], token if status == FAILED else None, status, changes,
        audit=[entry],
    )  # fmt: skip
    if finished is None:
        current = ApprovalModel().find(approval["_id"]) or approval
        if current["status"] != APPROVING:
            return current  # recorded by the runner that took the lease over
        raise AccountBusy("The job runner is finishing this approval.")
    if status == FAILED:
        _release(finished)
    decision_audit.deliver([entry])
    return finished


# -- the job ------------------------------------------------------------------


def run_job(now: datetime, rules: SpendingRules) -> JobRun:
    """Expire, finish and release what is due at ``now``: the job's one pass.

    ``now`` is the job's clock (``flask jobs run-due --at``): a lease or a
    reservation older than LEDGER_PENDING_TIMEOUT at ``now`` counts as
    abandoned. Taking over a lease that is in fact alive costs nothing but
    time: the movement runs under one work key, whoever runs it.
    """
    done = failed = 0
    model = ApprovalModel()
    for approval in model.expired_pending(now):
        done += _expire(approval, now) is not None
    for approval in model.stale_approving(now):
        try:
            done += _take_over(approval, now, rules)
        except DomainError:
            failed += 1  # busy: tried again on the next pass
        except Exception:  # noqa: BLE001 - one approval must not stop the others
            log.exception("approval %s could not be finished", approval["_id"])
            failed += 1
    done += release_left_behind(now - rules.stale_after)
    # The audit entries of requests and outcomes whose request stopped after
    # deciding: written now (none twice).
    done += decision_audit.drain(ApprovalModel())
    return JobRun(done=done, failed=failed)


def due_count(now: datetime) -> int:
    """Count the approvals the job has to expire or finish at ``now``."""
    return ApprovalModel().count_due(now)


def _take_over(approval: dict, now: datetime, rules: SpendingRules) -> bool:
    """Finish an approval whose approver stopped; True if this runner did."""
    token = ObjectId()
    taken = ApprovalModel().take_over(
        approval["_id"], token, now, utc_now() + rules.stale_after
    )
    if taken is None:
        return False  # another runner took it first
    return _execute(taken, token, rules, None)["status"] != APPROVING


def release_left_behind(cutoff: datetime) -> int:
    """Release every reservation left on an account: its approval has its
    outcome, or it has none and was placed at or before ``cutoff`` (its request
    stopped between its two writes). Count those released."""
    accounts = AccountModel().with_reservations()
    held = [(a["_id"], r) for a in accounts for r in a.get("reservations", [])]
    approvals = ApprovalModel().find_many([r["id"] for _account, r in held])
    released = 0
    for account_id, reservation in held:
        approval = approvals.get(reservation["id"])
        if (approval is None and reservation["at"] <= cutoff) or (
            approval is not None and approval["status"] in TERMINAL
        ):
            released += ledger.release(
                account_id, reservation["id"], reservation["cents"]
            )
    return released


# -- helpers ------------------------------------------------------------------


def _not_pending(approval: dict) -> ApprovalNotPending:
    """The refusal of a decision on ``approval`` as it is now."""
    status = approval["status"]
    return ApprovalNotPending(shown_status(status), posting=status == APPROVING)


def _reserved(approval: dict) -> bool:
    """Tell whether the approval's source still holds its reservation."""
    source = AccountModel().find_by_id(approval["account_id"])
    held = source.get("reservations", []) if source else []
    return any(r["id"] == approval["_id"] for r in held)


def _release(approval: dict) -> None:
    """Give the approval's reservation back (at most once, whoever calls)."""
    ledger.release(approval["account_id"], approval["_id"], approval["amount_cents"])


def _entry(
    approval: dict,
    status: str,
    actor: str | None,
    caller: Caller | None = None,
    *,
    reason: str | None = None,
    transfer_id: ObjectId | None = None,
) -> dict:
    """Build the audit entry of the approval's request or outcome ``status``.

    ``actor``: who decided (None: the bank's clock); ``caller``: the request
    it came in, for its address and id (None: the job).
    """
    return decision_audit.entry(
        ACTIONS[status],
        actor=actor,
        target=approval["_id"],
        origin=caller,
        details={
            "kind": approval["kind"],
            "amount_cents": approval["amount_cents"],
            "from_account_number": approval["from_account_number"],
            "to_account_number": approval["to_account_number"],
            "reason": reason,
            "transfer_id": str(transfer_id) if transfer_id else None,
        },
    )
