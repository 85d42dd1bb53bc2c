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
    """The work's movement, posted (now or by an earlier runner)."""

    movement: Movement
    now: bool  # posted by this call, not found done


def run_once(
    owner_id: ObjectId,
    work_key: str,
    move: Callable[[MovementKey], Movement],
    *,
    stale_after: timedelta,
) -> Done:
    """Run ``move`` for ``work_key`` unless it ran already; return its movement.

    ``move`` gets the claim's MovementKey and must pass it to the use case. A
    refusal (a DomainError) frees the claim, so the same work may be tried
    again later with a new movement id, and is raised. ``stale_after``
    (LEDGER_PENDING_TIMEOUT): how long a claim may be held before its runner
    counts as dead and the claim is settled here.

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
                movement = move(movement_key)
            except DomainError:
                model.release(record)
                raise
            model.complete(record, outcome={"movement_id": movement.movement_id})
            return Done(movement, now=True)
        if record["state"] == "done":
            movement = posted_movement(record["outcome"]["movement_id"])
            if movement is None:  # pragma: no cover - a done claim names a posting
                raise RuntimeError(f"work {work_key!r} is done but not journalled")
            return Done(movement, now=False)
        if record["created_at"] > utc_now() - stale_after:
            raise WorkInProgress(work_key)
        settle_claim(record)
    raise WorkInProgress(work_key)
