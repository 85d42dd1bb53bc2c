"""A statement as CSV: a header line, then one line per movement.

Text cells go through ``app.core.csv_cells.text_cell`` (a cell a spreadsheet
would run as a formula gets a quote in front). Amounts are exact decimal
strings written by the API itself, never escaped (a loan's ``-250.00`` stays a
number).
"""

import csv
import io
from zoneinfo import ZoneInfo

from app.core.calendar import utc_text
from app.core.csv_cells import FORMULA_STARTS, text_cell  # noqa: F401 (re-exported)
from app.core.errors import money_text
from app.core.statements import Statement
from app.models.ledger import CREDIT_TYPES

HEADER = (
    "date", "created_at", "type", "description", "counterparty_account_number",
    "money_in", "money_out", "balance_after", "currency", "transaction_id",
)  # fmt: skip


def render(statement: Statement, zone: str) -> bytes:
    """Write ``statement`` as UTF-8 CSV (CRLF line ends, as RFC 4180 has it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    local = ZoneInfo(zone)
    for entry in statement.lines:
        amount = money_text(entry["amount_cents"])
        credit = entry["type"] in CREDIT_TYPES
        writer.writerow(
            (
                entry["created_at"].astimezone(local).date().isoformat(),
                utc_text(entry["created_at"]),
                text_cell(entry["type"]),
                text_cell(entry.get("description")),
                text_cell(entry.get("counterparty_account_number")),
                amount if credit else "",
                "" if credit else amount,
                money_text(entry["balance_after_cents"]),
                text_cell(entry["currency"]),
                str(entry["_id"]),
            )
        )
    return out.getvalue().encode("utf-8")
