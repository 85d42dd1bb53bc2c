"""Exactly-once for movements the bank starts itself (no client, no HTTP).

A scheduled payment's occurrence, a goal's refund, a round-up: each is named by
a *work key* (``scheduled:<order>:<date>``, ``goal-close:<goal>``, …) and runs
through the same claim records as a client's Idempotency-Key
(``app.models.idempotency``), under the owner's id. The claim fixes the
movement's id and start before anything moves, so a runner that dies halfway is
settled exactly as a client's request would be (:func:`settle_claim` fences the
owner's accounts at the claim's time, then finishes or voids the movement), and
a second runner that arrives meanwhile waits instead of moving money again.

Work keys live apart from client keys: they start with a control character,
which a client's ``Idempotency-Key`` (printable ASCII only) can never contain.

Some work does not move money at once: a standing order's large occurrence
asks a banker instead (``app.core.approvals``). Its ``move`` returns the
approval it stored, whose ``_id`` is the claim's movement id, and the claim is
done with the approval's id, exactly as a client's large transfer settles
(:func:`settle_claim` knows an approval from a movement): the work is asked
once, and a runner that comes later finds the approval instead of asking again.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bson import ObjectId

from app.core.errors import DomainError
from app.core.idempotency import settle_claim
from app.core.movements import Movement, MovementKey
from app.core.recovery import posted_movement
from app.models import utc_now
from app.models.approval import ApprovalModel
from app.models.idempotency import IdempotencyModel

# Outside the printable ASCII a client's Idempotency-Key is made of.
WORK_PREFIX = "\x1f"
# Work claims outlive any downtime the job runner catches up on: an occurrence
# whose claim had expired could otherwise be paid a second time.
WORK_TTL = timedelta(days=800)


class WorkInProgress(Exception):
    """Another runner holds the work's claim and may still be moving its money."""


@dataclass(frozen=True)
class Done:
    """The work's movement, posted (now or by an earlier runner); or, for work
    that asked a banker, the approval it stored (and no movement)."""

    movement: Movement | None
    now: bool  # posted (or asked) by this call, not found done
    approval: dict | None = None


def run_once(
    owner_id: ObjectId,
    work_key: str,
    move: Callable[[MovementKey], Movement | dict],
    *,
    stale_after: timedelta,
) -> Done:
    """Run ``move`` for ``work_key`` unless it ran already; return its movement.

    ``move`` gets the claim's MovementKey and must pass it to the use case; it
    returns the posted movement, or the approval it asked for (a dict, see the
    module docstring). A refusal (a DomainError) frees the claim, so the same
    work may be tried again later with a new movement id, and is raised.
    ``stale_after`` (LEDGER_PENDING_TIMEOUT): how long a claim may be held
    before its runner counts as dead and the claim is settled here.

    :raises WorkInProgress: another runner holds a fresh claim on the work.
    :raises DomainError: the movement was refused; nothing moved.
    """
    model = IdempotencyModel()
    key = WORK_PREFIX + work_key
    for _attempt in range(3):
        record, claimed = model.claim(owner_id, key, key, WORK_TTL)
        if claimed:
            movement_key = MovementKey(record["movement_id"], record["created_at"])
            try:
                moved = move(movement_key)
            except DomainError:
                model.release(record)
                raise
            if isinstance(moved, dict):  # a banker was asked: nothing moved yet
                model.complete(record, outcome={"approval_id": moved["_id"]})
                return Done(None, now=True, approval=moved)
            model.complete(record, outcome={"movement_id": moved.movement_id})
            return Done(moved, now=True)
        if record["state"] == "done":
            if "approval_id" in record["outcome"]:
                approval = ApprovalModel().find(record["outcome"]["approval_id"])
                return Done(None, now=False, approval=approval)
            movement = posted_movement(record["outcome"]["movement_id"])
            if movement is None:  # pragma: no cover - a done claim names a posting
                raise RuntimeError(f"work {work_key!r} is done but not journalled")
            return Done(movement, now=False)
        if record["created_at"] > utc_now() - stale_after:
            raise WorkInProgress(work_key)
        settle_claim(record)
    raise WorkInProgress(work_key)
