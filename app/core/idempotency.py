"""Exactly-once for keyed operations: settle claims whose request stopped.

A claim (``app.models.idempotency``) carries the id its movement gets in the
journal. When the request that holds it dies, the movement is settled by the
ledger and the claim either freed (nothing moved: the retry runs afresh) or
completed with the *domain outcome*: the movement id, or the approval id of a
large movement that waits for a banker; the edge renders that outcome when the
retry arrives. Nothing here builds an HTTP response, so the
CLI, start-up and the job runner use the same machinery.
"""

import logging
import time
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.errors import PyMongoError

from app.core import limits
from app.core.recovery import settle_movement
from app.models import ledger, ledger_recovery, utc_now
from app.models.account import AccountModel
from app.models.approval import ApprovalModel
from app.models.idempotency import IdempotencyModel

log = logging.getLogger("app.idempotency")


def settle_claim(record: dict) -> None:
    """Settle the movement of a claim whose request stopped; complete or free it.

    The caller's accounts are fenced at the claim's time first, so a request
    that stalled before its commit point can never apply it later: without the
    fence, a key freed here ("nothing moved") and claimed again by a retry
    could see both the retry and the woken request move the money.
    """
    # The movement's entries are dated at the claim's time (MovementKey).
    ledger_recovery.fence_owner(record["user_id"], record["created_at"])
    movement = settle_movement(record["movement_id"])
    # Its count against the daily limit stays if it moved, and goes if not.
    limits.settle(record["user_id"], record["movement_id"], movement is not None)
    model = IdempotencyModel()
    if movement is not None:
        model.complete(record, outcome={"movement_id": movement.movement_id})
    elif _asked_a_banker(record["movement_id"]):
        # A large movement waits for approval: the retry shows the approval.
        model.complete(record, outcome={"approval_id": record["movement_id"]})
    else:
        _past(record["created_at"])
        model.release(record)


def _asked_a_banker(movement_id: ObjectId) -> bool:
    """Tell whether the claim's request stored an approval (app.core.approvals).

    One that stopped between its two writes left a reservation without an
    approval: it is released here, so the retry is not refused for want of
    the money it holds back (the fence stops the stopped request from
    reserving it again).
    """
    if ApprovalModel().find(movement_id) is not None:
        return True
    account = AccountModel().holding(movement_id)
    for reservation in account["reservations"] if account else ():
        if reservation["id"] == movement_id:
            ledger.release(account["_id"], movement_id, reservation["cents"])
    return False


def _past(fence: datetime) -> None:
    """Wait until the clock has passed ``fence`` (at most a few milliseconds).

    Times are kept to the millisecond, and the fence refuses every movement
    begun at or before it: a retry that claimed the freed key within the
    fence's own millisecond would be dated at the fence and refused as expired.
    """
    while utc_now() <= fence:
        time.sleep(0.001)


def settle_stale_keys(grace: timedelta) -> int:
    """Settle every claim left in progress longer than ``grace``; count them.

    A claim whose movement cannot be settled stays in progress (and is logged),
    so the others are still settled and start-up goes on.
    """
    stale = IdempotencyModel().stale(utc_now() - grace)
    settled = 0
    for record in stale:
        try:
            settle_claim(record)
        except PyMongoError:
            raise
        except Exception:  # noqa: BLE001 - one odd claim must not stop the rest
            log.exception("could not settle movement %s", record["movement_id"])
            continue
        settled += 1
    return settled
