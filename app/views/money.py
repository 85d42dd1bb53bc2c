"""What every money-moving customer view wears, whichever blueprint it is in."""

from collections.abc import Callable

from flask_smorest import Blueprint

from app.controllers.movements import render_movement
from app.extensions import authenticated_user, limiter, money_rate
from app.idempotency import Renderer, idempotent
from app.openapi import operation
from app.security import roles_required

# One budget per user, shared by every route that moves money (one scope).
money_limit = limiter.shared_limit(
    money_rate, scope="money", key_func=authenticated_user
)


def money_route(
    bp: Blueprint,
    status: int,
    response: type,
    *,
    body: type | None,
    example: dict | None,
    errors: dict,
    keyed: bool = True,
    render: Renderer = render_movement,
    accepted: tuple[type, str] | None = None,
) -> Callable:
    """Decorate a money-moving view, outermost first: its documentation, the
    customer role, the per-user money limit (checked once the user is known)
    and (``keyed``) the Idempotency-Key, whose settled retries are answered
    with ``render``; ``accepted`` documents a 202 answer (see ``operation``)."""

    def decorate(view: Callable) -> Callable:
        inner = idempotent(view, render=render) if keyed else view
        guarded = roles_required("customer")(money_limit(inner))
        return operation(
            bp, status, response, body=body, idempotent=keyed, errors=errors,
            example=example, accepted=accepted,
        )(guarded)  # fmt: skip

    return decorate
