"""Draw the API guide's analytics chart; print its statement and figures.

    .venv/bin/python scripts/readme_statements.py          # print the JSON excerpts
    .venv/bin/python scripts/readme_statements.py --write  # and write the chart

A scripted half year of one customer's money (salary in, rent and shopping
out, savings moved between her own accounts), written through the real
ledger on an in-memory database with its clock set to each movement's date;
then the same code as the API cuts November's statement, sums the monthly
figures and draws them to docs/img/monthly-analytics.png. The same history
gives the same bytes.
"""

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
# Run as a file, the script's own folder is first on the path, not the repository.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bson import ObjectId  # noqa: E402

from app import create_app  # noqa: E402
from app.config import TestConfig  # noqa: E402
from app.core import analytics, statements  # noqa: E402
from app.core.statements import Month  # noqa: E402
from app.db import memory_client  # noqa: E402
from app.models import ledger  # noqa: E402
from app.models.account import AccountModel  # noqa: E402
from app.rendering import charts  # noqa: E402
from app.schemas.analytics import monthly_analytics_schema  # noqa: E402
from app.schemas.statement import statement_schema  # noqa: E402

CHART = ROOT / "docs" / "img" / "monthly-analytics.png"
NOW = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
MONTHS = [Month(2026, month) for month in range(6, 12)]
# (day, kind, cents, description): kind is deposit, withdraw, save (to her
# savings: neither income nor expense), rent (to the landlord: an expense).
MONTH_PLAN = [
    (1, "deposit", 2_400_00, "Salary"),
    (2, "rent", 950_00, "Rent"),
    (5, "withdraw", 86_40, "Groceries"),
    (9, "save", 200_00, "To savings"),
    (14, "withdraw", 61_25, "Groceries"),
    (19, "withdraw", 120_00, "Cash"),
    (23, "withdraw", 74_10, "Groceries"),
]
EXTRAS = {  # month -> one more movement that month
    7: (17, "withdraw", 640_00, "Flights"),
    8: (11, "deposit", 310_00, "Tax refund"),
    10: (21, "withdraw", 1_180_00, "New laptop"),
}


def build() -> tuple[statements.Statement, list[analytics.MonthFigures]]:
    """Write the history; return November's statement and six months' figures."""
    app = create_app(TestConfig, mongo_client=memory_client())
    mia = {"_id": ObjectId("6a0000000000000000000001"), "username": "mia"}
    landlord = {"_id": ObjectId("6a0000000000000000000002"), "username": "lena"}
    opened = datetime(2026, 5, 20, tzinfo=UTC)
    with (
        app.app_context(),
        mock.patch("app.models.ledger.utc_now", return_value=opened) as clock,
        mock.patch("app.models.account.utc_now", return_value=opened),
    ):
        accounts = AccountModel()
        checking = accounts.create(mia, "USD", primary=True)
        savings = accounts.create(mia, "USD", kind="savings")
        rent_to = accounts.create(landlord, "USD")["account_number"]
        for month in MONTHS:
            plan = MONTH_PLAN + ([EXTRAS[month.month]] if month.month in EXTRAS else [])
            for day, kind, cents, text in sorted(plan):
                clock.return_value = datetime(
                    month.year, month.month, day, 10, 30, tzinfo=UTC
                )
                if clock.return_value > NOW:
                    continue
                account = accounts.find_by_id(checking["_id"])
                if kind == "deposit":
                    ledger.deposit(account, cents, text)
                elif kind == "withdraw":
                    ledger.withdraw(account, cents, text)
                else:
                    to = savings["account_number"] if kind == "save" else rent_to
                    ledger.transfer(account, to, cents, text)
        own = {checking["account_number"], savings["account_number"]}
        figures = analytics.figures(mia["_id"], own, len(MONTHS), "UTC", NOW)
        checking = accounts.find_by_id(checking["_id"])
        return statements.statement(checking, Month(2026, 11), "UTC", now=NOW), figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {CHART}")
    args = parser.parse_args(argv)
    cut, figures = build()
    print(json.dumps(statement_schema.dump(cut), indent=1))
    shown = monthly_analytics_schema.dump({"items": figures, "currency": "USD"})
    print(json.dumps(shown, indent=1))
    if args.write:
        CHART.parent.mkdir(parents=True, exist_ok=True)
        CHART.write_bytes(charts.render(figures, "USD", "png"))
        print(f"wrote {CHART.relative_to(ROOT)} ({CHART.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
