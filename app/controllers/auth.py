"""Registration, login sessions, passwords and the caller's profile."""

import math
import uuid
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from marshmallow import ValidationError
from pymongo.errors import DuplicateKeyError

from app import audit
from app.core.errors import LoginLocked
from app.errors import (
    AccountDisabledError,
    InvalidCredentialsError,
    InvalidCurrentPasswordError,
    UsernameTakenError,
)
from app.models import utc_now
from app.models.account import AccountModel
from app.models.session import (
    LoginAttemptModel,
    LoginThrottleModel,
)
from app.models.user import UserModel
from app.schemas.auth import (
    USERNAME,
    access_token_schema,
    change_password_schema,
    check_new_password,
    login_attempt_schema,
    login_list_args_schema,
    login_schema,
    me_schema,
    register_schema,
    registration_schema,
    token_schema,
)
from app.schemas.common import page
from app.security import session_claims


def _users() -> UserModel:
    """The users, able to hash and check passwords with the configured method."""
    return UserModel(current_app.config["PASSWORD_HASH_METHOD"])


def create_user(data: dict, role: str) -> dict:
    """Insert a validated user with the given role.

    :raises UsernameTakenError: the username exists already.
    """
    users = _users()
    if users.find_by_username(data["username"]) is not None:
        raise UsernameTakenError()
    try:
        return users.create(
            data["username"],
            data["password"],
            role,
            email=data.get("email"),
            full_name=data.get("full_name"),
        )
    except DuplicateKeyError as exc:
        # Two registrations raced past the look-up; the unique index decided.
        raise UsernameTakenError() from exc


def register(payload: object) -> dict:
    """Create a customer and their primary account at 0.00.

    :raises ValidationError: the body breaks the registration rules.
    :raises UsernameTakenError: the username exists already.
    """
    data = register_schema.load(payload)
    # Registration always makes a customer; the role is never read from input.
    user = create_user(data, role="customer")
    account = AccountModel().ensure_primary(user, current_app.config["CURRENCY"])
    return registration_schema.dump({"user": user, "account": account})


def _lockout_window() -> timedelta:
    return timedelta(seconds=current_app.config["LOGIN_LOCKOUT_SECONDS"])


def _reserve_attempt(username: str, now: datetime) -> tuple[ObjectId, int]:
    """Count a password attempt for ``username`` as failed until it succeeds.

    Return the attempt's id and how many failures it makes within the window.

    :raises LoginLocked: the username is locked out, for ``retry_after_seconds``.
    """
    limit, window = current_app.config["LOGIN_MAX_FAILURES"], _lockout_window()
    throttle = LoginThrottleModel()
    attempt, recent = throttle.reserve(username, now, window)
    if len(recent) >= limit:
        throttle.release(username, attempt)
        unlocks = recent[-limit] + window
        wait = max(1, math.ceil((unlocks - now).total_seconds()))
        raise LoginLocked(wait)
    return attempt, len(recent) + 1


def _attempt(username: str, outcome: str, user: dict | None, client: dict) -> None:
    if not USERNAME.fullmatch(username):
        return  # no user can have it, so no history shows it
    LoginAttemptModel().record(
        username,
        outcome,
        user_id=user["_id"] if user else None,
        ip=client.get("ip"),
        user_agent=client.get("user_agent"),
    )


def _actor(username: str) -> str | None:
    """The username tried, for the audit log; None when no user could have it.

    A string that breaks the username rules is often a password typed into
    the wrong field: it is not written down.
    """
    return username if USERNAME.fullmatch(username) else None


def login(payload: object, client: dict) -> dict:
    """Check credentials and open a session: an access and a refresh token.

    Every attempt is recorded in the login history and the audit log. After
    LOGIN_MAX_FAILURES failures for one username within LOGIN_LOCKOUT_SECONDS,
    that username is locked out until the window passes, whatever the password.

    :raises ValidationError: the body is not a username and password.
    :raises LoginLocked: the username is locked out, for ``retry_after_seconds``.
    :raises InvalidCredentialsError: unknown user or wrong password (one answer).
    :raises AccountDisabledError: the user is disabled.
    """
    data = login_schema.load(payload)
    username = data["username"]
    now = utc_now()
    try:
        attempt, failures = _reserve_attempt(username, now)
    except LoginLocked:
        _attempt(username, "locked", None, client)
        raise
    user = _users().authenticate(username, data["password"])
    if user is None:
        _attempt(username, "failure", None, client)
        audit.record("login_failure", actor=_actor(username))
        if failures == current_app.config["LOGIN_MAX_FAILURES"]:
            # Recorded once, when the lock starts; the attempts it refuses are
            # in the login history, not each in the serialised audit chain.
            audit.record(
                "lockout", actor=_actor(username), details={"failures": failures}
            )
        raise InvalidCredentialsError()
    if not user.get("active", True):
        LoginThrottleModel().release(username, attempt)
        _attempt(username, "disabled", user, client)
        audit.record("login_failure", actor=username, details={"reason": "disabled"})
        raise AccountDisabledError()
    LoginThrottleModel().reset(username)
    _attempt(username, "success", user, client)
    # On the user, not only in the login history (kept LOGIN_HISTORY_KEPT):
    # the bankers' directory shows it however long ago it was.
    UserModel().note_login(user["_id"], now)
    tokens = _open_session(user, now)
    audit.record("login_success", actor=username, target=user["_id"])
    return token_schema.dump(tokens)


SESSION_CLAIMS = ("sid", "sat", "sexp")


def _access(user: dict, session: dict) -> dict:
    """An access token of ``session`` for ``user``, as the API answers it."""
    claims = {"role": user["role"], **session}
    lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(str(user["_id"]), additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": lifetime // timedelta(seconds=1),
    }


def _open_session(user: dict, now: datetime) -> dict:
    """Issue the tokens of a new login session."""
    expires = now + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    session = session_claims(uuid.uuid4().hex, now, expires)
    refresh_token = create_refresh_token(
        str(user["_id"]), additional_claims={"role": user["role"], **session}
    )
    return {**_access(user, session), "refresh_token": refresh_token}


def refresh(user: dict, claims: dict) -> dict:
    """Issue a new access token for the refresh token's session."""
    session = {key: claims[key] for key in SESSION_CLAIMS}
    return access_token_schema.dump(_access(user, session))


def logout(user: dict, claims: dict) -> None:
    """End the token's login session: its access and refresh tokens alike."""
    # A token refreshed just before the session's end outlives it by up to one
    # access lifetime; the revocation must last as long as any of its tokens.
    ends = datetime.fromtimestamp(claims["sexp"], UTC)
    expires = ends + current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    UserModel().end_session(user, claims["sid"], expires, utc_now())
    audit.record("logout", actor=user["username"], target=user["_id"])


def change_password(user: dict, claims: dict, payload: object) -> None:
    """Replace the caller's password and end every other session.

    :raises ValidationError: the body is wrong or the new password breaks the
        register rules.
    :raises InvalidCurrentPasswordError: the current password is wrong.
    :raises LoginLocked: too many wrong passwords for this username.
    """
    data = change_password_schema.load(payload)
    problems = check_new_password(data["new_password"], user["username"])
    if problems:
        raise ValidationError({"new_password": problems["password"]})
    users = _users()
    # Guesses at the current password count toward the login lockout, so a
    # stolen access token cannot be used to find the password.
    failures = _reserve_attempt(user["username"], utc_now())[1]
    if users.authenticate(user["username"], data["current_password"]) is None:
        audit.record(
            "password_change_failure", actor=user["username"], target=user["_id"]
        )
        if failures == current_app.config["LOGIN_MAX_FAILURES"]:
            audit.record(
                "lockout", actor=user["username"], details={"failures": failures}
            )
        raise InvalidCurrentPasswordError()
    LoginThrottleModel().reset(user["username"])
    users.change_password(user["_id"], data["new_password"], claims.get("sid"))
    audit.record("password_change", actor=user["username"], target=user["_id"])


def list_logins(user: dict, args: dict) -> dict:
    """Return one page of the caller's login attempts, newest first.

    :raises ValidationError: a bad ``limit`` or ``cursor``.
    """
    query = login_list_args_schema.load(args)
    docs, has_more = LoginAttemptModel().list_for_username(
        user["username"], user["created_at"], query["limit"], query["cursor"]
    )
    return page(login_attempt_schema.dump(docs, many=True), docs, has_more)


def me(user: dict) -> dict:
    """Return the caller's profile."""
    return me_schema.dump(user)
