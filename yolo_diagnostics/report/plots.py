"""The scan report's figures: PNG files drawn with matplotlib, one `Plot` per figure.

- ``wh.png``: target sizes against the anchors and their ``anchor_t`` bands (why a target is
  unmatched);
- ``positives.png``: positive rows per level and anchor;
- ``best_ratio.png``: AutoAnchor's best ratio per target against ``1 / anchor_t``;
- ``unmatched.png``: unmatched targets by reason and by class.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas, never through pyplot:
no global state, no window, safe in threads. Colours, sizes and the PNG metadata are fixed,
so the same scan gives the same bytes with the same matplotlib.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import XAxis, YAxis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from ..scan.reasons import REASONS
from ..scan.run import ScanResult

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
_DENSITY = LinearSegmentedColormap.from_list("matched", ["#e4e4e4", "#1a1a1a"])

TITLE_SIZE = 13
LABEL_SIZE = 11
TICK_SIZE = 9.5
SMALL_SIZE = 8.5


@dataclass(frozen=True)
class Plot:
    """One figure of the report.

    Attributes:
        file: the PNG's name, relative to the folder `scan_plots` wrote it in.
        title: a heading for the figure.
        caption: one or two sentences under the figure: what it shows and how to read it.
    """

    file: str
    title: str
    caption: str


def scan_plots(result: ScanResult, folder: Path) -> list[Plot]:
    """Draw the scan's figures into ``folder`` (created if needed), in report order.

    Returns one `Plot` per PNG written: ``wh.png``, ``positives.png``, ``best_ratio.png``,
    ``unmatched.png``. A scan without targets gives the same files, each with a message.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plots = []
    for file, title, build in _FIGURES:
        fig, caption = build(result)
        fig.suptitle(title, fontsize=TITLE_SIZE, fontweight="bold")
        _save(fig, folder / file)
        plots.append(Plot(file, title, caption))
    return plots


def _save(fig: Figure, path: Path) -> None:
    """Write ``fig`` as a PNG at `DPI`, without the version stamp (same bytes across runs)."""
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})


# --- wh.png ------------------------------------------------------------------------------


def wh_figure(result: ScanResult) -> tuple[Figure, str]:
    """Target (w, h) in input pixels on log-log axes: matched targets as a log-scaled density,
    unmatched ones as points per reason, every anchor with its ``anchor_t`` band."""
    p = result.problem
    t = p.anchor_t
    height, width = p.img_size
    wh = result.targets[:, 2:4].astype(np.float64) * (width, height)
    matched = ~result.unmatched
    anchors = np.array(p.anchors, dtype=np.float64)  # [nl, na, 2] pixels
    lo, hi = _wh_limits(wh, anchors, t)

    # Fixed layout: a square plot, and beside it the legend above the colour bar (constrained
    # layout would leave the equal-aspect plot in a band of white).
    fig = Figure(figsize=(WIDTH_IN, 7.0), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((80 / 960, 60 / 700, 590 / 960, 590 / 700))
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), aspect="equal")
    _style(ax, "target width at the input (px)", "target height at the input (px)")
    ax.grid(True, which="major", color="#dddddd", linewidth=0.6, zorder=0)

    handles: list[Patch | Line2D] = []
    if matched.any():
        edges = np.geomspace(lo, hi, WH_BINS + 1)
        density, _, _ = np.histogram2d(wh[matched, 0], wh[matched, 1], bins=(edges, edges))
        mesh = ax.pcolormesh(
            edges,
            edges,
            np.ma.masked_equal(density.T, 0),
            cmap=_DENSITY,
            norm=LogNorm(1, max(2.0, density.max())),
            zorder=1,
            rasterized=True,
        )
        bar = fig.colorbar(mesh, cax=fig.add_axes((705 / 960, 60 / 700, 16 / 960, 300 / 700)))
        bar.set_label("matched targets per bin", fontsize=SMALL_SIZE + 0.5)
        bar.ax.tick_params(labelsize=SMALL_SIZE)
        bar.ax.yaxis.set_major_formatter(_THOUSANDS)
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    handles.append(Patch(color=MATCHED_COLOUR, label=f"matched: {int(matched.sum()):,}"))

    samples = unmatched_sample(result.reason)
    drawn_all = sum(len(idx) for _, _, idx, _ in samples)
    size = 7 if drawn_all > 2000 else 16  # few points: bigger, easier to see
    for k, name, idx, total in samples:
        drawn = "" if len(idx) == total else f" ({len(idx):,} drawn)"
        ax.scatter(
            wh[idx, 0],
            wh[idx, 1],
            s=size,
            marker="s",
            c=REASON_COLOURS[name],
            linewidths=0,
            antialiased=False,  # exact colour: countable in the PNG
            zorder=3 + k * 0.1,
            rasterized=True,
        )
        handles.append(_point(REASON_COLOURS[name], f"{name}: {total:,}{drawn}"))

    for level, (stride, colour, marker) in enumerate(_level_styles(p.strides)):
        for aw, ah in anchors[level]:
            band = Rectangle((aw / t, ah / t), aw * t - aw / t, ah * t - ah / t)
            band.set(fill=False, edgecolor=colour, linewidth=1.1, alpha=0.85, zorder=4)
            ax.add_patch(band)
        ax.scatter(
            anchors[level, :, 0],
            anchors[level, :, 1],
            s=60,
            marker=marker,
            c=colour,
            edgecolors="white",
            linewidths=0.9,
            zorder=5,
        )
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                marker=marker,
                markersize=7,
                markeredgecolor="white",
                linewidth=1.1,
                label=f"level {level} (stride {stride}): anchor, band",
            )
        )
    ax.axvline(width, color=NOTE_COLOUR, linestyle=":", linewidth=1, zorder=2)
    ax.axhline(height, color=NOTE_COLOUR, linestyle=":", linewidth=1, zorder=2)
    handles.append(Line2D([], [], color=NOTE_COLOUR, linestyle=":", label="input width, height"))
    if len(wh) == 0:
        _message(ax, "no targets", at=(0.75, 0.1))  # the lower right: away from the anchors
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(695 / 960, 650 / 700),
        fontsize=SMALL_SIZE + 0.5,
        frameon=False,
        handlelength=1.6,
    )

    caption = (
        f"Grey: matched targets per bin (log scale); coloured points: unmatched targets by "
        f"reason; each anchor is a marker at its (w, h) with its anchor_t = {t:g} band "
        f"(w/{t:g} to {t:g}w, h/{t:g} to {t:g}h, where the ratio test passes). A target outside "
        f"every band fails the ratio test for every anchor and gets no positive."
    )
    lost = int(result.unmatched.sum())
    if drawn_all < lost:
        caption += (
            f" Only {drawn_all:,} of the {lost:,} unmatched targets are drawn, an even sample "
            f"of each reason; the legend gives the full counts."
        )
    return fig, caption


def _wh_limits(wh: np.ndarray, anchors: np.ndarray, t: float) -> tuple[float, float]:
    """Common log-axis limits covering every target and every anchor band, with a margin."""
    sides = wh[(wh > 0).all(1)]
    lo = min(anchors.min() / t, sides.min() if len(sides) else np.inf)
    hi = max(anchors.max() * t, sides.max() if len(sides) else 0.0)
    return lo / 1.25, hi * 1.25


def unmatched_sample(reason: np.ndarray) -> list[tuple[int, str, np.ndarray, int]]:
    """Per reason present: ``(k, name, rows drawn, rows in all)``, most common first (so rare
    reasons are drawn on top). Beyond `MAX_UNMATCHED_POINTS` each reason keeps its share,
    at least 200 rows, evenly spaced in dataset order (deterministic)."""
    rows = [np.flatnonzero(reason == k) for k in range(len(REASONS))]
    total = sum(len(r) for r in rows)
    out = []
    for k in sorted(range(len(REASONS)), key=lambda k: -len(rows[k])):
        r = rows[k]
        if len(r) == 0:
            continue
        keep = len(r)
        if total > MAX_UNMATCHED_POINTS:
            keep = min(len(r), max(200, MAX_UNMATCHED_POINTS * len(r) // total))
        out.append((k, REASONS[k], r[np.linspace(0, len(r) - 1, keep).astype(np.int64)], len(r)))
    return out


# --- positives.png -----------------------------------------------------------------------


def positives_figure(result: ScanResult) -> tuple[Figure, str]:
    """Grouped bars of ``counts.per_anchor``: levels on x, one bar per anchor."""
    p = result.problem
    per_anchor = result.counts.per_anchor
    nl, na = per_anchor.shape
    total = int(per_anchor.sum())

    fig = _figure(4.8)
    ax = fig.add_subplot()
    _style(ax, None, "positive rows")
    group = na + 1.2  # gap between levels
    x = np.arange(nl)[:, None] * group + np.arange(na)[None]
    for level, (_, colour, _) in enumerate(_level_styles(p.strides)):
        bars = ax.bar(x[level], per_anchor[level], width=0.85, color=colour, zorder=2)
        labels = [f"{_compact(n)}\n{_share(n, total)}" for n in per_anchor[level].tolist()]
        ax.bar_label(bars, labels, padding=2, fontsize=SMALL_SIZE)
    sizes = [f"{w:g}×{h:g}" for level in p.anchors for w, h in level]
    ax.set_xticks(x.ravel(), sizes, fontsize=SMALL_SIZE + 0.5 if nl * na <= 9 else 7.5)
    ax.tick_params(axis="x", length=0)
    groups = ax.secondary_xaxis(-0.09)
    groups.set_xticks(
        x.mean(1), [f"level {k} (stride {s})" for k, s in enumerate(p.strides)], fontsize=LABEL_SIZE
    )
    groups.tick_params(length=0)
    groups.spines["bottom"].set_visible(False)
    ax.set_ylim(0, max(1, per_anchor.max()) * 1.22)  # room for the labels
    _count_axis(ax.yaxis)
    ax.grid(True, axis="y", color="#e6e6e6", linewidth=0.6, zorder=0)
    if total == 0:
        _message(ax, "no positives" if len(result.targets) else "no targets")

    caption = (
        f"Rows of build_targets' output per level and anchor (anchor size in input pixels), "
        f"summed over the dataset: {total:,} in all. A target matched at a level gets its "
        f"centre cell and up to two neighbour cells there; an anchor with few rows fits few "
        f"of the dataset's boxes."
    )
    return fig, caption


# --- best_ratio.png ----------------------------------------------------------------------


def best_ratio_figure(result: ScanResult) -> tuple[Figure, str]:
    """Histogram of AutoAnchor's best ``min(r, 1/r)`` per target, split at ``1 / anchor_t``."""
    t = result.problem.anchor_t
    threshold = 1 / t
    best = result.best.astype(np.float64)
    miss = int((best <= threshold).sum())  # AutoAnchor keeps best > 1 / anchor_t

    fig = _figure(4.8)
    ax = fig.add_subplot()
    _style(ax, "best min(r, 1/r) over all anchors", "targets")
    low, high = _ratio_edges(threshold)
    # each side binned on its own: a best of exactly 1 / anchor_t is a miss, in the last red bin
    counts = np.concatenate(
        (
            np.histogram(best[best <= threshold], low)[0],
            np.histogram(best[best > threshold], high)[0],
        )
    )
    edges = np.concatenate((low, high[1:]))
    left, widths = edges[:-1], np.diff(edges)
    below = np.arange(len(counts)) < len(low) - 1
    ax.bar(left[below], counts[below], widths[below], align="edge", color=MISS_COLOUR, zorder=2)
    ax.bar(left[~below], counts[~below], widths[~below], align="edge", color=PASS_COLOUR, zorder=2)
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2, zorder=3)
    ax.set_xlim(0, 1)
    if len(best):  # log of an empty histogram warns
        ax.set_yscale("log")  # misses are often a tiny tail
        ax.set_ylim(0.7, counts.max() * 3)
        ax.yaxis.set_major_formatter(_THOUSANDS)
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_ylim(0, 1)
        _count_axis(ax.yaxis)
    ax.grid(True, axis="y", color="#e6e6e6", linewidth=0.6, zorder=0)
    n = len(best)
    if n:
        share = miss / n
        ax.text(
            threshold - 0.01,
            0.96,
            f"1/anchor_t = {threshold:g}\n{miss:,} targets ({share:.2%})\nbelow: AutoAnchor misses",
            transform=ax.get_xaxis_transform(),
            ha="right",
            va="top",
            fontsize=SMALL_SIZE + 0.5,
            color=MISS_COLOUR,
        )
        ax.text(
            threshold + 0.01,
            0.96,
            f"{n - miss:,} targets ({1 - share:.2%})\nabove: best possible recall",
            transform=ax.get_xaxis_transform(),
            ha="left",
            va="top",
            fontsize=SMALL_SIZE + 0.5,
            color=PASS_COLOUR,
        )
    else:
        _message(ax, "no targets")

    caption = (
        f"AutoAnchor's best min(r, 1/r) per target over all anchors of all levels (label sizes "
        f"scaled to the input's long side; 1 is a perfect fit; log-scaled counts). Targets at or "
        f"left of the dashed line 1/anchor_t = {threshold:g} are what AutoAnchor counts as "
        f"misses; the share right of it is its best possible recall."
    )
    return fig, caption


def _ratio_edges(threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges about `RATIO_BIN` apart over [0, threshold] and over [threshold, 1]."""
    below = max(1, round(threshold / RATIO_BIN))
    above = max(1, round((1 - threshold) / RATIO_BIN))
    return np.linspace(0, threshold, below + 1), np.linspace(threshold, 1, above + 1)


# --- unmatched.png -----------------------------------------------------------------------


def unmatched_figure(result: ScanResult) -> tuple[Figure, str]:
    """Two panels: unmatched targets per reason (all of `REASONS`), and per class for the
    `TOP_CLASSES` classes with most, with each class's unmatched share."""
    names = result.dataset.class_names
    n = len(result.reason)
    unmatched = result.unmatched
    per_reason = np.bincount(result.reason[unmatched], minlength=len(REASONS))
    cls = result.cls
    per_class = np.bincount(cls, minlength=len(names))
    lost_per_class = np.bincount(cls[unmatched], minlength=len(names))
    lost = int(unmatched.sum())

    fig = _figure(5.4)
    left, right = fig.subplots(1, 2, width_ratios=(1, 2.2))
    _style(left, None, "unmatched targets")
    left.set_title("by reason", fontsize=LABEL_SIZE)
    bars = left.bar(
        range(len(REASONS)),
        per_reason,
        width=0.7,
        color=[REASON_COLOURS[r] for r in REASONS],
        zorder=2,
    )
    left.bar_label(
        bars,
        [f"{c:,}\n{_share(c, n)}" if n else "0" for c in per_reason.tolist()],
        padding=2,
        fontsize=SMALL_SIZE,
    )
    left.set_xticks(range(len(REASONS)), REASONS, fontsize=TICK_SIZE)
    left.set_ylim(0, max(1, per_reason.max()) * 1.25)
    _count_axis(left.yaxis)
    left.grid(True, axis="y", color="#e6e6e6", linewidth=0.6, zorder=0)

    classes = np.flatnonzero(lost_per_class)
    order = classes[np.argsort(-lost_per_class[classes], kind="stable")][:TOP_CLASSES]
    if len(order):
        shown = f"top {len(order)} of {len(classes)}" if len(classes) > len(order) else "all"
        right.set_title(f"by class ({shown} classes with unmatched targets)", fontsize=LABEL_SIZE)
        y = np.arange(len(order))
        right.barh(y, lost_per_class[order], height=0.7, color=MISS_COLOUR, zorder=2)
        right.set_yticks(y, [_short(names[c]) for c in order.tolist()], fontsize=TICK_SIZE)
        right.invert_yaxis()
        for row, c in zip(y.tolist(), order.tolist()):
            u, k = int(lost_per_class[c]), int(per_class[c])
            right.text(
                u,
                row,
                f"  {u:,} of {k:,} ({u / k:.1%})",
                va="center",
                fontsize=SMALL_SIZE,
            )
        right.set_xlim(0, lost_per_class[order].max() * 1.45)  # room for the labels
        _count_axis(right.xaxis)
        right.grid(True, axis="x", color="#e6e6e6", linewidth=0.6, zorder=0)
        _style(right, "unmatched targets", None)
    else:
        right.set_title("by class", fontsize=LABEL_SIZE)
        right.set_axis_off()
        _message(right, "no unmatched targets" if n else "no targets", size=16)

    if n == 0:
        caption = "The scan has no targets: nothing can be unmatched."
    elif lost == 0:
        caption = "No unmatched targets: every target passes the ratio test for some anchor."
    else:
        caption = (
            f"{lost:,} of {n:,} targets ({_share(lost, n)}) get no positive. Left: why, with the "
            f"share of all targets (every anchor's ratio test fails because the target is too "
            f"small, too large, or of the wrong aspect); right: the classes with most unmatched "
            f"targets, with the share of each class's targets left unmatched."
        )
    return fig, caption


def _share(part: int, whole: int) -> str:
    """A percentage that never rounds a non-zero part to 0.00 %."""
    if whole == 0:
        return "–"
    if 0 < part / whole < 1e-4:
        return "<0.01%"
    return f"{part / whole:.2%}"


def _short(name: str, limit: int = 22) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


# --- shared ------------------------------------------------------------------------------

_FIGURES: tuple[tuple[str, str, Callable[[ScanResult], tuple[Figure, str]]], ...] = (
    ("wh.png", "Target sizes vs anchors", wh_figure),
    ("positives.png", "Positives per level and anchor", positives_figure),
    ("best_ratio.png", "AutoAnchor best ratio per target", best_ratio_figure),
    ("unmatched.png", "Unmatched targets by reason and class", unmatched_figure),
)


def _figure(height_in: float) -> Figure:
    """A `WIDTH_IN`-wide figure on an Agg canvas, laid out by constrained layout."""
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Axes, xlabel: str | None, ylabel: str | None) -> None:
    """Shared axis look: label sizes, light spines."""
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _level_styles(strides: tuple[int, ...]) -> list[tuple[int, str, str]]:
    """Per level: ``(stride, colour, marker)``, cycling past the palette's length."""
    return [
        (s, LEVEL_COLOURS[k % len(LEVEL_COLOURS)], LEVEL_MARKERS[k % len(LEVEL_MARKERS)])
        for k, s in enumerate(strides)
    ]


def _point(colour: str, label: str) -> Line2D:
    return Line2D([], [], color=colour, marker="s", linestyle="", markersize=6, label=label)


def _message(ax: Axes, text: str, size: float = 14, at: tuple[float, float] = (0.5, 0.5)) -> None:
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


_THOUSANDS = FuncFormatter(lambda value, _pos: f"{value:,.0f}")


def _count_axis(axis: XAxis | YAxis) -> None:
    """Integer ticks with thousands separators."""
    axis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    axis.set_major_formatter(_THOUSANDS)


def _compact(n: int) -> str:
    """``9,999``, ``123.4k``, ``1.27M``: short enough for a label above a narrow bar."""
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1e3:.1f}k"
    return f"{n / 1e6:.2f}M"
