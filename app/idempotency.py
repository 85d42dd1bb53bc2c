"""Idempotency-Key on money-moving POSTs: claim, run once, replay.

HTTP plumbing around a view: the first request with a key claims it and runs;
its response (any status below 500, a large movement's 202 included) is stored
and replayed byte for byte to every repeat, with ``Idempotency-Replayed:
true``. The claim carries the id the request's movement gets in the journal,
so a request that died halfway can be settled by the core
(``app.core.idempotency``) and its retry answered by rendering the settled
outcome here, at the edge: with the view's own renderer when it gives one
(``idempotent(render=...)``), else as ``render_movement``.
"""

import hashlib
import json
import logging
import re
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any

from bson import ObjectId
from flask import Response, current_app, g, request
from marshmallow import ValidationError
from pymongo.errors import PyMongoError

from app.controllers.movements import render_asked, render_movement
from app.core import approvals
from app.core.idempotency import settle_claim
from app.core.movements import Movement, MovementKey
from app.core.recovery import posted_movement
from app.errors import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    InvalidJsonError,
)
from app.http import json_body
from app.models import utc_now
from app.models.idempotency import IdempotencyModel

log = logging.getLogger("app.idempotency")

HEADER = "Idempotency-Key"
REPLAYED = "Idempotency-Replayed"
_MOVEMENT_KEY = "bank.movement_key"
_CLAIM = "bank.idempotency_claim"
_KEY = re.compile(r"[\x20-\x7e]{1,255}")
# Shapes the 201 answer of a movement recovery settled (see ``idempotent``).
Renderer = Callable[[Movement], Any]


def movement_key() -> MovementKey | None:
    """The id and start the current request's movement must use, if keyed."""
    return request.environ.get(_MOVEMENT_KEY)


def request_claim() -> str | None:
    """The name of the current request's claim, if keyed: its user and key,
    the same for every retry (unlike the movement id, which a claim freed
    after a stopped request gets anew)."""
    return request.environ.get(_CLAIM)


class _Text(str):
    """Canonical text already written, as opposed to a JSON string to write."""


def canonical_json(value: Any) -> str:
    """Write a JSON value in an unambiguous, order-free form for hashing.

    Objects become ``{"o":{...}}`` with sorted keys, arrays ``{"a":[...]}`` and
    numbers ``{"n":"<text>"}``, compact: the text that stored fingerprints were
    made from, so a key claimed before an upgrade still matches its retry. An
    explicit stack rather than recursion, so no depth of body can overflow it.
    """
    parts: list[str] = []
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _Text):
            parts.append(item)
        elif isinstance(item, dict):
            keys = sorted(item)
            parts.append('{"o":{')
            pending.append(_Text("}}"))
            for index in reversed(range(len(keys))):
                pending.append(item[keys[index]])
                comma = "," if index else ""
                pending.append(_Text(f"{comma}{json.dumps(keys[index])}:"))
        elif isinstance(item, list):
            parts.append('{"a":[')
            pending.append(_Text("]}"))
            for index in reversed(range(len(item))):
                pending.append(item[index])
                if index:
                    pending.append(_Text(","))
        elif isinstance(item, Decimal):
            parts.append(f'{{"n":{json.dumps(str(item))}}}')
        else:
            parts.append(json.dumps(item))
    return "".join(parts)


def _fingerprint() -> str:
    """Hash method, path and body: the same JSON written differently matches."""
    try:
        body = canonical_json(json_body())
    except InvalidJsonError:
        body = "raw:" + request.get_data(cache=True).hex()
    text = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(text.encode()).hexdigest()


def _stored(response: Response) -> dict:
    return {
        "status": response.status_code,
        "mimetype": response.mimetype,
        "body": response.get_data(as_text=True),
    }


def _replay(record: dict, render: Renderer) -> Response:
    """Answer a repeat: the first response, or the outcome recovery settled."""
    stored = record["response"]
    if stored is None:
        # The first request died; recovery stored what happened, not an answer.
        stored = _stored(current_app.make_response(_settled(record["outcome"], render)))
    response = Response(
        stored["body"], status=stored["status"], mimetype=stored["mimetype"]
    )
    response.headers[REPLAYED] = "true"
    return response


def _settled(outcome: dict, render: Renderer) -> tuple[dict, int]:
    """Render the outcome recovery settled: a posted movement (201), or the
    approval a large movement waits for, as it is now (202)."""
    if "approval_id" in outcome:
        return render_asked(approvals.get(outcome["approval_id"])), 202
    return render(posted_movement(outcome["movement_id"])), 201


def _settle_after_failure(record: dict) -> None:
    """After a 5xx the movement may or may not have happened: settle it now.

    The request has stopped touching its movement, so this cannot race it. If
    the database is failing too, the claim stays in progress, and recovery or a
    retry after LEDGER_PENDING_TIMEOUT settles it.
    """
    try:
        settle_claim(record)
    except PyMongoError:
        log.warning("could not settle movement %s yet", record["movement_id"])
    except Exception:  # noqa: BLE001 - the request is answered 5xx already
        log.exception("could not settle movement %s", record["movement_id"])


def _claim(
    user_id: ObjectId, key: str, fingerprint: str, render: Renderer
) -> dict | Response:
    """Claim the key for this request, or answer from an earlier request."""
    model = IdempotencyModel()
    config = current_app.config
    for _attempt in range(3):
        record, claimed = model.claim(
            user_id, key, fingerprint, config["IDEMPOTENCY_KEY_TTL"]
        )
        if claimed:
            return record
        if record["fingerprint"] != fingerprint:
            raise IdempotencyKeyReusedError()
        if record["state"] == "done":
            return _replay(record, render)
        if record["created_at"] > utc_now() - config["LEDGER_PENDING_TIMEOUT"]:
            raise IdempotencyInProgressError(headers={"Retry-After": "1"})
        settle_claim(record)
    raise IdempotencyInProgressError(headers={"Retry-After": "1"})


def idempotent(
    view: Callable | None = None, *, render: Renderer = render_movement
) -> Callable:
    """Make a money-moving view safe to retry with an ``Idempotency-Key``.

    Goes inside ``roles_required``: keys are scoped to the authenticated user.
    ``render`` shapes the answer to a retry whose first request died and whose
    movement recovery settled, as the view would have answered (status 201);
    used as ``@idempotent`` it is ``render_movement`` (the /transfers shape),
    ``idempotent(render=...)`` gives a view's own.
    """
    if view is None:
        return lambda inner: idempotent(inner, render=render)

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if _KEY.fullmatch(key) is None:
            raise ValidationError(
                {HEADER: ["Must be 1 to 255 printable ASCII characters."]}
            )
        claimed = _claim(ObjectId(g.user_id), key, _fingerprint(), render)
        if isinstance(claimed, Response):
            return claimed
        # In the request's environ, not g, which can outlive the request.
        request.environ[_MOVEMENT_KEY] = MovementKey(
            claimed["movement_id"], claimed["created_at"]
        )
        request.environ[_CLAIM] = claimed["_id"]
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - rendered by the app's handlers
            response = current_app.handle_user_exception(exc)
        if response.status_code < 500:
            IdempotencyModel().complete(claimed, _stored(response))
        else:
            _settle_after_failure(claimed)
        return response

    return wrapper
