"""Monthly income and expenses as a chart (PNG or SVG), drawn with matplotlib.

Only matplotlib's object API on the Agg canvas (``Figure`` and
``FigureCanvasAgg``), never pyplot: pyplot keeps global figure state that is
not safe under a threaded server. matplotlib is imported when the first chart
is drawn, not when the app starts.

The amounts reach matplotlib as integer cents, exact: the axis is labelled
by a formatter that writes cents back as money, so no amount of ours becomes
a binary float (matplotlib turns the integers into pixel positions itself).

Equal figures give equal bytes: the PNG carries no software version, the SVG
no date, and its element ids come from a fixed salt (``svg.hashsalt``, a
process-wide setting of matplotlib's, set once here and never changed).
"""

import io
import threading
from collections.abc import Sequence

from app.core.analytics import MonthFigures
from app.core.errors import money_text

MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
INCOME_COLOUR, EXPENSE_COLOUR, NET_COLOUR = "#2e7d32", "#c62828", "#1565c0"
TITLE = "Income and expenses by month"

_setup_lock = threading.Lock()
_ready = False


def _setup() -> None:
    """Fix matplotlib's process-wide settings that the output depends on, once."""
    global _ready
    with _setup_lock:
        if _ready:
            return
        import matplotlib

        matplotlib.rcParams["svg.hashsalt"] = "bank-api-charts"
        # Text as <text> elements: smaller files, and the labels stay text.
        matplotlib.rcParams["svg.fonttype"] = "none"
        _ready = True


def render(items: Sequence[MonthFigures], currency: str, kind: str) -> bytes:
    """Draw income and expenses as bars and the net as a line; ``kind`` is
    ``png`` or ``svg``."""
    _setup()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=(8, 4.4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(items)))
    width = 0.38
    axes.bar(
        [x - width / 2 for x in positions], [i.income_cents for i in items],
        width, label="Income", color=INCOME_COLOUR,
    )  # fmt: skip
    axes.bar(
        [x + width / 2 for x in positions], [i.expenses_cents for i in items],
        width, label="Expenses", color=EXPENSE_COLOUR,
    )  # fmt: skip
    axes.plot(
        positions, [i.net_cents for i in items], marker="o", linewidth=2,
        color=NET_COLOUR, label="Net",
    )  # fmt: skip
    axes.axhline(0, color="#555555", linewidth=0.8)
    axes.set_xticks(positions, labels=[str(i.month) for i in items])
    if len(items) > 8:
        axes.tick_params(axis="x", labelrotation=45)
    # Tick positions are whole cents; each is written back as money.
    axes.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    axes.yaxis.set_major_formatter(
        FuncFormatter(lambda value, _position: money_text(round(value)))
    )
    axes.set_ylabel(currency)
    axes.set_title(TITLE)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    # Below the axes, where it covers no bar.
    figure.legend(loc="outside lower center", ncols=3, frameon=False)
    out = io.BytesIO()
    if kind == "png":
        figure.savefig(out, format="png", metadata={"Software": None, "Title": TITLE})
    else:
        figure.savefig(out, format="svg", metadata={"Date": None, "Title": TITLE})
    return out.getvalue()
