"""Statements: validate the account and month, cut the statement, render it."""

from flask import current_app
from marshmallow import ValidationError

from app.core import statements
from app.core.errors import AccountNotFound
from app.http import File
from app.rendering import statement_csv, statement_filename, statement_pdf
from app.schemas.common import ACCOUNT_NUMBER
from app.schemas.statement import (
    encode_month_cursor,
    month_path_schema,
    statement_args_schema,
    statement_month_page_schema,
    statement_months_args_schema,
    statement_schema,
)


def _checked_number(account_number: str) -> str:
    """An account number that cannot exist is answered like a missing one."""
    try:
        ACCOUNT_NUMBER(account_number)
    except ValidationError:
        raise AccountNotFound() from None
    return account_number


def _account(viewer: dict | None, account_number: str) -> dict:
    """The caller's own account (``viewer``), or any account for staff (None)."""
    number = _checked_number(account_number)
    if viewer is None:
        return statements.any_account(number)
    return statements.owned_account(viewer, number)


def list_months(viewer: dict | None, account_number: str, args: dict) -> dict:
    """Return a page of the months with activity on the account, newest first.

    ``viewer``: the customer, whose own account it must be; None for staff.

    :raises ValidationError: a bad limit or cursor.
    :raises AccountNotFound: no such account (of the customer's).
    """
    query = statement_months_args_schema.load(args)
    account = _account(viewer, account_number)
    found = statements.active_months(
        account,
        current_app.config["BANK_TIMEZONE"],
        query["limit"],
        before=query["cursor"],
    )
    items = [{"month": month} for month in found.months]
    cursor = encode_month_cursor(found.months[-1]) if found.has_more else None
    return statement_month_page_schema.dump({"items": items, "next_cursor": cursor})


def get_statement(
    viewer: dict | None, account_number: str, month: str, args: dict
) -> dict | File:
    """Return the account's statement of ``month``: JSON, or a CSV or PDF file.

    :raises ValidationError: a month not written YYYY-MM, or an unknown format.
    :raises AccountNotFound: no such account (of the customer's).
    :raises StatementNotFound: the month has not begun, or ended before the
        account was opened.
    """
    query = statement_args_schema.load(args)
    wanted = month_path_schema.load({"month": month})["month"]
    account = _account(viewer, account_number)
    zone = current_app.config["BANK_TIMEZONE"]
    cut = statements.statement(account, wanted, zone)
    if query["format"] == "csv":
        return File(
            statement_csv.render(cut, zone),
            "text/csv; charset=utf-8",
            statement_filename(cut, "csv"),
        )
    if query["format"] == "pdf":
        return File(
            statement_pdf.render(cut, zone),
            "application/pdf",
            statement_filename(cut, "pdf"),
        )
    return statement_schema.dump(cut)
