"""Renderers: statements as CSV and PDF files, monthly figures as charts.

Plain functions from the core's results to bytes; no Flask, no database.
"""

from app.core.statements import Statement


def statement_filename(statement: Statement, extension: str) -> str:
    """A statement file's name: statement-<account>-<YYYY-MM>.<extension>."""
    return f"statement-{statement.account_number}-{statement.month}.{extension}"
