"""A statement as PDF, drawn with ReportLab's canvas.

The canvas, not platypus: a statement is one fixed-width table, and placing
each line by hand is several times faster on a long statement than a Table
that measures and splits itself. The document is invariant (ReportLab's fixed
creation date and document id), so the same statement renders to the same
bytes. Text is set in DejaVu Sans (matplotlib, a dependency already, ships it)
for more than Latin-1; Helvetica if that file is missing.
"""

import importlib.util
import io
import threading
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from app.core.errors import money_text
from app.core.statements import Statement
from app.models.ledger import CREDIT_TYPES

# Page geometry is in PostScript points (1/72 inch); no amount is ever one.
Points = float
PAGE_WIDTH, PAGE_HEIGHT = 595.27, 841.89  # A4
MARGIN = 40
ROW = 13.5
SIZE = 8.5
TYPE_NAMES = {
    "deposit": "Deposit",
    "withdrawal": "Withdrawal",
    "transfer_in": "Transfer in",
    "transfer_out": "Transfer out",
    "interest": "Interest",
}
# Column left edges (text) or right edges (amounts), from the left margin.
DATE_X, TEXT_X, TYPE_X = 0, 62, 268
IN_RIGHT, OUT_RIGHT, BALANCE_RIGHT = 372, 444, PAGE_WIDTH - 2 * MARGIN
TEXT_WIDTH = TYPE_X - TEXT_X - 8
FIRST_TOP = PAGE_HEIGHT - MARGIN - 150  # below the title and the summary
LATER_TOP = PAGE_HEIGHT - MARGIN - 40
BOTTOM = MARGIN + 28

_fonts_lock = threading.Lock()
_fonts: tuple[str, str] | None = None


def _font_names() -> tuple[str, str]:
    """Register DejaVu Sans (regular, bold) once per process; return the names."""
    global _fonts
    with _fonts_lock:
        if _fonts is None:
            _fonts = _register_fonts()
        return _fonts


def _register_fonts() -> tuple[str, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return "Helvetica", "Helvetica-Bold"
    folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
    regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
    if not (regular.is_file() and bold.is_file()):
        return "Helvetica", "Helvetica-Bold"
    pdfmetrics.registerFont(TTFont("BankSans", str(regular)))
    pdfmetrics.registerFont(TTFont("BankSans-Bold", str(bold)))
    return "BankSans", "BankSans-Bold"


def _first_row(head: Points) -> Points:
    """Where the first line of a table sits under its head at ``head``."""
    return head - ROW - 2


def _rows_per_page(head: Points) -> int:
    """How many lines fit under a table head at ``head``."""
    return int((_first_row(head) - BOTTOM) // ROW) + 1


def page_count(lines: int) -> int:
    """How many pages a statement of ``lines`` lines takes (at least one)."""
    first = _rows_per_page(FIRST_TOP)
    if lines <= first:
        return 1
    later = _rows_per_page(LATER_TOP)
    return 1 + -(-(lines - first) // later)


def _fit(text: str, font: str, width: Points) -> str:
    """Cut ``text`` to ``width`` points, with an ellipsis when cut."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if stringWidth(text, font, SIZE) <= width:
        return text
    while text and stringWidth(text + "…", font, SIZE) > width:
        text = text[:-1]
    return text + "…"


def render(statement: Statement, zone: str, bank_name: str = "Bank API") -> bytes:
    """Draw ``statement`` as an A4 PDF; equal statements give equal bytes."""
    from reportlab.pdfgen.canvas import Canvas

    regular, bold = _font_names()
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=1)
    title = f"Statement {statement.account_number} {statement.month}"
    canvas.setTitle(title)
    canvas.setAuthor(bank_name)
    canvas.setCreator(bank_name)
    canvas.setSubject(f"Account statement, {statement.currency}")
    local = ZoneInfo(zone)
    pages = page_count(len(statement.lines))
    lines = iter(statement.lines)
    for number in range(1, pages + 1):
        if number == 1:
            head = _first_page_head(canvas, statement, zone, bank_name, regular, bold)
        else:
            head = _later_page_head(canvas, statement, bold)
        first = _table_head(canvas, head, bold)
        for row in range(_rows_per_page(head)):
            entry = next(lines, None)
            if entry is None:
                break
            _line(canvas, first - row * ROW, entry, local, regular, shaded=row % 2 == 1)
        _foot(canvas, statement, number, pages, regular)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def _first_page_head(canvas, statement, zone, bank_name, regular, bold) -> Points:
    left, y = MARGIN, PAGE_HEIGHT - MARGIN
    canvas.setFont(bold, 16)
    canvas.drawString(left, y - 12, "Account statement")
    canvas.setFont(regular, 9)
    canvas.drawRightString(PAGE_WIDTH - MARGIN, y - 12, bank_name)
    first = statement.starts_at.astimezone(ZoneInfo(zone)).date()
    last = (statement.ends_at.astimezone(ZoneInfo(zone)) - timedelta(days=1)).date()
    period = f"{first.isoformat()} to {last.isoformat()} ({zone})"
    if not statement.complete:
        period += ", to date"
    canvas.setFont(regular, 10)
    canvas.drawString(left, y - 34, f"Account {statement.account_number}")
    canvas.drawString(left, y - 48, f"Month {statement.month}: {period}")
    canvas.drawString(left, y - 62, f"Currency {statement.currency}")
    figures = (
        ("Opening balance", statement.opening_cents),
        ("Money in", statement.credits_cents),
        ("Money out", statement.debits_cents),
        ("Closing balance", statement.closing_cents),
    )
    box_top = y - 76
    canvas.setFillGray(0.94)
    canvas.rect(left, box_top - 46, PAGE_WIDTH - 2 * MARGIN, 46, stroke=0, fill=1)
    canvas.setFillGray(0)
    width = (PAGE_WIDTH - 2 * MARGIN) / len(figures)
    for index, (label, cents) in enumerate(figures):
        x = left + index * width + 10
        canvas.setFont(regular, 8)
        canvas.drawString(x, box_top - 16, label)
        canvas.setFont(bold, 12)
        canvas.drawString(x, box_top - 34, money_text(cents))
    return FIRST_TOP


def _later_page_head(canvas, statement, bold) -> Points:
    canvas.setFont(bold, 10)
    canvas.drawString(
        MARGIN, PAGE_HEIGHT - MARGIN - 12,
        f"Statement {statement.account_number} {statement.month} (continued)",
    )  # fmt: skip
    return LATER_TOP


def _table_head(canvas, top: Points, bold: str) -> Points:
    left = MARGIN
    canvas.setFont(bold, SIZE)
    canvas.drawString(left + DATE_X, top, "Date")
    canvas.drawString(left + TEXT_X, top, "Description")
    canvas.drawString(left + TYPE_X, top, "Type")
    canvas.drawRightString(left + IN_RIGHT, top, "Money in")
    canvas.drawRightString(left + OUT_RIGHT, top, "Money out")
    canvas.drawRightString(left + BALANCE_RIGHT, top, "Balance")
    canvas.setLineWidth(0.6)
    canvas.line(left, top - 4, PAGE_WIDTH - MARGIN, top - 4)
    return _first_row(top)


def _line(canvas, y: Points, entry: dict, local, regular: str, shaded: bool) -> None:
    left = MARGIN
    if shaded:
        canvas.setFillGray(0.965)
        canvas.rect(left, y - 3.5, PAGE_WIDTH - 2 * MARGIN, ROW, stroke=0, fill=1)
        canvas.setFillGray(0)
    amount = money_text(entry["amount_cents"])
    credit = entry["type"] in CREDIT_TYPES
    text = entry.get("description") or ""
    counterparty = entry.get("counterparty_account_number")
    if counterparty:
        text = f"{text} ({counterparty})" if text else counterparty
    canvas.setFont(regular, SIZE)
    canvas.drawString(
        left + DATE_X, y, entry["created_at"].astimezone(local).date().isoformat()
    )
    canvas.drawString(left + TEXT_X, y, _fit(text, regular, TEXT_WIDTH))
    canvas.drawString(left + TYPE_X, y, TYPE_NAMES.get(entry["type"], entry["type"]))
    canvas.drawRightString(left + (IN_RIGHT if credit else OUT_RIGHT), y, amount)
    canvas.drawRightString(
        left + BALANCE_RIGHT, y, money_text(entry["balance_after_cents"])
    )


def _foot(canvas, statement: Statement, number: int, pages: int, regular: str) -> None:
    canvas.setFont(regular, 7.5)
    canvas.setFillGray(0.35)
    canvas.drawString(
        MARGIN, MARGIN,
        f"Opening {money_text(statement.opening_cents)} + money in "
        f"{money_text(statement.credits_cents)} - money out "
        f"{money_text(statement.debits_cents)} = closing "
        f"{money_text(statement.closing_cents)} {statement.currency}",
    )  # fmt: skip
    canvas.drawRightString(PAGE_WIDTH - MARGIN, MARGIN, f"Page {number} of {pages}")
    canvas.setFillGray(0)
