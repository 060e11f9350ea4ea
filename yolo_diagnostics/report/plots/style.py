"""The figures' shared look: sizes, colours, and the helpers every figure is drawn with.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas, never through pyplot:
no global state, no window, safe in threads.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.axis import XAxis, YAxis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

DPI = 100
WIDTH_IN = 9.6  # 960 px at `DPI`
MAX_UNMATCHED_POINTS = 20_000  # about: unmatched targets drawn one by one in wh.png
TOP_CLASSES = 15
WH_BINS = 90  # log-spaced density bins per axis of wh.png
RATIO_BIN = 0.02  # about this wide; 1 / anchor_t is always a bin edge

# Reasons and levels get saturated colours that the grey density never takes. Reason colours
# are drawn without antialiasing, so their exact RGB marks an unmatched point in the PNG.
REASON_COLOURS = {"too-small": "#e6194b", "too-large": "#911eb4", "aspect": "#f58231"}
LEVEL_COLOURS = ("#1f77b4", "#2ca02c", "#b8860b", "#17becf", "#8c564b", "#bcbd22")
LEVEL_MARKERS = ("o", "s", "^", "D", "v", "P")
MATCHED_COLOUR = "#8c8c8c"
MISS_COLOUR = "#e6194b"
PASS_COLOUR = "#4c72b0"
NOTE_COLOUR = "#555555"
DENSITY = LinearSegmentedColormap.from_list("matched", ["#e4e4e4", "#1a1a1a"])

TITLE_SIZE = 13
LABEL_SIZE = 11
TICK_SIZE = 9.5
SMALL_SIZE = 8.5


def save(fig: Figure, path: Path) -> None:
    """Write ``fig`` as a PNG at `DPI`, without the version stamp (same bytes across runs)."""
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})


def new_figure(height_in: float) -> Figure:
    """A `WIDTH_IN`-wide figure on an Agg canvas, laid out by constrained layout."""
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def style_axes(ax: Axes, xlabel: str | None, ylabel: str | None) -> None:
    """Shared axis look: label sizes, light spines."""
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def level_styles(strides: tuple[int, ...]) -> list[tuple[int, str, str]]:
    """Per level: ``(stride, colour, marker)``, cycling past the palette's length."""
    return [
        (s, LEVEL_COLOURS[k % len(LEVEL_COLOURS)], LEVEL_MARKERS[k % len(LEVEL_MARKERS)])
        for k, s in enumerate(strides)
    ]


def legend_point(colour: str, label: str) -> Line2D:
    return Line2D([], [], color=colour, marker="s", linestyle="", markersize=6, label=label)


def message(ax: Axes, text: str, size: float = 14, at: tuple[float, float] = (0.5, 0.5)) -> None:
    """A boxed note at ``at`` in axes coordinates (an empty figure says why it is empty)."""
    ax.text(
        *at,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=size,
        color=NOTE_COLOUR,
        bbox={"facecolor": "white", "edgecolor": "#bbbbbb", "boxstyle": "round,pad=0.5"},
        zorder=10,
    )


THOUSANDS = FuncFormatter(lambda value, _pos: f"{value:,.0f}")


def count_axis(axis: XAxis | YAxis) -> None:
    """Integer ticks with thousands separators."""
    axis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    axis.set_major_formatter(THOUSANDS)


def compact(n: int) -> str:
    """``9,999``, ``123.4k``, ``1.27M``: short enough for a label above a narrow bar."""
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1e3:.1f}k"
    return f"{n / 1e6:.2f}M"
