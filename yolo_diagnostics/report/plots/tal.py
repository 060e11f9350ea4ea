"""The TAL scan's figures: where targets lose their candidates, as PNG files.

- ``tal_wh.png`` (`tal_wh_figure`): target (w, h) at the input on log axes, each target a
  point coloured by its number of candidates (beyond `MAX_UNMATCHED_POINTS` targets, bins
  coloured by their median, and the targets without a candidate as red points), the floor's
  lines, and the bounds of the candidate count for a box of that size (below);
- ``tal_candidates.png``, ``tal_classes.png``: `tal_counts`.

An open interval of length ``L`` holds ``ceil(L / s) - 1`` or ``ceil(L / s)`` points of a
lattice of spacing ``s``; so a box whose tested sides are ``w`` and ``h`` has, away from the
input's border, between ``sum_l (ceil(w / s_l) - 1)(ceil(h / s_l) - 1)`` and
``sum_l ceil(w / s_l) ceil(h / s_l)`` candidates, wherever it lies. The w-h figure draws
where the upper bound is below ``topk`` (below topk wherever it lies) and where the lower
bound is 0: a side at most ``strides[0]``, which can fall in a gap between the anchor
coordinates of every level (with strides 8, 16, 32, say, none lies strictly between 28 and 36).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ...scan.tal import TalScanResult
from . import Plot
from .style import (
    DPI,
    LABEL_SIZE,
    MAX_UNMATCHED_POINTS,
    MISS_COLOUR,
    NOTE_COLOUR,
    SMALL_SIZE,
    TITLE_SIZE,
    WH_BINS,
    WIDTH_IN,
    message,
    save,
    style_axes,
)
from .tal_counts import tal_candidates_figure, tal_classes_figure

SHADES = ("#e6194b", "#f58231", "#e6b800", "#9ecae1", "#4292c6", "#08519c")


def tal_scan_plots(result: TalScanResult, folder: Path) -> list[Plot]:
    """Draw the TAL scan's figures into ``folder`` (created if needed), in report order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plots = []
    for file, title, build in (
        ("tal_wh.png", "Target sizes and their candidates", tal_wh_figure),
        ("tal_candidates.png", "Candidates per target and per level", tal_candidates_figure),
        (
            "tal_classes.png",
            "Targets without a candidate or below topk, by class",
            tal_classes_figure,
        ),
    ):
        fig, caption = build(result)
        fig.suptitle(title, fontsize=TITLE_SIZE, fontweight="bold")
        save(fig, folder / file)
        plots.append(Plot(file, title, caption))
    return plots


# --- tal_wh.png ----------------------------------------------------------------------------


def shade_bounds(topk: int) -> list[int]:
    """Boundaries of the w-h figure's shades: 0 | 1 .. | ceil(k/2) .. | k .. | 2k .. | 10k .."""
    return sorted({0, 1, math.ceil(topk / 2), topk, 2 * topk, 10 * topk})


def count_bounds(w: np.ndarray, h: np.ndarray, strides: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The fewest and most candidates a box of tested sides ``w``, ``h`` can have away from
    the input's border, wherever it lies (see the module docstring)."""
    low = np.zeros(np.broadcast(w, h).shape)
    high = np.zeros_like(low)
    for s in strides:
        cw, ch = np.ceil(w / s), np.ceil(h / s)
        low += (cw - 1) * (ch - 1)
        high += cw * ch
    return low, high


def tal_wh_figure(result: TalScanResult) -> tuple[Figure, str]:
    """One panel with the preset's floor and, when it has one, one without it. Up to
    `MAX_UNMATCHED_POINTS` targets are drawn one by one, coloured by their candidates; more
    are binned, each bin coloured by its median."""
    p = result.problem
    wh = (result.boxes[:, 2:] - result.boxes[:, :2]).astype(np.float64)
    sides = wh[(wh > 0).all(1)]
    lo = min(1.0, sides.min() if len(sides) else 1.0) / 1.25
    hi = max(64.0, sides.max() if len(sides) else 64.0) * 1.25
    panels = [("with the floor", result.total, True)] if p.stal else []
    panels.append(
        ("without the floor" if p.stal else "no floor", result.total_without_floor, False)
    )
    two = len(panels) == 2
    fig = Figure(figsize=(WIDTH_IN, 6.8 if two else 5.6), dpi=DPI)
    FigureCanvasAgg(fig)
    h_px = 680 if two else 560
    places = ((70, 175, 390), (545, 175, 390)) if two else ((70, 70, 420),)
    bounds = shade_bounds(p.topk)
    colours = list(SHADES[: len(bounds)])
    cmap, norm = ListedColormap(colours), BoundaryNorm([*bounds, 2**31], len(colours))
    one_by_one = len(wh) <= MAX_UNMATCHED_POINTS
    edges = np.geomspace(lo, hi, WH_BINS + 1)
    for (x, y, side), (name, total, floored) in zip(places, panels):
        ax = fig.add_axes((x / 960, y / h_px, side / 960, side / h_px))
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), aspect="equal")
        style_axes(ax, "target width at the input (px)", "target height (px)")
        ax.set_title(name, fontsize=LABEL_SIZE)
        ax.grid(True, which="major", color="#dddddd", linewidth=0.6, zorder=0)
        if one_by_one:
            order = np.argsort(-total, kind="stable")  # fewest candidates drawn on top
            ax.scatter(
                *wh[order].T,
                s=16,
                c=total[order],
                cmap=cmap,
                norm=norm,
                marker="o",
                linewidths=0.3,
                edgecolors="white",
                zorder=2,
            )
        else:
            median = _binned_median(wh, total, edges)
            ax.pcolormesh(edges, edges, median.T, cmap=cmap, norm=norm, zorder=1, rasterized=True)
            zero = np.flatnonzero(total == 0)
            if len(zero) > MAX_UNMATCHED_POINTS:
                zero = zero[np.linspace(0, len(zero) - 1, MAX_UNMATCHED_POINTS).astype(np.int64)]
            ax.scatter(
                *wh[zero].T,
                s=7,
                marker="s",
                c=MISS_COLOUR,
                linewidths=0,
                antialiased=False,
                zorder=4,
                rasterized=True,
            )
        _bounds(ax, p, lo, hi, floored)
        if len(wh) == 0:
            message(ax, "no targets")
    what = "a target with" if one_by_one else "median"
    labels = [_shade_label(bounds, i) for i in range(len(bounds))]
    handles: list[Patch | Line2D] = [
        Patch(color=c, label=f"{what} {t} candidates") for c, t in zip(colours, labels)
    ]
    if not one_by_one:
        handles.append(
            Line2D(
                [],
                [],
                color=MISS_COLOUR,
                marker="s",
                linestyle="",
                markersize=5,
                label="a target without a candidate",
            )
        )
    handles += [
        Line2D(
            [],
            [],
            color="black",
            linewidth=1.4,
            label=f"under the solid line: below topk = {p.topk} wherever the box lies",
        ),
        Line2D(
            [],
            [],
            color="black",
            linewidth=1.1,
            linestyle=(0, (1, 2)),
            label=f"a side at most stride {p.strides[0]}: may fall between every level's points",
        ),
    ]
    if p.stal:
        handles.append(
            Line2D(
                [],
                [],
                color=NOTE_COLOUR,
                linewidth=1.2,
                linestyle="--",
                label=f"floor: sides under {p.stal_below:g} px tested as {p.stal_side:g} px",
            )
        )
    where = (
        {"loc": "lower center", "bbox_to_anchor": (0.5, 0.01), "ncols": 2}
        if two
        else {"loc": "upper left", "bbox_to_anchor": (510 / 960, 490 / 560), "ncols": 1}
    )
    fig.legend(handles=handles, fontsize=SMALL_SIZE + 0.5, frameon=False, **where)
    shading = (
        "Each target is a point at its size, coloured by its number of candidates"
        if one_by_one
        else "Each bin of target sizes is coloured by the median number of candidates of its "
        "targets; red squares are targets without any"
    )
    caption = (
        f"{shading} (input pixels, log axes; a candidate is an anchor point of any level strictly "
        f"inside the box the test uses). Under the solid line a box holds fewer than topk = "
        f"{p.topk} candidates wherever it lies (away from the border): it takes all of them into "
        f"its top-k whatever the model predicts. A box with a side at most stride "
        f"{p.strides[0]} (dotted) can fall between the anchor points of every level"
        + (
            f"; the small-box floor tests sides under {p.stal_below:g} px as {p.stal_side:g} px, "
            "which is what the left panel buys over the right."
            if p.stal
            else "."
        )
    )
    return fig, caption


def _binned_median(wh: np.ndarray, total: np.ndarray, edges: np.ndarray) -> np.ma.MaskedArray:
    """``[bins, bins]`` median candidates per target of each (w, h) bin; empty bins masked."""
    n = len(edges) - 1
    out = np.full((n, n), np.nan)
    if len(wh):
        ix = np.clip(np.searchsorted(edges, wh[:, 0], side="right") - 1, 0, n - 1)
        iy = np.clip(np.searchsorted(edges, wh[:, 1], side="right") - 1, 0, n - 1)
        key = ix * n + iy
        order = np.lexsort((total, key))
        keys, start, count = np.unique(key[order], return_index=True, return_counts=True)
        out.flat[keys] = total[order][start + count // 2]
    return np.ma.masked_invalid(out)


def _bounds(ax, p, lo: float, hi: float, floored: bool) -> None:
    """The exact bound lines: below topk wherever it lies; may have none; the floor."""
    grid = np.geomspace(lo, hi, 600)
    w, h = np.meshgrid(grid, grid)
    tested_w, tested_h = w, h
    if floored:
        tested_w = np.where(w < p.stal_below, p.stal_side, w)
        tested_h = np.where(h < p.stal_below, p.stal_side, h)
    low, high = count_bounds(tested_w, tested_h, p.strides)
    ax.contour(grid, grid, high, levels=[p.topk - 0.5], colors="black", linewidths=1.4, zorder=3)
    if (low == 0).any():
        ax.contour(
            grid,
            grid,
            low,
            levels=[0.5],
            colors="black",
            linewidths=1.1,
            linestyles=[(0, (1, 2))],
            zorder=3,
        )
    if floored:
        kw = {"color": NOTE_COLOUR, "linestyle": "--", "linewidth": 1.2, "zorder": 3}
        ax.axvline(p.stal_below, **kw)
        ax.axhline(p.stal_below, **kw)


def _shade_label(bounds: list[int], i: int) -> str:
    if i + 1 < len(bounds):
        a, b = bounds[i], bounds[i + 1] - 1
        return str(a) if a == b else f"{a}–{b}"
    return f"≥ {bounds[i]}"
