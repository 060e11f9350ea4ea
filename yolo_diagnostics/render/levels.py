"""One pyramid level's panel of the assignment figure: its grid, cells, anchors and diff.

Rows come as a `Table` (numpy columns of an `Assignment`). Cells are filled with numpy
masks, so their cost does not grow with the number of rows; anchors and check-id labels
are drawn one OpenCV primitive each, capped by `MAX_ROWS` and `MAX_LABELS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..assignment import Assignment
from ..problem import Problem
from .panels import (
    Patterns,
    cell_mask,
    draw_grid,
    fill_centre,
    fill_extra,
    fill_missing,
    fill_neighbour,
    fill_violation,
)
from .style import ANCHOR, ANCHOR_ALPHA, EXTRA, FONT, LABEL_SCALE, MISSING, VIOLATION, label

MAX_ROWS = 3000  # rows drawn per panel; red rows first, the title says when some were left out
MAX_LABELS = 60  # check-id labels per panel


@dataclass(frozen=True)
class Table:
    """An `Assignment` as numpy columns (int64 ids, float64 tbox/anch) plus row numbers."""

    row: np.ndarray  # index into the original table
    level: np.ndarray
    image: np.ndarray
    anchor: np.ndarray
    gj: np.ndarray
    gi: np.ndarray
    tbox: np.ndarray  # [n, 4]
    anch: np.ndarray  # [n, 2]
    offset: np.ndarray

    @classmethod
    def of(cls, a: Assignment) -> Table:
        def ints(x: torch.Tensor) -> np.ndarray:
            return x.detach().cpu().to(torch.int64).numpy().reshape(-1)

        def floats(x: torch.Tensor, width: int) -> np.ndarray:
            return x.detach().cpu().to(torch.float64).numpy().reshape(-1, width)

        return cls(
            row=np.arange(len(a), dtype=np.int64),
            level=ints(a.level),
            image=ints(a.image),
            anchor=ints(a.anchor),
            gj=ints(a.gj),
            gi=ints(a.gi),
            tbox=floats(a.tbox, 4),
            anch=floats(a.anch, 2),
            offset=ints(a.offset),
        )

    @classmethod
    def empty(cls) -> Table:
        i = np.zeros(0, np.int64)
        return cls(i, i, i, i, i, i, np.zeros((0, 4)), np.zeros((0, 2)), i)

    def __len__(self) -> int:
        return len(self.row)

    def __getitem__(self, index: np.ndarray) -> Table:
        return Table(**{k: v[index] for k, v in vars(self).items()})


def _is_centre(t: Table, ny: int, nx: int) -> np.ndarray:
    """Centre rows: ``offset == 0`` where known, else the cell holding ``gij + tbox_xy``."""
    with np.errstate(invalid="ignore"):
        cx = np.clip(np.floor(t.gi + t.tbox[:, 0]), 0, nx - 1)
        cy = np.clip(np.floor(t.gj + t.tbox[:, 1]), 0, ny - 1)
        geometric = (cx == t.gi) & (cy == t.gj)
    return np.where(t.offset >= 0, t.offset == 0, geometric)


def draw_level(
    img: np.ndarray,
    problem: Problem,
    level: int,
    anchor: int | None,
    rows: Table,
    red: dict[int, set[str]],
    extra: Table | None,
    missing: Table | None,
    p: Patterns,
    k: int,
) -> list[str]:
    """Grid, cells, anchors and diff of one level (one anchor) into ``img``, drawn zoomed
    ``k`` times; the title (in network pixels)."""
    px = problem.strides[level] * k  # a cell's side in the drawing
    ny, nx = problem.feature_shapes[level]

    inside = (rows.gi >= 0) & (rows.gi < nx) & (rows.gj >= 0) & (rows.gj < ny)
    finite = np.isfinite(rows.tbox).all(1) & np.isfinite(rows.anch).all(1)
    named = np.isin(rows.row, np.fromiter(red, np.int64, len(red)))
    is_red = named | ~inside | ~finite

    total = len(rows)
    order = np.concatenate((np.flatnonzero(is_red), np.flatnonzero(~is_red)))[:MAX_ROWS]
    order.sort()  # red rows first into the cap, then back in table order
    rows, is_red, inside, finite = (x[order] for x in (rows, is_red, inside, finite))
    checks = [
        red.get(r, set()) | ({"bounds"} if not i else set()) | ({"nan"} if not f else set())
        for r, i, f in zip(rows.row[is_red].tolist(), inside[is_red], finite[is_red])
    ]
    gi, gj = np.clip(rows.gi, 0, nx - 1), np.clip(rows.gj, 0, ny - 1)
    centre = _is_centre(rows, ny, nx)

    draw_grid(img, px)
    centre_cells = cell_mask(gi[centre], gj[centre], ny, nx, px)
    neighbour_cells = cell_mask(gi[~centre], gj[~centre], ny, nx, px) & ~centre_cells
    fill_centre(img, centre_cells, p, px)
    fill_neighbour(img, neighbour_cells, p, px)
    _draw_anchors(img, gi[finite], gj[finite], rows.anch[finite], px)
    if extra is not None and missing is not None:
        _draw_diff(img, extra, missing, ny, nx, px, p)
    fill_violation(img, cell_mask(gi[is_red], gj[is_red], ny, nx, px), p, px)
    _draw_check_labels(img, gi[is_red], gj[is_red], checks, px)

    anchors = problem.anchors[level]
    shown = anchors if anchor is None else (anchors[anchor],)
    sizes = " ".join(f"({w:g},{h:g})" for w, h in shown)
    head = f"level {level}" + ("" if anchor is None else f"  anchor {anchor}")
    line1 = f"{head}   stride {problem.strides[level]}   grid {ny} x {nx}   anchors {sizes} px"
    n_centre = int(centre.sum())
    line2 = (
        f"{total} rows: {n_centre} centre, {len(rows) - n_centre} neighbour"
        if total
        else "no positives"
    )
    if is_red.any():
        line2 += f"   {int(is_red.sum())} red"
    if extra is not None and missing is not None:
        line2 += f"   diff: {len(extra)} extra, {len(missing)} missing"
    if len(rows) < total:
        line2 += f"   (first {len(rows)} of {total} rows drawn)"
    return [line1, line2]


def _draw_anchors(
    img: np.ndarray, gi: np.ndarray, gj: np.ndarray, anch: np.ndarray, stride: int
) -> None:
    """One outline per distinct (cell, anchor size in pixels), centred on the cell centre."""
    if not len(gi):
        return
    h, w = img.shape[:2]
    limit = 4 * max(h, w)  # keeps absurd anchors inside OpenCV's int coordinates
    size = np.clip(np.rint(anch * stride * 16), 1, limit * 16).astype(np.int64)  # 1/16 px
    boxes = np.unique(np.column_stack((gi, gj, size)), axis=0)
    layer = img.copy()
    for ci, cj, aw, ah in boxes.tolist():
        cx, cy = (2 * ci + 1) * stride * 8, (2 * cj + 1) * stride * 8
        p0 = (cx - aw // 2, cy - ah // 2)
        p1 = (cx + aw // 2, cy + ah // 2)
        cv2.rectangle(layer, p0, p1, ANCHOR, 1, cv2.LINE_AA, shift=4)
    cv2.addWeighted(layer, ANCHOR_ALPHA, img, 1 - ANCHOR_ALPHA, 0, dst=img)


def _draw_diff(
    img: np.ndarray,
    extra: Table,
    missing: Table,
    ny: int,
    nx: int,
    stride: int,
    p: Patterns,
) -> None:
    """Extra rows: magenta cross-hatch and "+"; missing rows: cyan dashed outline and "-"."""
    for table, fill, colour, plus in (
        (extra, fill_extra, EXTRA, True),
        (missing, fill_missing, MISSING, False),
    ):
        gi, gj = np.clip(table.gi, 0, nx - 1), np.clip(table.gj, 0, ny - 1)
        fill(img, cell_mask(gi, gj, ny, nx, stride), p, stride)
        cells = np.unique(np.column_stack((gi, gj)), axis=0)[:MAX_ROWS]
        arm = max(2, stride * 3 // 10)
        for ci, cj in cells.tolist():
            cx, cy = ci * stride + stride // 2, cj * stride + stride // 2
            cv2.line(img, (cx - arm, cy), (cx + arm, cy), colour, 2, cv2.LINE_AA)
            if plus:
                cv2.line(img, (cx, cy - arm), (cx, cy + arm), colour, 2, cv2.LINE_AA)


def _draw_check_labels(
    img: np.ndarray, gi: np.ndarray, gj: np.ndarray, checks: list[set[str]], stride: int
) -> None:
    """The check ids of each red cell, right of the cell (left of it at the right edge)."""
    by_cell: dict[tuple[int, int], set[str]] = {}
    for ci, cj, c in zip(gi.tolist(), gj.tolist(), checks):
        by_cell.setdefault((ci, cj), set()).update(c)
    for (ci, cj), c in sorted(by_cell.items())[:MAX_LABELS]:
        text = ",".join(sorted(c))
        width = cv2.getTextSize(text, FONT, LABEL_SCALE, 1)[0][0] + 6  # as `label` draws it
        x = (ci + 1) * stride + 2
        if x + width > img.shape[1]:
            x = ci * stride - width - 2
        label(img, text, x, cj * stride + stride // 2 + 7, VIOLATION)
