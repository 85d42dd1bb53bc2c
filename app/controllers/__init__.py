"""The edge's controllers: validate input, call one use case, render the result.

One module per feature (accounts, movements, transfers, transactions, auth,
banker administration, audit, ledger, ops).
"""

from datetime import timedelta

from flask import current_app, g, has_request_context, request

from app.core.approvals import ApprovalRules
from app.core.limits import DailyLimits
from app.core.movements import Caller
from app.core.reviews import FlagRules
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


def approval_rules() -> ApprovalRules:
    """What the settings say about movements that need a banker's approval."""
    config = current_app.config
    return ApprovalRules(
        threshold_cents=int(config["APPROVAL_THRESHOLD"] * 100),
        ttl=timedelta(seconds=config["APPROVAL_TTL_SECONDS"]),
        spending=spending_rules(),
    )


def spending_rules() -> SpendingRules:
    """What the settings say about money leaving a customer."""
    config = current_app.config
    return SpendingRules(
        currency=config["CURRENCY"],
        limits=daily_limits(),
        stale_after=config["LEDGER_PENDING_TIMEOUT"],
    )


def flag_rules() -> FlagRules:
    """What the settings say about flagging movements for review."""
    config = current_app.config
    return FlagRules(
        large_cents=int(config["FLAG_AMOUNT"] * 100),
        velocity_count=config["FLAG_VELOCITY_COUNT"],
    )
