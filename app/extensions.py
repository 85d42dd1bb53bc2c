"""Unbound Flask extensions, initialised by the app factory."""

from flask import current_app, request
from flask_jwt_extended import JWTManager, decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from jwt import PyJWTError

jwt = JWTManager()
limiter = Limiter(key_func=get_remote_address)


def auth_rate() -> str:
    """RATELIMIT_AUTH: one budget per client address for every /auth/* route."""
    return current_app.config["RATELIMIT_AUTH"]


def money_rate() -> str:
    """RATELIMIT_MONEY: one budget per user for the money-moving routes."""
    return current_app.config["RATELIMIT_MONEY"]


def user_or_address() -> str:
    """Key a limit by the token's user, or by the address when there is none.

    Runs before the view checks the token, so only the signature and expiry
    are checked here; a bad token is refused by the view a moment later.
    """
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        try:
            return "user:" + str(decode_token(header.removeprefix("Bearer "))["sub"])
        except (JWTExtendedException, PyJWTError):
            pass
    return "ip:" + get_remote_address()
