"""Blueprint reports: the bankers' directory of users and the staff reports."""

from flask_smorest import Blueprint

from app.controllers import reports as report_controller
from app.controllers import users as user_controller
from app.http import file_or_json, query_args
from app.openapi import operation
from app.schemas.report import (
    LoginsArgsSchema,
    LoginsReportSchema,
    MonthlyReportArgsSchema,
    MonthlyReportSchema,
)
from app.schemas.users import UserDetailSchema, UserListArgsSchema, UserPageSchema
from app.security import roles_required

bp = Blueprint(
    "reports",
    __name__,
    url_prefix="/banker",
    description="Users and reports: the directory of every user, and the "
    "monthly and login reports (roles banker and auditor; months and days in "
    "BANK_TIMEZONE).",
)


@bp.get("/users")
@operation(bp, 200, UserPageSchema, query=UserListArgsSchema)
@roles_required("banker", "auditor")
def list_users():
    """List every user by username, filtered by role, status or username prefix."""
    return user_controller.list_users(query_args()), 200


@bp.get("/users/<user_id>")
@operation(bp, 200, UserDetailSchema, errors={404: "No such user (`user_not_found`)."})
@roles_required("banker", "auditor")
def get_user(user_id: str):
    """Show one user with the accounts they hold."""
    return user_controller.get_user(user_id), 200


@bp.get("/reports/monthly")
@operation(
    bp,
    200,
    MonthlyReportSchema,
    query=MonthlyReportArgsSchema,
    files=("text/csv",),
    errors={
        404: "The month has not begun (`report_not_found`).",
        422: "A month not written YYYY-MM, or an unknown format (`validation_error`).",
    },
)
@roles_required("banker", "auditor")
def monthly_report():
    """Show a month's figures: customers, logins, movements, reviews, loans."""
    return file_or_json(report_controller.monthly_report(query_args()))


@bp.get("/reports/logins")
@operation(
    bp,
    200,
    LoginsReportSchema,
    query=LoginsArgsSchema,
    errors={
        422: "A date not written YYYY-MM-DD, a 'to' after today or before 'from', "
        "or more than 366 days (`validation_error`)."
    },
)
@roles_required("banker", "auditor")
def logins_report():
    """Count the login attempts of each day: successes, failures, lockouts."""
    return report_controller.logins_report(query_args()), 200
