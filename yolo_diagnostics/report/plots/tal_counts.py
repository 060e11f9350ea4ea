"""``tal_candidates.png`` and ``tal_classes.png``: a TAL scan's counts as bars.

- `tal_candidates_figure`: targets per number of candidates (the summary's histogram buckets)
  and targets with a candidate per level, with and without the small-box floor;
- `tal_classes_figure`: per class, targets without a candidate and below ``topk``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ...scan.tal import TalScanResult, below_topk
from ...scan.tal_summary import EXACT_BUCKETS, bucket
from .style import (
    MISS_COLOUR,
    NOTE_COLOUR,
    PASS_COLOUR,
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

BELOW_COLOUR = "#f58231"  # below topk: orange, between the miss red and the pass blue


# --- tal_candidates.png -----------------------------------------------------------------------


def tal_candidates_figure(result: TalScanResult) -> tuple[Figure, str]:
    """Left: targets per candidates-per-target bucket, with the floor (bars coloured by fate)
    and without it (outlines); right: targets with a candidate per level."""
    p = result.problem
    fig = new_figure(5.0)
    left, right = fig.subplots(1, 2, width_ratios=(2.3, 1))
    with_floor, bare = result.total, result.total_without_floor
    names = _buckets(np.concatenate((with_floor, bare)))
    x = np.arange(len(names))
    shown = [("with the floor", with_floor)] if p.stal else []
    shown.append(("without the floor" if p.stal else "no floor", bare))
    width = 0.8 / len(shown)
    for k, (label, total) in enumerate(shown):
        counts = _bucket_counts(total, names)
        fate = [_fate_colour(n, p.topk) for n in names]
        offset = (k - (len(shown) - 1) / 2) * width
        filled = k == 0
        left.bar(
            x + offset,
            counts,
            width,
            color=fate if filled else "none",
            edgecolor=fate,
            linewidth=0 if filled else 1.2,
            hatch=None if filled else "////",
            label=label,
            zorder=2,
        )
    style_axes(left, "candidates per target (over all levels)", "targets")
    step = max(1, len(names) // 24)
    left.set_xticks(x[::step], names[::step], rotation=90, fontsize=SMALL_SIZE)
    topk_at = _topk_position(names, p.topk)
    left.axvline(topk_at, color="black", linestyle="--", linewidth=1.1, zorder=3)
    left.text(
        topk_at,
        0.97,
        f" topk = {p.topk}",
        transform=left.get_xaxis_transform(),
        fontsize=SMALL_SIZE + 0.5,
        va="top",
    )
    if len(with_floor):
        left.set_yscale("log")
        left.set_ylim(0.7, len(with_floor) * 2.5)  # a bar of 1 target still shows
        left.yaxis.set_major_formatter(THOUSANDS)
    else:
        message(left, "no targets")
    left.grid(True, axis="y", color="#e6e6e6", linewidth=0.6, zorder=0)
    handles = [
        Patch(color=MISS_COLOUR, label="none"),
        Patch(color=BELOW_COLOUR, label=f"1 to {p.topk - 1}: below topk"),
        Patch(color=PASS_COLOUR, label="topk or more"),
    ]
    if p.stal:
        handles.append(
            Patch(facecolor="none", edgecolor=NOTE_COLOUR, hatch="////", label="without the floor")
        )
    left.legend(handles=handles, fontsize=SMALL_SIZE, frameon=False, loc="upper right")

    levels = np.arange(len(p.strides))
    per_level = [(result.per_level > 0).sum(0)] + (
        [(result.per_level_without_floor > 0).sum(0)] if p.stal else []
    )
    bar_w = 0.8 / len(per_level)
    for k, counts in enumerate(per_level):
        colours = [c for _, c, _ in level_styles(p.strides)]
        bars = right.bar(
            levels + (k - (len(per_level) - 1) / 2) * bar_w,
            counts,
            bar_w,
            color=colours if k == 0 else "none",
            edgecolor=colours,
            hatch=None if k == 0 else "////",
            linewidth=0 if k == 0 else 1.2,
            zorder=2,
        )
        right.bar_label(bars, [compact(int(n)) for n in counts], padding=2, fontsize=SMALL_SIZE)
    right.set_xticks(
        levels, [f"level {k}\nstride {s}" for k, s in enumerate(p.strides)], fontsize=TICK_SIZE
    )
    style_axes(right, None, "targets with a candidate there")
    right.set_ylim(0, max(1, len(with_floor)) * 1.15)
    count_axis(right.yaxis)
    right.grid(True, axis="y", color="#e6e6e6", linewidth=0.6, zorder=0)
    zero, below = int((with_floor == 0).sum()), int(below_topk(with_floor, p.topk).sum())
    caption = (
        f"Left: how many targets have each number of candidates over all levels (exact counts "
        f"up to {EXACT_BUCKETS - 1}, then power-of-two buckets; log scale): red none "
        f"({zero:,}), orange fewer than topk = {p.topk} ({below:,}), blue topk or more"
        + (
            f"; hatched outlines without the small-box floor ({int((bare == 0).sum()):,} none, "
            f"{int(below_topk(bare, p.topk).sum()):,} below topk)."
            if p.stal
            else "."
        )
        + " Right: targets with at least one candidate on each level"
        + (" (hatched: without the floor)." if p.stal else ".")
    )
    return fig, caption


def _buckets(total: np.ndarray) -> list[str]:
    """The bucket names from 0 to the largest count present, in order (a bar for each exact
    count up to the largest below `EXACT_BUCKETS`, then each power-of-two bucket)."""
    top = int(total.max()) if len(total) else 0
    names = [str(n) for n in range(min(top, EXACT_BUCKETS - 1) + 1)]
    low = EXACT_BUCKETS
    while low <= top:
        names.append(bucket(low))
        low *= 2
    return names


def _bucket_counts(total: np.ndarray, names: list[str]) -> np.ndarray:
    index = {name: k for k, name in enumerate(names)}
    values, counts = np.unique(total, return_counts=True)
    out = np.zeros(len(names), np.int64)
    for v, c in zip(values.tolist(), counts.tolist()):
        out[index[bucket(v)]] += c
    return out


def _fate_colour(name: str, topk: int) -> str:
    low = int(name.split("-")[0])
    return MISS_COLOUR if low == 0 else BELOW_COLOUR if low < topk else PASS_COLOUR


def _topk_position(names: list[str], topk: int) -> float:
    """The x of the boundary before the bar of ``topk`` (or after the last bar)."""
    for k, name in enumerate(names):
        if int(name.split("-")[0]) >= topk:
            return k - 0.5
    return len(names) - 0.5


# --- tal_classes.png ----------------------------------------------------------------------


def tal_classes_figure(result: TalScanResult) -> tuple[Figure, str]:
    """Per class (the `TOP_CLASSES` with most targets without a candidate or below topk):
    those two counts as stacked bars, with the class's share."""
    p = result.problem
    names = result.dataset.class_names
    cls = result.cls
    n = len(names)
    targets = np.bincount(cls, minlength=n)
    zero = np.bincount(cls[result.total == 0], minlength=n)
    below = np.bincount(cls[below_topk(result.total, p.topk)], minlength=n)
    lost = zero + below
    classes = np.flatnonzero(lost)
    order = classes[np.argsort(-lost[classes], kind="stable")][:TOP_CLASSES]
    fig = new_figure(max(3.2, 1.4 + 0.32 * len(order)))
    ax = fig.add_subplot()
    if len(order):
        y = np.arange(len(order))
        ax.barh(
            y, zero[order], height=0.7, color=MISS_COLOUR, label="without a candidate", zorder=2
        )
        ax.barh(
            y,
            below[order],
            left=zero[order],
            height=0.7,
            color=BELOW_COLOUR,
            label=f"below topk = {p.topk}",
            zorder=2,
        )
        ax.set_yticks(y, [_short(names[c]) for c in order.tolist()], fontsize=TICK_SIZE)
        ax.set_ylim(max(len(order), 4) - 0.5, -0.5)  # top down; a lone class stays a bar
        for row, c in zip(y.tolist(), order.tolist()):
            z, b, t = int(zero[c]), int(below[c]), int(targets[c])
            ax.text(
                z + b,
                row,
                f"  {z:,} none + {b:,} below topk, of {t:,} targets ({(z + b) / t:.1%})",
                va="center",
                fontsize=SMALL_SIZE,
            )
        ax.set_xlim(0, lost[order].max() * 1.6)
        count_axis(ax.xaxis)
        ax.grid(True, axis="x", color="#e6e6e6", linewidth=0.6, zorder=0)
        style_axes(ax, "targets", None)
        ax.legend(fontsize=SMALL_SIZE, frameon=False, loc="lower right")
        shown = f"the {len(order)} of {len(classes)}" if len(classes) > len(order) else "every"
        caption = (
            f"{shown} class{'es' if len(order) > 1 else ''} with targets that have no candidate "
            f"(red) or fewer than topk = {p.topk} (orange), most first, with the share of the "
            f"class's targets (with the preset's floor)."
        )
        caption = caption[0].upper() + caption[1:]
    else:
        ax.set_axis_off()
        message(
            ax, "every target has topk candidates or more" if len(cls) else "no targets", size=14
        )
        caption = "No class has a target without a candidate or below topk."
    return fig, caption


def _short(name: str, limit: int = 22) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
