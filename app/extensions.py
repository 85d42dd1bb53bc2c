"""Unbound Flask extensions, initialised by the app factory."""

from flask import current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app.token_cache import CachingJWTManager

jwt = CachingJWTManager()
limiter = Limiter(key_func=get_remote_address)


@limiter.request_filter
def is_preflight() -> bool:
    """A browser's CORS preflight must not spend the budget of its call."""
    return request.method == "OPTIONS"


def auth_rate() -> str:
    """RATELIMIT_AUTH: one budget per client address for the credential routes."""
    return current_app.config["RATELIMIT_AUTH"]


def money_rate() -> str:
    """RATELIMIT_MONEY: one budget per user for the money-moving routes."""
    return current_app.config["RATELIMIT_MONEY"]


def payees_rate() -> str:
    """RATELIMIT_PAYEES: one budget per user for the payee name checks."""
    return current_app.config["RATELIMIT_PAYEES"]


def authenticated_user() -> str:
    """Key a limit by the user the request authenticated as.

    The money limit sits below ``roles_required``, so it is checked only after
    the token was verified (signature, expiry, revocation, user): a forged,
    odd or revoked Authorization header cannot spread one user over several
    budgets or spend another user's.
    """
    user_id = g.get("user_id")
    return f"user:{user_id}" if user_id else f"ip:{get_remote_address()}"
