"""The edge's controllers: validate input, call one use case, render the result.

One module per feature (accounts, movements, transfers, transactions, auth,
banker administration, audit, ledger, ops).
"""

from flask import current_app, g, has_request_context, request

from app.core.limits import DailyLimits
from app.core.movements import Caller
from app.core.spending import SpendingRules


def caller(user: dict) -> Caller:
    """The authenticated user with the request's address and id, for the core."""
    if not has_request_context():
        return Caller(user)
    return Caller(user, ip=request.remote_addr, request_id=g.get("request_id"))


def daily_limits() -> DailyLimits:
    """The bank's daily-limit rule from the settings."""
    config = current_app.config
    return DailyLimits(
        default_cents=int(config["DAILY_OUT_LIMIT"] * 100), zone=config["BANK_TIMEZONE"]
    )


def spending_rules() -> SpendingRules:
    """What the settings say about money leaving a customer."""
    config = current_app.config
    return SpendingRules(
        currency=config["CURRENCY"],
        limits=daily_limits(),
        stale_after=config["LEDGER_PENDING_TIMEOUT"],
    )
