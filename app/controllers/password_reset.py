"""The password reset: ask for a code, then confirm it with a new password."""

from flask import current_app, g, request

from app.core import password_reset
from app.core.password_reset import Origin
from app.schemas.password_reset import (
    ACCEPTED,
    password_reset_accepted_schema,
    password_reset_confirm_schema,
    password_reset_request_schema,
)


def _origin() -> Origin:
    return Origin(ip=request.remote_addr, request_id=g.get("request_id"))


def request_reset(payload: object) -> dict:
    """Send a reset code if the user can receive one; the same answer always.

    :raises ValidationError: the body is not a username.
    """
    data = password_reset_request_schema.load(payload)
    password_reset.request_reset(
        data["username"],
        secret=current_app.config["JWT_SECRET_KEY"],
        origin=_origin(),
    )
    return password_reset_accepted_schema.dump({"message": ACCEPTED})


def confirm_reset(payload: object) -> None:
    """Set a new password with a reset code; every session ends.

    :raises ValidationError: the body is wrong or the new password breaks the
        register rules (checked before the code, so no try is spent).
    :raises InvalidResetCode: the code is not (or no longer) good.
    """
    data = password_reset_confirm_schema.load(payload)
    config = current_app.config
    password_reset.confirm_reset(
        data["username"],
        data["code"],
        data["new_password"],
        secret=config["JWT_SECRET_KEY"],
        hash_method=config["PASSWORD_HASH_METHOD"],
        origin=_origin(),
    )
