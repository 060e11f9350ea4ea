"""``positives.png``, ``best_ratio.png``, ``unmatched.png``: the scan's counts as bars."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from ...scan.reasons import REASONS
from ...scan.run import ScanResult
from .style import (
    LABEL_SIZE,
    MISS_COLOUR,
    PASS_COLOUR,
    RATIO_BIN,
    REASON_COLOURS,
    SMALL_SIZE,
    THOUSANDS,
    TICK_SIZE,
    TOP_CLASSES,
    compact,
    count_axis,
    level_styles,
    message,
    new_figure,
    style_axes,
)


def positives_figure(result: ScanResult) -> tuple[Figure, str]:
    """Grouped bars of ``counts.per_anchor``: levels on x, one bar per anchor."""
    p = result.problem
    per_anchor = result.counts.per_anchor
    nl, na = per_anchor.shape
    total = int(per_anchor.sum())

    fig = new_figure(4.8)
    ax = fig.add_subplot()
    style_axes(ax, None, "positive rows")
    group = na + 1.2  # gap between levels
    x = np.arange(nl)[:, None] * group + np.arange(na)[None]
    for level, (_, colour, _) in enumerate(level_styles(p.strides)):
        bars = ax.bar(x[level], per_anchor[level], width=0.85, color=colour, zorder=2)
        labels = [f"{compact(n)}\n{_share(n, total)}" for n in per_anchor[level].tolist()]
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
    count_axis(ax.yaxis)
    ax.grid(True, axis="y", color="#e6e6e6", linewidth=0.6, zorder=0)
    if total == 0:
        message(ax, "no positives" if len(result.targets) else "no targets")

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

    fig = new_figure(4.8)
    ax = fig.add_subplot()
    style_axes(ax, "best min(r, 1/r) over all anchors", "targets")
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
        ax.yaxis.set_major_formatter(THOUSANDS)
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_ylim(0, 1)
        count_axis(ax.yaxis)
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
        message(ax, "no targets")

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

    fig = new_figure(5.4)
    left, right = fig.subplots(1, 2, width_ratios=(1, 2.2))
    style_axes(left, None, "unmatched targets")
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
    count_axis(left.yaxis)
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
        count_axis(right.xaxis)
        right.grid(True, axis="x", color="#e6e6e6", linewidth=0.6, zorder=0)
        style_axes(right, "unmatched targets", None)
    else:
        right.set_title("by class", fontsize=LABEL_SIZE)
        right.set_axis_off()
        message(right, "no unmatched targets" if n else "no targets", size=16)

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
