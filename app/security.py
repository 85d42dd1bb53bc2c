"""JWT callbacks, the roles_required decorator and the password hashing policy."""

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any

from flask import Flask, g
from flask_jwt_extended import current_user, get_jwt, verify_jwt_in_request
from werkzeug.security import check_password_hash, generate_password_hash

from app.errors import (
    AccountDisabledError,
    ForbiddenError,
    TokenInvalidError,
    TokenMissingError,
    api_error_response,
    problem,
)
from app.extensions import jwt

_BEARER = {"WWW-Authenticate": "Bearer"}


def hash_password(password: str, method: str) -> str:
    """Hash a password with the configured scrypt parameters."""
    return generate_password_hash(password, method=method, salt_length=16)


def verify_password(stored_hash: str | None, password: str, method: str) -> bool:
    """Check a password; without a stored hash, spend the same time and say no."""
    if stored_hash is None:
        # An unknown username must cost as much as a wrong password.
        check_password_hash(_dummy_hash(method), password)
        return False
    return check_password_hash(stored_hash, password)


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    return generate_password_hash("not-a-real-password", method=method)


def roles_required(*roles: str) -> Callable:
    """Require a valid access token of a live user holding one of ``roles``.

    With no roles, any authenticated user passes.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            verify_jwt_in_request()
            user = current_user
            g.user_id = str(user["_id"])
            if not user.get("active", True):
                raise AccountDisabledError()
            if roles and get_jwt().get("role") not in roles:
                raise ForbiddenError()
            return view(*args, **kwargs)

        return wrapper

    return decorator


def register_jwt_callbacks(app: Flask) -> None:
    """Answer every flask-jwt-extended failure with a problem document."""
    # Imported here: app.models.user imports this module's password helpers.
    from app.models.user import UserModel

    @jwt.user_lookup_loader
    def load_user(_header: dict, payload: dict) -> dict | None:
        # The token proves who the user was; the database says who they are now.
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
