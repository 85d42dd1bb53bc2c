"""Staff reports over HTTP: the monthly figures (JSON or CSV), logins per day."""

from flask import current_app

from app.core import reports
from app.http import File
from app.models import utc_now
from app.schemas.report import (
    logins_args_schema,
    logins_report_schema,
    monthly_report_args_schema,
    monthly_report_schema,
)


def monthly_report(args: dict) -> dict | File:
    """Return a month's figures (default: the previous month), JSON or CSV.

    :raises ValidationError: a month not written YYYY-MM, or an unknown format.
    :raises ReportNotFound: the month has not begun.
    """
    query = monthly_report_args_schema.load(args)
    zone, currency = current_app.config["BANK_TIMEZONE"], current_app.config["CURRENCY"]
    now = utc_now()
    month = query["month"] or reports.previous_month(now, zone)
    report = reports.monthly_report(month, zone, now)
    if query["format"] == "csv":
        return File(
            reports.report_csv(report, currency),
            "text/csv; charset=utf-8",
            reports.report_filename(report),
        )
    return monthly_report_schema.dump({"report": report, "currency": currency})


def logins_report(args: dict) -> dict:
    """Return the login attempts per day of a range of days.

    :raises ValidationError: a date not written YYYY-MM-DD; ``to`` after today
        or before ``from``; more than 366 days.
    """
    query = logins_args_schema.load(args)
    found = reports.logins_report(
        query["first"], query["last"], current_app.config["BANK_TIMEZONE"], utc_now()
    )
    return logins_report_schema.dump(found)
