"""Registration, login and the caller's profile."""

from datetime import timedelta

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from pymongo.errors import DuplicateKeyError

from app.errors import (
    AccountDisabledError,
    InvalidCredentialsError,
    UsernameTakenError,
)
from app.models.account import AccountModel
from app.models.user import UserModel
from app.schemas.auth import (
    login_schema,
    me_schema,
    register_schema,
    registration_schema,
    token_schema,
)


def create_user(data: dict, role: str) -> dict:
    """Insert a validated user with the given role.

    :raises UsernameTakenError: the username exists already.
    """
    users = UserModel()
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


def login(payload: object) -> dict:
    """Check credentials and issue an access and a refresh token.

    :raises ValidationError: the body is not a username and password.
    :raises InvalidCredentialsError: unknown user or wrong password (one answer).
    :raises AccountDisabledError: the user is disabled.
    """
    data = login_schema.load(payload)
    user = UserModel().authenticate(data["username"], data["password"])
    if user is None:
        raise InvalidCredentialsError()
    if not user.get("active", True):
        raise AccountDisabledError()
    identity = str(user["_id"])
    claims = {"role": user["role"]}
    lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return token_schema.dump(
        {
            "access_token": create_access_token(identity, additional_claims=claims),
            "refresh_token": create_refresh_token(identity, additional_claims=claims),
            "token_type": "Bearer",
            "expires_in": lifetime // timedelta(seconds=1),
        }
    )


def me(user: dict) -> dict:
    """Return the caller's profile."""
    return me_schema.dump(user)
