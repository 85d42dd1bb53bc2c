"""Blueprint analytics: the caller's monthly figures (JSON, PNG, SVG) and dashboard."""

from flask import Response
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import analytics
from app.http import query_args
from app.openapi import operation
from app.schemas.analytics import (
    AnalyticsArgsSchema,
    DashboardSchema,
    MonthlyAnalyticsSchema,
)
from app.security import roles_required

bp = Blueprint(
    "analytics",
    __name__,
    description="The caller's income and expenses by month, as figures and as "
    "a chart, and the first screen of a front end (role customer).",
)

MONTHS = {
    422: "The months asked for are not a whole number from 1 to 24 "
    "(`validation_error`)."
}


def _chart(kind: str) -> Response:
    body, media_type = analytics.monthly_chart(current_user, query_args(), kind)
    return Response(body, status=200, content_type=media_type)


@bp.get("/analytics/monthly")
@operation(bp, 200, MonthlyAnalyticsSchema, query=AnalyticsArgsSchema, errors=MONTHS)
@roles_required("customer")
def monthly():
    """Show the caller's income, expenses and net for the last N months, oldest
    first (moves between the caller's own accounts are neither)."""
    return analytics.monthly(current_user, query_args()), 200


@bp.get("/analytics/monthly.png")
@operation(
    bp, 200, None, query=AnalyticsArgsSchema, files=("image/png",), errors=MONTHS
)
@roles_required("customer")
def monthly_png():
    """Draw the caller's monthly figures as a PNG chart."""
    return _chart("png")


@bp.get("/analytics/monthly.svg")
@operation(
    bp, 200, None, query=AnalyticsArgsSchema, files=("image/svg+xml",), errors=MONTHS
)
@roles_required("customer")
def monthly_svg():
    """Draw the caller's monthly figures as an SVG chart."""
    return _chart("svg")


@bp.get("/dashboard")
@operation(bp, 200, DashboardSchema)
@roles_required("customer")
def get_dashboard():
    """Show the caller's first screen: balances, this month, recent movements,
    goals."""
    return analytics.get_dashboard(current_user), 200
