"""Blueprint auth: register, login sessions, passwords, the caller's profile."""

from flask import request
from flask_jwt_extended import current_user, get_jwt
from flask_smorest import Blueprint

from app.controllers import auth as controller
from app.controllers import password_reset as reset_controller
from app.controllers import profile as profile_controller
from app.errors import InvalidJsonError, InvalidRequestError, InvalidResetCodeError
from app.extensions import auth_rate, limiter
from app.http import json_body, query_args
from app.observability import escape_invisible
from app.openapi import RATE_LIMITED, describe, operation
from app.schemas.auth import (
    AccessTokenSchema,
    ChangePasswordSchema,
    LoginAttemptPageSchema,
    LoginSchema,
    MeSchema,
    ProfileUpdateSchema,
    RegisterSchema,
    RegistrationSchema,
    TokenSchema,
)
from app.schemas.common import PageArgsSchema
from app.schemas.password_reset import (
    PasswordResetAcceptedSchema,
    PasswordResetConfirmSchema,
    PasswordResetRequestSchema,
)
from app.security import roles_required

bp = Blueprint(
    "auth",
    __name__,
    url_prefix="/auth",
    description="Registration, login sessions and passwords.",
)
# One budget per client address, shared by the routes that take a credential
# (a password or a refresh token). Reading one's own profile or login history
# with a valid access token guesses nothing, so it does not spend the budget.
_auth_limit = limiter.shared_limit(auth_rate, scope="auth")

CREDENTIALS = {"username": "alice", "password": "correct horse battery"}


def client() -> dict:
    """Where a request comes from, for the login history."""
    # Anyone may try a login under any name, so the User-Agent shown in a user's
    # history is a stranger's text: no bidi override or control character in it.
    agent = escape_invisible(request.user_agent.string)
    return {"ip": request.remote_addr, "user_agent": agent}


@bp.post("/register")
@operation(
    bp,
    201,
    RegistrationSchema,
    body=RegisterSchema,
    auth=False,
    errors={409: "The username is taken (`username_taken`).", **RATE_LIMITED},
    example=CREDENTIALS,
)
@_auth_limit
def register():
    """Register a customer with a new primary account."""
    return controller.register(json_body()), 201


@bp.post("/login")
@operation(
    bp,
    200,
    TokenSchema,
    body=LoginSchema,
    auth=False,
    errors={
        401: "Unknown username or wrong password (`invalid_credentials`).",
        403: "The user is disabled (`account_disabled`).",
        429: "Too many failed logins for this username (`too_many_attempts`) or "
        "over the rate limit (`rate_limited`); both with `Retry-After`.",
    },
    example=CREDENTIALS,
)
@_auth_limit
def login():
    """Exchange a username and password for tokens (a new session)."""
    return controller.login(json_body(), client()), 200


@bp.post("/refresh")
@operation(bp, 200, AccessTokenSchema, errors=RATE_LIMITED, refresh=True)
@_auth_limit
@roles_required(kind="refresh")
def refresh():
    """Exchange the refresh token (as bearer) for a new access token."""
    return controller.refresh(current_user, get_jwt()), 200


@bp.post("/logout")
@operation(bp, 204, None)
@roles_required(kind="any")
def logout():
    """End this login session: its access and refresh tokens stop working."""
    controller.logout(current_user, get_jwt())
    return "", 204


@bp.get("/me")
@operation(bp, 200, MeSchema)
@roles_required()
def me():
    """Return the caller's profile."""
    return controller.me(current_user), 200


@bp.patch("/me")
@operation(
    bp,
    200,
    MeSchema,
    body=ProfileUpdateSchema,
    example={"email": "alice@example.com", "phone": "+14155550123"},
)
@roles_required()
def update_me():
    """Change the caller's email, full name or phone (null clears one)."""
    return profile_controller.update_profile(current_user, json_body()), 200


@bp.post("/change-password")
@operation(
    bp,
    204,
    None,
    body=ChangePasswordSchema,
    errors={
        403: "The current password is wrong (`invalid_current_password`), or "
        "the token's user is disabled (`account_disabled`).",
        **RATE_LIMITED,
    },
    example={
        "current_password": "correct horse battery",
        "new_password": "a whole new passphrase",
    },
)
@_auth_limit
@roles_required()
def change_password():
    """Replace the caller's password and end every other session."""
    controller.change_password(current_user, get_jwt(), json_body())
    return "", 204


@bp.post("/password-reset")
@operation(
    bp,
    202,
    PasswordResetAcceptedSchema,
    body=PasswordResetRequestSchema,
    auth=False,
    errors=RATE_LIMITED,
    example={"username": "alice"},
)
@_auth_limit
def request_password_reset():
    """Send a one-time code to the user's email, else phone (always 202).

    The same answer, after the same work, whether or not the user exists or
    can receive a code. The code lives 15 minutes; a new request replaces it.
    """
    return reset_controller.request_reset(json_body()), 202


@bp.post("/password-reset/confirm")
@operation(
    bp,
    204,
    None,
    body=PasswordResetConfirmSchema,
    auth=False,
    errors={
        400: describe(InvalidResetCodeError, InvalidJsonError, InvalidRequestError),
        **RATE_LIMITED,
    },
    example={
        "username": "alice",
        "code": "04711234",
        "new_password": "a whole new passphrase",
    },
)
@_auth_limit
def confirm_password_reset():
    """Set a new password with the code sent; every session of the user ends."""
    reset_controller.confirm_reset(json_body())
    return "", 204


@bp.get("/logins")
@operation(bp, 200, LoginAttemptPageSchema, query=PageArgsSchema)
@roles_required()
def list_logins():
    """List the caller's recent login attempts, newest first."""
    return controller.list_logins(current_user, query_args()), 200
