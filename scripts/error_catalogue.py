"""Print the API guide's error table, generated from the classes in app/errors.py.

    .venv/bin/python scripts/error_catalogue.py            # print the table
    .venv/bin/python scripts/error_catalogue.py --write    # update docs/api.md

The table sits in docs/api.md (its "Errors" section) between the two marker
comments below; tests/test_error_catalogue.py fails when it differs from this
output.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a file, the script's own folder is first on the path, not the repository.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.openapi import error_table  # noqa: E402

GUIDE = ROOT / "docs" / "api.md"
START = "<!-- errors:start -->"
END = "<!-- errors:end -->"


def table_in(text: str) -> str:
    """Return what ``text`` holds between the markers, without surrounding blanks.

    :raises ValueError: the markers are missing, repeated or out of order.
    """
    if text.count(START) != 1 or text.count(END) != 1:
        raise ValueError(f"docs/api.md needs exactly one {START} and one {END}")
    before, _, rest = text.partition(START)
    inside, _, _after = rest.partition(END)
    if END in before:
        raise ValueError(f"{END} comes before {START} in docs/api.md")
    return inside.strip("\n")


def with_table(text: str, table: str) -> str:
    """Return ``text`` with ``table`` between the markers."""
    table_in(text)  # the same checks of the markers
    before, _, rest = text.partition(START)
    _inside, _, after = rest.partition(END)
    return f"{before}{START}\n{table}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    """Print the table, or with --write put it into docs/api.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help="replace the table in docs/api.md"
    )
    args = parser.parse_args(argv)
    table = error_table()
    if not args.write:
        print(table)
        return 0
    text = GUIDE.read_text(encoding="utf-8")
    updated = with_table(text, table)
    if updated != text:
        GUIDE.write_text(updated, encoding="utf-8")
        print("docs/api.md: error table updated")
    else:
        print("docs/api.md: error table already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
