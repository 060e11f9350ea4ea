"""``wh.png``: target sizes against every anchor and its ``anchor_t`` band -- the picture
that explains why a target is unmatched.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import NullFormatter

from ...scan.reasons import REASONS
from ...scan.run import ScanResult
from .style import (
    DENSITY,
    DPI,
    MATCHED_COLOUR,
    MAX_UNMATCHED_POINTS,
    NOTE_COLOUR,
    REASON_COLOURS,
    SMALL_SIZE,
    THOUSANDS,
    WH_BINS,
    WIDTH_IN,
    legend_point,
    level_styles,
    message,
    style_axes,
)

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
    style_axes(ax, "target width at the input (px)", "target height at the input (px)")
    ax.grid(True, which="major", color="#dddddd", linewidth=0.6, zorder=0)

    handles: list[Patch | Line2D] = []
    if matched.any():
        edges = np.geomspace(lo, hi, WH_BINS + 1)
        density, _, _ = np.histogram2d(wh[matched, 0], wh[matched, 1], bins=(edges, edges))
        mesh = ax.pcolormesh(
            edges,
            edges,
            np.ma.masked_equal(density.T, 0),
            cmap=DENSITY,
            norm=LogNorm(1, max(2.0, density.max())),
            zorder=1,
            rasterized=True,
        )
        bar = fig.colorbar(mesh, cax=fig.add_axes((705 / 960, 60 / 700, 16 / 960, 300 / 700)))
        bar.set_label("matched targets per bin", fontsize=SMALL_SIZE + 0.5)
        bar.ax.tick_params(labelsize=SMALL_SIZE)
        bar.ax.yaxis.set_major_formatter(THOUSANDS)
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
        handles.append(legend_point(REASON_COLOURS[name], f"{name}: {total:,}{drawn}"))

    for level, (stride, colour, marker) in enumerate(level_styles(p.strides)):
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
        message(ax, "no targets", at=(0.75, 0.1))  # the lower right: away from the anchors
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
