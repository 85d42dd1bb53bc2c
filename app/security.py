"""JWT callbacks, the roles_required decorator and the HTTP policies."""

import math
import time
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Flask, Response, g, request
from flask_cors import CORS
from flask_jwt_extended import current_user, get_jwt, verify_jwt_in_request
from flask_limiter.errors import RateLimitExceeded

from app.error_handlers import api_error_response, problem
from app.errors import (
    AccountDisabledError,
    ForbiddenError,
    RateLimitedError,
    TokenInvalidError,
    TokenMissingError,
)
from app.extensions import jwt, limiter
from app.models.user import UserModel

_BEARER = {"WWW-Authenticate": "Bearer"}
# The user a request's token names, read once per request.
_USER = "bank.token_user"
# The Retry-After an answer carried before the rate limiter's headers were added.
_RETRY_AFTER = "bank_retry_after"


def roles_required(*roles: str, kind: str = "access") -> Callable:
    """Require a valid token of a live user holding one of ``roles``.

    With no roles, any authenticated user passes. ``kind`` is ``"access"``,
    ``"refresh"`` or ``"any"``: which kind of token the route takes.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            verify_jwt_in_request(refresh=kind == "refresh", verify_type=kind != "any")
            user = current_user
            g.user_id = str(user["_id"])
            if not user.get("active", True):
                raise AccountDisabledError()
            if roles and get_jwt().get("role") not in roles:
                raise ForbiddenError()
            return view(*args, **kwargs)

        return wrapper

    return decorator


def session_claims(session_id: str, started: datetime, expires: datetime) -> dict:
    """The claims every token of one login session carries."""
    return {
        "sid": session_id,
        "sat": int(started.timestamp() * 1000),
        "sexp": int(expires.timestamp()),
    }


def token_revoked(payload: dict, user: dict | None) -> bool:
    """Tell whether a token's session was ended, by logout or by the user.

    A password change or a disable sets ``tokens_valid_after``: sessions begun
    before it are over, except the one a password change was made from.
    """
    sid = payload.get("sid")
    if user is None or not isinstance(sid, str):
        # Refused right after as token_invalid: by the user look-up, or by
        # the check that every token belongs to a session.
        return False
    cutoff = user.get("tokens_valid_after")
    started = payload.get("sat", 0)
    # "<=": a token minted in the very millisecond of the cut-off is over too.
    if cutoff is not None and started <= int(cutoff.timestamp() * 1000):
        if sid != user.get("session_kept"):
            return True
    # Logged out (UserModel.end_session): on the document already read.
    return sid in (user.get("ended_sessions") or {})


def register_jwt_callbacks(app: Flask) -> None:
    """Answer every flask-jwt-extended failure with a problem document."""
    @jwt.token_verification_loader
    def belongs_to_a_session(_header: dict, payload: dict) -> bool:
        # Every token is issued by a login session; one without a session id
        # could never be revoked by logout, so it is refused outright.
        return isinstance(payload.get("sid"), str) and bool(payload["sid"])

    @jwt.token_in_blocklist_loader
    def check_revoked(_header: dict, payload: dict) -> bool:
        # Runs before the user look-up; the user read here serves both.
        user = UserModel().find_by_id(payload["sub"])
        request.environ[_USER] = user
        return token_revoked(payload, user)

    @jwt.user_lookup_loader
    def load_user(_header: dict, payload: dict) -> dict | None:
        # The token proves who the user was; the database says who they are now.
        if _USER in request.environ:
            return request.environ[_USER]
        return UserModel().find_by_id(payload["sub"])

    @jwt.user_lookup_error_loader
    def user_gone(_header: dict, _payload: dict):
        return problem(
            401,
            "token_invalid",
            "The user of this token no longer exists.",
            headers=_BEARER,
        )

    @jwt.unauthorized_loader
    def missing(reason: str):
        return api_error_response(TokenMissingError(headers=_BEARER))

    @jwt.invalid_token_loader
    def invalid(reason: str):
        return api_error_response(TokenInvalidError(headers=_BEARER))

    @jwt.expired_token_loader
    def expired(_header: dict, _payload: dict):
        return problem(401, "token_expired", "The token has expired.", headers=_BEARER)

    @jwt.revoked_token_loader
    def revoked(_header: dict, _payload: dict):
        return problem(
            401, "token_revoked", "The token has been revoked.", headers=_BEARER
        )

    @jwt.needs_fresh_token_loader
    def not_fresh(_header: dict, _payload: dict):
        return problem(
            401, "fresh_token_required", "A fresh login is required.", headers=_BEARER
        )

    @jwt.token_verification_failed_loader
    def claims_failed(_header: dict, _payload: dict):
        return api_error_response(TokenInvalidError(headers=_BEARER))


def register_http_policies(app: Flask) -> None:
    """Rate limits, CORS and the headers every response carries."""
    config = app.config
    if config["IN_MEMORY_DB"]:
        config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    else:
        # One store for every process: the limits library's MongoDB storage.
        config.setdefault("RATELIMIT_STORAGE_URI", config["MONGO_URI"])
        config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", {"database_name": config["MONGO_DB_NAME"]}
        )
    config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    # X-RateLimit-Limit, -Remaining and -Reset (epoch seconds) on every answer
    # of a limited route, the 429 included.
    config.setdefault("RATELIMIT_HEADERS_ENABLED", True)

    # Registered before the limiter's own hook, so it runs after it: the
    # limiter writes Retry-After on every limited answer (a 200 too), truncated
    # to whole seconds (0 in the last second of a window). Retry-After stays
    # what the answer itself said, or absent.
    @app.after_request
    def keep_retry_after(response: Response) -> Response:
        given = g.pop(_RETRY_AFTER, None)
        if given is None:
            response.headers.pop("Retry-After", None)
        else:
            response.headers["Retry-After"] = given
        return response

    limiter.init_app(app)

    @app.after_request
    def note_retry_after(response: Response) -> Response:
        if "Retry-After" in response.headers:
            g.setdefault(_RETRY_AFTER, response.headers["Retry-After"])
        return response

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(_error: RateLimitExceeded):
        current = limiter.current_limit
        wait = math.ceil(current.reset_at - time.time()) if current else 60
        return api_error_response(
            RateLimitedError(headers={"Retry-After": str(max(1, wait))})
        )

    origins = [o.strip() for o in config["CORS_ORIGINS"].split(",") if o.strip()]
    if origins:
        CORS(
            app,
            origins=origins,
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key",
                           "X-Request-ID"],
            expose_headers=["X-Request-ID", "Idempotency-Replayed", "Retry-After",
                            "X-RateLimit-Limit", "X-RateLimit-Remaining",
                            "X-RateLimit-Reset"],
            max_age=600,
        )  # fmt: skip

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Flask types every response text/html unless told otherwise; an
        # answer without content (a 204, an OPTIONS or CORS preflight reply)
        # has nothing to type, and the API serves no HTML of its own.
        if response.mimetype == "text/html" and (
            response.status_code == 204
            or (not response.is_streamed and not response.get_data())
        ):
            del response.headers["Content-Type"]
        # Tokens and account data must not sit in a shared or browser cache.
        if "Authorization" in request.headers or request.path.startswith("/auth/"):
            response.headers["Cache-Control"] = "no-store"
        return response
