"""Monthly figures (JSON or a chart) and the customer's dashboard."""

from flask import current_app

from app.controllers.goals import goal_rules
from app.core import analytics, dashboard
from app.rendering import charts
from app.schemas.analytics import (
    analytics_args_schema,
    dashboard_schema,
    monthly_analytics_schema,
)


def _figures(user: dict, args: dict) -> list[analytics.MonthFigures]:
    query = analytics_args_schema.load(args)
    zone = current_app.config["BANK_TIMEZONE"]
    return analytics.monthly(user, query["months"], zone)


def monthly(user: dict, args: dict) -> dict:
    """Return the caller's income, expenses and net for the last N months.

    :raises ValidationError: ``months`` is not a whole number from 1 to 24.
    """
    return monthly_analytics_schema.dump(
        {"items": _figures(user, args), "currency": current_app.config["CURRENCY"]}
    )


def monthly_chart(user: dict, args: dict, kind: str) -> tuple[bytes, str]:
    """Draw the same figures as a chart; return its bytes and media type.

    :raises ValidationError: ``months`` is not a whole number from 1 to 24.
    """
    items = _figures(user, args)
    body = charts.render(items, current_app.config["CURRENCY"], kind)
    return body, charts.MEDIA_TYPES[kind]


def get_dashboard(user: dict) -> dict:
    """Return the caller's first screen: balances, this month, recent, goals."""
    return dashboard_schema.dump(dashboard.dashboard(user, rules=goal_rules()))
