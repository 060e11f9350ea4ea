"""OpenCV overlays of targets and assignments, returned as PNG bytes.

Two figures, one family (the seed notebook's three figures):

- `render_targets`: GT boxes on an image at network resolution -- the raw image letterboxed to
  the network input, or the transformed training input itself.
- `render_assignment`: per pyramid level (optionally per level x anchor), the grid, the GT
  boxes, the assigned cells (centre and neighbour cells in distinct styles), the anchor box at
  each assigned cell, violations in red and, given a `Diff`, extra and missing rows.

Every panel is drawn at network resolution (``H x W`` of the problem, one image pixel per
network pixel) under a title strip; panels tile into one image with a legend strip below.
Nothing opens a window. Colours are BGR and deterministic: the same inputs give the same bytes.

Cell styles are composed with numpy masks (one boolean mask per style, blended at once), so
the cost does not grow with the number of rows; only anchors, labels and GT boxes are drawn
one OpenCV primitive per row, and those are capped (`MAX_ROWS`, `MAX_LABELS`, `MAX_TARGETS`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .assignment import Assignment, Diff
from .invariants import Violation
from .problem import Problem

Colour = tuple[int, int, int]  # BGR

# ----------------------------------------------------------------------------- style
CANVAS: Colour = (34, 30, 28)  # around panels, title and legend strips
BACKGROUND: Colour = (92, 92, 92)  # a panel's background when no image is given
TEXT: Colour = (240, 240, 240)
GRID: Colour = (235, 235, 235)
GRID_ALPHA = 0.22
CENTRE: Colour = (70, 200, 40)  # green: solid fill, solid 1 px outline
CENTRE_ALPHA = 0.5
NEIGHBOUR: Colour = (30, 200, 250)  # amber: light fill, diagonal hatch, dashed outline
NEIGHBOUR_ALPHA = 0.2
HATCH_ALPHA = 0.8
ANCHOR: Colour = (255, 215, 150)  # light blue outline centred on the cell
ANCHOR_ALPHA = 0.75
VIOLATION: Colour = (40, 40, 235)  # red: fill, solid 2 px outline, check id label
VIOLATION_ALPHA = 0.6
EXTRA: Colour = (230, 60, 230)  # magenta: cross-hatch and "+"
MISSING: Colour = (240, 230, 20)  # cyan: dashed 2 px outline and "-"

# Class colours: 16 well separated hues, none of them the status colours' pure red, magenta
# or cyan. BGR.
PALETTE: tuple[Colour, ...] = (
    (0, 128, 255),  # orange
    (255, 160, 0),  # azure
    (40, 220, 150),  # lime
    (255, 90, 150),  # violet
    (40, 200, 255),  # gold
    (170, 190, 0),  # teal
    (200, 120, 255),  # pink
    (60, 120, 190),  # brown
    (140, 230, 100),  # light green
    (230, 100, 70),  # royal blue
    (120, 170, 255),  # peach
    (50, 180, 180),  # olive
    (255, 160, 190),  # lavender
    (120, 150, 40),  # sea green
    (120, 90, 230),  # rose
    (200, 160, 120),  # steel
)

FONT = cv2.FONT_HERSHEY_SIMPLEX
PAD = 10  # around and between panels
TITLE_H = 44  # two lines of title above each panel
LEGEND_ROW_H = 28  # one row of legend entries
MIN_PANEL_SIDE = 480  # small inputs (a shrunk case) are drawn zoomed to at least this
MAX_ROWS = 3000  # rows drawn per panel; red rows first, the title says when some were left out
MAX_LABELS = 60  # check-id labels per panel
MAX_TARGETS = 1000  # GT boxes per image

_TITLE_SCALE = 0.5
_LABEL_SCALE = 0.42
_HATCH = 8  # hatch period in pixels


def class_colour(c: int) -> Colour:
    """The BGR colour of class ``c``: `PALETTE` indexed by ``c`` modulo its length."""
    return PALETTE[int(c) % len(PALETTE)]


# ----------------------------------------------------------------------------- public API
def render_targets(
    problem: Problem,
    targets: torch.Tensor | np.ndarray,
    *,
    image: np.ndarray | None = None,
    image_index: int = 0,
    class_names: Sequence[str] | None = None,
) -> bytes:
    """GT boxes of one image, drawn at network resolution; PNG bytes.

    Args:
        problem: gives the network input ``(H, W)``.
        targets: ``[nt, 6]`` (image, class, x, y, w, h), xywh normalized to the network input;
            a box spans ``x * W +- w * W / 2`` and ``y * H +- h * H / 2`` pixels.
        image: ``uint8[H, W, 3]`` BGR background (the raw image letterboxed to the network
            input, or the training input); a grey canvas when ``None``.
        image_index: only targets of this image are drawn.
        class_names: label of class ``c`` is ``class_names[c]`` when given, else ``c``.

    Returns:
        A PNG of ``(PAD + TITLE_H + H + PAD) x (PAD + W + PAD)`` pixels.
    """
    _check_problem(problem)
    t = _targets_array(targets)
    base = _zoomed(_background(problem, image), zoom(problem))
    _check_image_index(problem, image_index)
    mine = np.flatnonzero(t[:, 0] == image_index)
    panel = base.copy()
    drawn = _draw_targets(panel, t, mine, {}, class_names)
    h, w = problem.img_size
    lines = [
        f"image {image_index}   {h} x {w} px (H x W)   GT boxes",
        f"{len(mine)} targets" + (f" ({drawn} drawn)" if drawn < len(mine) else ""),
    ]
    return _png(tile_panels([_with_title(panel, lines)], columns=1))


def render_assignment(
    problem: Problem,
    targets: torch.Tensor | np.ndarray,
    assignment: Assignment,
    *,
    image: np.ndarray | None = None,
    violations: Iterable[Violation] = (),
    diff: Diff | None = None,
    image_index: int = 0,
    per_anchor: bool = False,
    class_names: Sequence[str] | None = None,
) -> bytes:
    """The anchor assignment of one image, one panel per level; PNG bytes.

    Each panel (``H x W``, at network resolution) shows the level's grid, the GT boxes, the
    assigned cells and the anchor box at each of them:

    - centre cell (the cell holding the target centre): green solid fill and outline;
      neighbour cell: amber hatch and dashed outline. Provenance comes from
      ``assignment.offset``; where it is unknown (-1) the cell holding ``gij + tbox_xy``
      (clamped to the grid) is the centre, any other cell a neighbour.
    - anchor box: light blue, ``anch * stride`` pixels, centred on the **cell centre**
      ``((gi + 0.5) * stride, (gj + 0.5) * stride)``: the centre of the head's reach
      ``(-0.5, 1.5)`` for the offset, i.e. where an untrained head (sigmoid 0.5) decodes it.
      One box per distinct (cell, anchor size).
    - red (fill, 2 px outline and the check ids): rows listed in ``violations[i].rows``
      (indices into ``assignment``), rows whose cell is outside the grid (drawn clamped to
      the border, labelled ``bounds``) and rows with non-finite tbox or anch (labelled
      ``nan``; their anchor is not drawn). Targets in ``violations[i].targets`` get a red
      label under their box.
    - with ``diff`` (expected vs this assignment): ``diff.extra`` rows magenta cross-hatch and
      "+", ``diff.missing`` rows cyan dashed outline and "-".

    Args:
        problem: sizes, strides and anchors.
        targets: ``[nt, 6]`` (image, class, x, y, w, h), xywh normalized to the network input.
        assignment: the canonical table of ``n`` rows to draw.
        image: ``uint8[H, W, 3]`` BGR background at network resolution; grey when ``None``.
        violations: findings whose rows and targets are drawn in red.
        diff: a `Diff` of expected vs ``assignment``.
        image_index: only rows and targets of this image are drawn.
        per_anchor: one panel per (level, anchor) instead of per level.
        class_names: label of class ``c`` is ``class_names[c]`` when given, else ``c``.

    Returns:
        A PNG: panels of ``(TITLE_H + H) x W`` tiled in ``columns`` columns (2, or ``na``
        with ``per_anchor``) with `PAD` pixels around and between them, then a legend strip
        of ``rows * LEGEND_ROW_H + PAD`` pixels (see `layout_size`).
    """
    _check_problem(problem)
    t = _targets_array(targets)
    if not isinstance(assignment, Assignment):
        raise ValueError(f"assignment: expected an Assignment, got {type(assignment).__name__}")
    if diff is not None and not isinstance(diff, Diff):
        raise ValueError(f"diff: expected a Diff or None, got {type(diff).__name__}")
    scale = zoom(problem)
    base = _zoomed(_background(problem, image), scale)
    _check_image_index(problem, image_index)
    violations = tuple(violations)
    for k, v in enumerate(violations):
        if not isinstance(v, Violation):
            raise ValueError(f"violations[{k}]: expected a Violation, got {type(v).__name__}")

    table = _Table.of(assignment)
    red, notes = _red_rows(table, violations)
    target_checks = _target_checks(violations)
    extra = _Table.of(diff.extra) if diff is not None else _Table.empty()
    missing = _Table.of(diff.missing) if diff is not None else _Table.empty()
    mine = np.flatnonzero(t[:, 0] == image_index)
    patterns = _Patterns(*base.shape[:2])

    bad_level = int(((table.level < 0) | (table.level >= problem.nl)).sum())
    if bad_level:
        notes.append(f"rows at a level outside [0, {problem.nl}), not drawn: {bad_level}")
    anchors: list[int | None] = list(range(problem.na)) if per_anchor else [None]
    if per_anchor:
        bad_anchor = int(((table.anchor < 0) | (table.anchor >= problem.na)).sum())
        if bad_anchor:
            notes.append(f"rows with an anchor outside [0, {problem.na}), not drawn: {bad_anchor}")

    panels = []
    for level in range(problem.nl):
        for a in anchors:
            keep = (table.image == image_index) & (table.level == level)
            keep_extra = (extra.image == image_index) & (extra.level == level)
            keep_missing = (missing.image == image_index) & (missing.level == level)
            if a is not None:
                keep &= table.anchor == a
                keep_extra &= extra.anchor == a
                keep_missing &= missing.anchor == a
            panel = base.copy()
            lines = _draw_level(
                panel,
                problem,
                level,
                a,
                table[np.flatnonzero(keep)],
                red,
                extra[np.flatnonzero(keep_extra)] if diff is not None else None,
                missing[np.flatnonzero(keep_missing)] if diff is not None else None,
                patterns,
                scale,
            )
            stride_px = problem.strides[level] * scale
            _draw_targets(panel, t, mine, target_checks, class_names, stride_px)
            panels.append(_with_title(panel, lines))
    columns = problem.na if per_anchor else 2
    grid = tile_panels(panels, columns=columns)
    legend = _legend(grid.shape[1], with_diff=diff is not None, notes=notes)
    return _png(np.vstack((grid, legend)))


def tile_panels(panels: Sequence[np.ndarray], columns: int = 2) -> np.ndarray:
    """Tile ``uint8[h_i, w_i, 3]`` panels row-major into ``min(columns, n)`` columns.

    Every tile is as large as the largest panel (panels sit in its top-left corner); `PAD`
    pixels of `CANVAS` lie around and between tiles. Returns
    ``uint8[rows * h + (rows + 1) * PAD, cols * w + (cols + 1) * PAD, 3]``.
    """
    if not panels:
        raise ValueError("tile_panels: expected at least one panel")
    if columns < 1:
        raise ValueError(f"tile_panels: columns must be >= 1, got {columns}")
    for k, p in enumerate(panels):
        if p.ndim != 3 or p.shape[2] != 3 or p.dtype != np.uint8:
            raise ValueError(
                f"tile_panels: panel {k} must be uint8[h, w, 3], got {p.dtype}{list(p.shape)}"
            )
    cols = min(columns, len(panels))
    rows = math.ceil(len(panels) / cols)
    h = max(p.shape[0] for p in panels)
    w = max(p.shape[1] for p in panels)
    out = np.empty((rows * h + (rows + 1) * PAD, cols * w + (cols + 1) * PAD, 3), np.uint8)
    out[:] = CANVAS
    for k, p in enumerate(panels):
        y = PAD + (k // cols) * (h + PAD)
        x = PAD + (k % cols) * (w + PAD)
        out[y : y + p.shape[0], x : x + p.shape[1]] = p
    return out


def zoom(problem: Problem) -> int:
    """How many times panels are drawn larger than the network input: small inputs (a
    shrunk failing case is often 64 px wide) are zoomed to `MIN_PANEL_SIDE`."""
    return max(1, math.ceil(MIN_PANEL_SIDE / max(problem.img_size)))


def _zoomed(img: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        return img
    return cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)


def layout_size(
    problem: Problem, *, per_anchor: bool = False, with_diff: bool = False
) -> tuple[int, int]:
    """``(height, width)`` of the image `render_assignment` draws for ``problem``.

    A render whose legend carries a note (rows it could not place: a level or anchor out of
    range, violation rows outside the table) may be taller by legend rows.
    """
    h, w = (side * zoom(problem) for side in problem.img_size)
    n = problem.nl * (problem.na if per_anchor else 1)
    cols = min(problem.na if per_anchor else 2, n)
    rows = math.ceil(n / cols)
    width = cols * w + (cols + 1) * PAD
    height = rows * (TITLE_H + h) + (rows + 1) * PAD
    legend_rows = len(_legend_rows(width, _legend_entries(with_diff)))
    return height + legend_rows * LEGEND_ROW_H + PAD, width


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class _Table:
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
    def of(cls, a: Assignment) -> _Table:
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
    def empty(cls) -> _Table:
        i = np.zeros(0, np.int64)
        return cls(i, i, i, i, i, i, np.zeros((0, 4)), np.zeros((0, 2)), i)

    def __len__(self) -> int:
        return len(self.row)

    def __getitem__(self, index: np.ndarray) -> _Table:
        return _Table(**{k: v[index] for k, v in vars(self).items()})


def _check_problem(problem: object) -> None:
    if not isinstance(problem, Problem):
        raise ValueError(f"problem: expected a Problem, got {type(problem).__name__}")


def _check_image_index(problem: Problem, image_index: object) -> None:
    if isinstance(image_index, bool) or not isinstance(image_index, (int, np.integer)):
        raise ValueError(f"image_index: expected an int, got {type(image_index).__name__}")
    if not 0 <= image_index < problem.batch_size:
        raise ValueError(
            f"image_index: must be in [0, {problem.batch_size}) (the problem's batch_size), "
            f"got {image_index}"
        )


def _targets_array(targets: object) -> np.ndarray:
    """Targets as ``float64[nt, 6]``; non-finite rows are kept and skipped when drawing."""
    if isinstance(targets, torch.Tensor):
        t = targets.detach().cpu().to(torch.float64).numpy()
    elif isinstance(targets, np.ndarray):
        t = targets.astype(np.float64)
    else:
        raise ValueError(f"targets: expected a Tensor [nt, 6], got {type(targets).__name__}")
    if t.ndim != 2 or t.shape[1] != 6:
        raise ValueError(
            f"targets: expected shape [nt, 6] (image, class, x, y, w, h), got {list(t.shape)}"
        )
    return t


def _background(problem: Problem, image: np.ndarray | None) -> np.ndarray:
    h, w = problem.img_size
    if image is None:
        out = np.empty((h, w, 3), np.uint8)
        out[:] = BACKGROUND
        return out
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image: expected a numpy array uint8[H, W, 3], got {type(image)}")
    if image.dtype != np.uint8 or image.shape != (h, w, 3):
        raise ValueError(
            f"image: expected uint8[{h}, {w}, 3] (BGR at the network input size), "
            f"got {image.dtype}{list(image.shape)}"
        )
    return np.ascontiguousarray(image)


def _red_rows(
    table: _Table, violations: Sequence[Violation]
) -> tuple[dict[int, set[str]], list[str]]:
    """Row index -> check ids that name it; and notes about rows that are not in the table."""
    red: dict[int, set[str]] = {}
    outside = 0
    for v in violations:
        for r in v.rows:
            if 0 <= r < len(table):
                red.setdefault(int(r), set()).add(v.check)
            else:
                outside += 1
    notes = [f"violation rows outside the table, not drawn: {outside}"] if outside else []
    return red, notes


def _target_checks(violations: Sequence[Violation]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for v in violations:
        for t in v.targets:
            out.setdefault(int(t), set()).add(v.check)
    return out


# ----------------------------------------------------------------------------- masks
class _Patterns:
    """Pixel-coordinate patterns of one panel size, shared by all its panels."""

    def __init__(self, h: int, w: int) -> None:
        self.yy, self.xx = np.indices((h, w))
        diag = self.xx + self.yy
        anti = self.xx - self.yy
        self.hatch = (diag % _HATCH) < 2
        self.cross = (diag % _HATCH == 0) | (anti % _HATCH == 0)
        self.dash = (diag // 4) % 2 == 0
        self._borders: dict[tuple[int, int], np.ndarray] = {}

    def border(self, stride: int, width: int) -> np.ndarray:
        """Pixels within ``width`` of their own cell's edge (cached per stride and width)."""
        if (stride, width) not in self._borders:
            x, y = self.xx % stride, self.yy % stride
            edge = (x < width) | (x >= stride - width) | (y < width) | (y >= stride - width)
            self._borders[stride, width] = edge
        return self._borders[stride, width]


def _cells(gi: np.ndarray, gj: np.ndarray, ny: int, nx: int, stride: int) -> np.ndarray:
    """Pixel mask ``bool[H, W]`` of the (in-grid, already clamped) cells ``(gj, gi)``."""
    grid = np.zeros((ny, nx), bool)
    grid[gj, gi] = True
    return np.repeat(np.repeat(grid, stride, 0), stride, 1)


def _blend(img: np.ndarray, mask: np.ndarray, colour: Colour, alpha: float) -> None:
    """``img[mask] = rint(img * (1 - alpha) + colour * alpha)`` in float32, in place."""
    if alpha >= 1:
        img[mask] = colour
        return
    px = img[mask].astype(np.float32)
    mixed = px * np.float32(1 - alpha) + np.float32(alpha) * np.asarray(colour, np.float32)
    img[mask] = np.rint(mixed).astype(np.uint8)


def _draw_grid(img: np.ndarray, stride: int) -> None:
    """Light 1 px lines on the cell edges ``x = k * stride`` (and the last column/row)."""
    mask = np.zeros(img.shape[:2], bool)
    mask[::stride, :] = True
    mask[:, ::stride] = True
    mask[-1, :] = True
    mask[:, -1] = True
    _blend(img, mask, GRID, GRID_ALPHA)


def _fill_centre(img: np.ndarray, cells: np.ndarray, p: _Patterns, stride: int) -> None:
    _blend(img, cells, CENTRE, CENTRE_ALPHA)
    _blend(img, cells & p.border(stride, 1), CENTRE, 1.0)


def _fill_neighbour(img: np.ndarray, cells: np.ndarray, p: _Patterns, stride: int) -> None:
    _blend(img, cells, NEIGHBOUR, NEIGHBOUR_ALPHA)
    _blend(img, cells & p.hatch, NEIGHBOUR, HATCH_ALPHA)
    _blend(img, cells & p.border(stride, 1) & p.dash, NEIGHBOUR, 1.0)


def _fill_violation(img: np.ndarray, cells: np.ndarray, p: _Patterns, stride: int) -> None:
    _blend(img, cells, VIOLATION, VIOLATION_ALPHA)
    _blend(img, cells & p.border(stride, 2), VIOLATION, 1.0)


def _fill_extra(img: np.ndarray, cells: np.ndarray, p: _Patterns, stride: int) -> None:
    _blend(img, cells & p.cross, EXTRA, 1.0)
    _blend(img, cells & p.border(stride, 1), EXTRA, 1.0)


def _fill_missing(img: np.ndarray, cells: np.ndarray, p: _Patterns, stride: int) -> None:
    _blend(img, cells & p.border(stride, 2) & p.dash, MISSING, 1.0)


# ----------------------------------------------------------------------------- panels
def _is_centre(t: _Table, ny: int, nx: int) -> np.ndarray:
    """Centre rows: ``offset == 0`` where known, else the cell holding ``gij + tbox_xy``."""
    with np.errstate(invalid="ignore"):
        cx = np.clip(np.floor(t.gi + t.tbox[:, 0]), 0, nx - 1)
        cy = np.clip(np.floor(t.gj + t.tbox[:, 1]), 0, ny - 1)
        geometric = (cx == t.gi) & (cy == t.gj)
    return np.where(t.offset >= 0, t.offset == 0, geometric)


def _draw_level(
    img: np.ndarray,
    problem: Problem,
    level: int,
    anchor: int | None,
    rows: _Table,
    red: dict[int, set[str]],
    extra: _Table | None,
    missing: _Table | None,
    p: _Patterns,
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

    _draw_grid(img, px)
    centre_cells = _cells(gi[centre], gj[centre], ny, nx, px)
    neighbour_cells = _cells(gi[~centre], gj[~centre], ny, nx, px) & ~centre_cells
    _fill_centre(img, centre_cells, p, px)
    _fill_neighbour(img, neighbour_cells, p, px)
    _draw_anchors(img, gi[finite], gj[finite], rows.anch[finite], px)
    if extra is not None and missing is not None:
        _draw_diff(img, extra, missing, ny, nx, px, p)
    _fill_violation(img, _cells(gi[is_red], gj[is_red], ny, nx, px), p, px)
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
    extra: _Table,
    missing: _Table,
    ny: int,
    nx: int,
    stride: int,
    p: _Patterns,
) -> None:
    """Extra rows: magenta cross-hatch and "+"; missing rows: cyan dashed outline and "-"."""
    for table, fill, colour, plus in (
        (extra, _fill_extra, EXTRA, True),
        (missing, _fill_missing, MISSING, False),
    ):
        gi, gj = np.clip(table.gi, 0, nx - 1), np.clip(table.gj, 0, ny - 1)
        fill(img, _cells(gi, gj, ny, nx, stride), p, stride)
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
        width = cv2.getTextSize(text, FONT, _LABEL_SCALE, 1)[0][0] + 6  # as `_label` draws it
        x = (ci + 1) * stride + 2
        if x + width > img.shape[1]:
            x = ci * stride - width - 2
        _label(img, text, x, cj * stride + stride // 2 + 7, VIOLATION)


def _draw_targets(
    img: np.ndarray,
    targets: np.ndarray,
    index: np.ndarray,
    checks: dict[int, set[str]],
    class_names: Sequence[str] | None,
    stride: int | None = None,
) -> int:
    """GT boxes ``(x*W, y*H, w*W, h*H)`` of ``targets[index]`` in class colours, centre dot,
    class label, and a red label under targets named by a violation (``checks`` maps a
    target row to check ids). Non-finite rows are skipped. Returns the number drawn.
    The centre dot shrinks on a fine ``stride`` so that it does not hide the cell."""
    h, w = img.shape[:2]
    radius = 3 if stride is None else int(np.clip(stride // 5, 2, 3))
    index = index[np.isfinite(targets[index]).all(1)][:MAX_TARGETS]
    boxes = []
    for k in index.tolist():
        _, c, x, y, bw, bh = targets[k].tolist()
        x0, x1 = np.clip([(x - bw / 2) * w, (x + bw / 2) * w], -w, 2 * w)
        y0, y1 = np.clip([(y - bh / 2) * h, (y + bh / 2) * h], -h, 2 * h)
        cx, cy = np.clip([x * w, y * h], [-w, -h], [2 * w, 2 * h])
        boxes.append((k, int(c), *(round(float(v)) for v in (x0, y0, x1, y1, cx, cy))))
    for _, c, x0, y0, x1, y1, cx, cy in boxes:
        colour = class_colour(c)
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, 2, cv2.LINE_AA)
        cv2.circle(img, (cx, cy), radius + 1, (20, 20, 20), -1, cv2.LINE_AA)
        cv2.circle(img, (cx, cy), radius, colour, -1, cv2.LINE_AA)
    for k, c, x0, y0, _, y1, _, _ in boxes:  # labels last: never under another box
        name = class_names[c] if class_names is not None and 0 <= c < len(class_names) else c
        top = y0 - 2 if y0 > 18 else y0 + 18
        _label(img, str(name), x0 - 1, top, class_colour(c))
        found = checks.get(k, set())
        if found:
            _label(img, "! " + ",".join(sorted(found)), x0 - 1, min(y1 + 16, h - 2), VIOLATION)
    return len(boxes)


def _label(img: np.ndarray, text: str, x: int, y: int, bg: Colour) -> None:
    """``text`` on a filled ``bg`` box whose bottom-left is ``(x, y)``, kept inside ``img``."""
    (tw, th), base = cv2.getTextSize(text, FONT, _LABEL_SCALE, 1)
    bw, bh = tw + 6, th + base + 4
    x = int(min(max(x, 0), img.shape[1] - bw))
    y = int(min(max(y, bh), img.shape[0]))
    cv2.rectangle(img, (x, y - bh), (x + bw - 1, y - 1), bg, -1)
    cv2.putText(img, text, (x + 3, y - base - 2), FONT, _LABEL_SCALE, _ink(bg), 1, cv2.LINE_AA)


def _ink(bg: Colour) -> Colour:
    """Black or white text, whichever reads better on ``bg`` (BGR)."""
    b, g, r = bg
    return (20, 20, 20) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)


def _with_title(panel: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``panel`` under a `TITLE_H` strip holding two lines, each shrunk to fit the width."""
    strip = np.empty((TITLE_H, panel.shape[1], 3), np.uint8)
    strip[:] = CANVAS
    for k, text in enumerate(lines[:2]):
        _text_fit(strip, text, 2, 17 + 20 * k, panel.shape[1] - 4, bold=k == 0)
    return np.vstack((strip, panel))


def _text_fit(img: np.ndarray, text: str, x: int, y: int, width: int, bold: bool) -> None:
    scale = _TITLE_SCALE
    while scale > 0.32 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width:
        scale -= 0.02
    while len(text) > 4 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width:
        text = text[:-4] + "..."
    colour = TEXT if bold else (200, 200, 200)
    cv2.putText(img, text, (x, y), FONT, scale, colour, 1, cv2.LINE_AA)


# ----------------------------------------------------------------------------- legend
def _legend_entries(with_diff: bool) -> list[str]:
    names = ["GT box (class colour)", "centre cell", "neighbour cell", "anchor box", "violation"]
    return names + (["extra (+)", "missing (-)"] if with_diff else [])


_SWATCH = 18


def _legend_rows(width: int, entries: Sequence[str]) -> list[list[tuple[str, int]]]:
    """Entries wrapped to ``width``: rows of (name, x)."""
    rows: list[list[tuple[str, int]]] = [[]]
    x = PAD
    for name in entries:
        span = _SWATCH + 6 + cv2.getTextSize(name, FONT, _LABEL_SCALE, 1)[0][0] + 22
        if rows[-1] and x + span > width - PAD:
            rows.append([])
            x = PAD
        rows[-1].append((name, x))
        x += span
    return rows


def _swatch(name: str) -> np.ndarray:
    """A one-cell sample of a style, drawn by the same helpers as the panels."""
    s = _SWATCH
    cell = np.empty((s, s, 3), np.uint8)
    cell[:] = BACKGROUND
    p = _Patterns(s, s)
    everything = np.ones((s, s), bool)
    if name.startswith("GT"):
        for k, c in enumerate((0, 1, 2)):
            cv2.rectangle(cell, (1 + 2 * k, 1 + 2 * k), (s - 2 - 2 * k, s - 2 - 2 * k), PALETTE[c])
    elif name.startswith("centre"):
        _fill_centre(cell, everything, p, s)
    elif name.startswith("neighbour"):
        _fill_neighbour(cell, everything, p, s)
    elif name.startswith("anchor"):
        cv2.rectangle(cell, (3, 5), (s - 4, s - 6), ANCHOR, 1, cv2.LINE_AA)
    elif name.startswith("violation"):
        _fill_violation(cell, everything, p, s)
    elif name.startswith("extra"):
        _fill_extra(cell, everything, p, s)
    else:
        _fill_missing(cell, everything, p, s)
    return cell


def _legend(width: int, *, with_diff: bool, notes: Sequence[str]) -> np.ndarray:
    """Swatch and name per style, wrapped to ``width``; notes appended as a last entry."""
    entries = _legend_entries(with_diff)
    rows = _legend_rows(width, entries + (["note: " + "; ".join(notes)] if notes else []))
    strip = np.empty((len(rows) * LEGEND_ROW_H + PAD, width, 3), np.uint8)
    strip[:] = CANVAS
    for r, row in enumerate(rows):
        y = r * LEGEND_ROW_H + (LEGEND_ROW_H - _SWATCH) // 2
        for name, x in row:
            if name.startswith("note"):
                _text_fit(strip, name, x, y + 14, width - x - PAD, bold=False)
                continue
            strip[y : y + _SWATCH, x : x + _SWATCH] = _swatch(name)
            cv2.putText(
                strip, name, (x + _SWATCH + 6, y + 14), FONT, _LABEL_SCALE, TEXT, 1, cv2.LINE_AA
            )
    return strip


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - OpenCV fails only on invalid arrays, which we never build
        raise RuntimeError("cv2.imencode failed to encode the overlay as PNG")
    return buf.tobytes()
