"""Text cells for the CSV files the bank writes (statements, monthly reports).

Text that a spreadsheet would read as a formula is neutralised (OWASP, CSV
injection): a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a single quote in front. Amounts are exact decimal
strings written by the API itself and are never passed through here, so they
stay numbers (a loan's ``-250.00`` included).
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str | None) -> str:
    """A text cell a spreadsheet will show as text, never run as a formula."""
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
