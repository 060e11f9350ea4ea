"""Overlays of a task-aligned assignment (TAL): one panel per pyramid level of one image.

`render_tal` draws a case -- the problem, the six inputs of ``TaskAlignedAssigner.forward``,
an assigner's five outputs, its violations and optionally the reference's assignment -- as
PNG bytes; `tal_figure` returns the pixels with what each panel shows (titles, counts, where
a network pixel lands), for reports and tests. `render_tal_closeup` enlarges the offending
anchors of a large input. Each panel shows, at network resolution (small inputs zoomed to
`MIN_PANEL_SIDE`, inputs over `MAX_PANEL_SIDE` shrunk to it):

- the input: the photo (dimmed, so that fills read on it) or a grey canvas;
- every anchor point of the level as a small dot;
- the GT boxes, one colour per GT **row** (`gt_colour`: ``PALETTE[row % 16]``, the class in
  the label ``#row class``): ownership is the question, and two GTs of one class compete for
  anchors as often as two of different classes. Where the small-box floor enlarged a box for
  the candidate test, the floored box is dashed. A valid GT that owns no anchor is dashed
  yellow and black;
- positives: the anchor's cell filled in its owner's colour, opacity by the target score
  (the legend shows the scale), outlined in the full colour;
- with a ``reference``: its top-k proposals that lost the conflict, a ring in the losing
  GT's colour on the winner's cell;
- offending anchors (named by ``violations``, or whose owner differs from the reference's
  where no tie could change it) filled red with a dot of the output's owner colour on the
  anchor point, labelled with the check ids (``ref #g``: the reference gives it to row g;
  ``ref bg``: to nobody); GT rows a violation names framed red. The rest is muted, except
  the rows involved (named, or owning an offending anchor here or in the reference).

Crowded cases stay readable: at most `MAX_GTS` GT boxes per panel (offending and involved
first, then the owners of the level's positives), `MAX_LABELS` labels of each kind, labels
never drawn over each other (one that finds no free place is hidden and counted in a note),
and the title says how many boxes were left out. A malformed output (wrong structure) draws
the inputs only, with the reason in the titles.

The figure's parts: `tal_scene` reads the tensors, `tal_panel` draws a level, `tal_draw`
holds the primitives and `tal_legend` the legend strip.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from torch import Tensor

from ..errors import DiagnosticsError
from ..tal.assignment import TalAssignment
from ..tal.problem import TalProblem
from .levels import MAX_LABELS
from .panels import encode_png, tile_panels, with_title
from .style import BACKGROUND, MIN_PANEL_SIDE, PAD, TITLE_H
from .tal_draw import View
from .tal_legend import FLOORED, GT, LOST, POINT, RED, SCORE, UNCOVERED, legend_strip
from .tal_panel import MAX_GTS, PanelCounts, draw_panel, gt_colour
from .tal_scene import TalScene, build_scene
from .targets import left_out

__all__ = [
    "MAX_GTS",
    "MAX_LABELS",
    "MAX_PANEL_SIDE",
    "TalFigure",
    "TalPanel",
    "gt_colour",
    "render_tal",
    "render_tal_closeup",
    "tal_closeup",
    "tal_figure",
]

MAX_PANEL_SIDE = 1280  # inputs larger than this are drawn shrunk to it
CLOSEUP_SIDE = 192  # network px: a close-up is drawn at least 3x (tiny boxes become legible)
PHOTO_DIM = 0.45  # how far a photo fades toward the canvas grey, so that fills read on it

Region = tuple[int, int, int, int]


@dataclass(frozen=True)
class TalPanel:
    """One level's panel: its title lines, its counts and where it lies in the figure.

    ``origin``: figure ``(x, y)`` of the panel's top-left drawing pixel (under its title);
    ``view``: the network region the panel shows and its scale.
    """

    level: int
    stride: int
    grid: tuple[int, int]
    title: tuple[str, str]
    counts: PanelCounts
    origin: tuple[int, int]
    view: View

    def at(self, x: float, y: float) -> tuple[int, int]:
        """Figure ``(column, row)`` of the network point ``(x, y)`` (pixels)."""
        return (
            self.origin[0] + math.floor(float(self.view.x(x))),
            self.origin[1] + math.floor(float(self.view.y(y))),
        )


@dataclass(frozen=True)
class TalFigure:
    """A drawn TAL figure: ``pixels`` (``uint8[h, w, 3]`` BGR), one `TalPanel` per level,
    the legend's notes, and the network region it shows (None: the whole input)."""

    pixels: np.ndarray
    panels: tuple[TalPanel, ...]
    notes: tuple[str, ...]
    region: Region | None

    @property
    def png(self) -> bytes:
        return encode_png(self.pixels)


def render_tal(
    problem: TalProblem, batch: Sequence[Tensor], output: object, **options: object
) -> bytes:
    """`tal_figure` (same arguments) as PNG bytes."""
    return tal_figure(problem, batch, output, **options).png  # type: ignore[arg-type]


def tal_figure(
    problem: TalProblem,
    batch: Sequence[Tensor],
    output: object,
    *,
    image: int = 0,
    violations: Iterable[object] = (),
    reference: TalAssignment | None = None,
    photo: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    region: Region | None = None,
) -> TalFigure:
    """One image of a TAL case, one panel per pyramid level (see the module docstring).

    Args:
        problem: strides, input size, classes and the floor.
        batch: the six inputs (a `TalBatch` or a sequence in ``forward``'s order), checked by
            `validate_inputs`; any device.
        output: the assigner's five tensors; when their structure is wrong (the ``shapes``
            check), the inputs are drawn alone and the titles say why.
        image: which image of the batch.
        violations: findings to draw in red (`TalViolation` or anything with ``check``,
            ``image``, ``anchors`` -- flat anchor indices -- and ``gts``); pass the failing
            ones. A finding with no image becomes a note under the figure.
        reference: the reference's `TalAssignment` of the same batch (``assign(problem,
            ...)``): anchors whose owner differs from it where no tie could change it turn
            red, and its lost conflicts are drawn as rings.
        photo: ``uint8[H, W, 3]`` BGR at the network input's size; a grey canvas when None.
        class_names: label of class ``c`` is ``class_names[c]`` when given, else ``c``.
        region: ``(x0, y0, x1, y1)`` network pixels aligned to the coarsest stride: draw
            only that region (a close-up), enlarged.

    Returns:
        The panels tiled in two columns (one for a single level) with `PAD` pixels around
        and between them, then the legend strip. Raises `DiagnosticsError` on bad arguments.
    """
    scene = build_scene(problem, batch, output, image, violations, reference)
    return _figure(scene, photo, class_names, region)


def tal_closeup(
    problem: TalProblem,
    batch: Sequence[Tensor],
    output: object,
    *,
    image: int = 0,
    violations: Iterable[object] = (),
    reference: TalAssignment | None = None,
    photo: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> TalFigure | None:
    """`tal_figure` of the region around the offending anchors (or, with none, the offending
    GT rows), grown by a coarsest cell, at most `CLOSEUP_SIDE` pixels a side (see
    `closeup_region`); None when nothing offends or when the input is small enough to be
    drawn zoomed already."""
    scene = build_scene(problem, batch, output, image, violations, reference)
    region = closeup_region(scene)
    return None if region is None else _figure(scene, photo, class_names, region)


def render_tal_closeup(
    problem: TalProblem, batch: Sequence[Tensor], output: object, **options: object
) -> bytes | None:
    """`tal_closeup` (same arguments) as PNG bytes, or None."""
    found = tal_closeup(problem, batch, output, **options)  # type: ignore[arg-type]
    return None if found is None else found.png


def closeup_region(scene: TalScene) -> Region | None:
    """The close-up's region for ``scene`` (see `tal_closeup`): around the first offending
    anchor and as many of the next as fit, those whose owner differs from the reference's
    first (the decision itself is wrong), then in the order the violations name them."""
    p = scene.problem
    if max(p.img_size) < MIN_PANEL_SIDE:
        return None
    by_reference = [a for a, texts in scene.red.items() if any(t.startswith("ref") for t in texts)]
    anchors = np.array(list(dict.fromkeys([*by_reference, *scene.red])), np.int64)
    if len(anchors):
        starts = np.asarray(p.level_starts)
        level = np.searchsorted(starts, anchors, side="right") - 1
        stride = np.asarray(p.strides, np.float64)[level]
        nx = np.asarray([w for _, w in p.feature_shapes])[level]
        local = anchors - starts[level]
        i, j = local % nx, local // nx
        boxes = np.column_stack((i * stride, j * stride, (i + 1) * stride, (j + 1) * stride))
    else:
        boxes = scene.boxes[list(scene.red_gts)]
    region = None
    for k in range(len(boxes)):  # grow while it fits: the first offender is always in it
        grown = _around(p, boxes[: k + 1])
        if grown is None:
            break
        region = grown
    return region


def _around(problem: TalProblem, boxes: np.ndarray) -> Region | None:
    """``boxes`` (network xyxy) grown by a coarsest cell, aligned to it; None when a side
    would exceed `CLOSEUP_SIDE` (three coarsest cells at least) or half the input's."""
    s = problem.strides[-1]
    h, w = problem.img_size
    most = max(CLOSEUP_SIDE, 3 * s)
    x0 = max(0, (math.floor(boxes[:, 0].min()) // s - 1) * s)
    y0 = max(0, (math.floor(boxes[:, 1].min()) // s - 1) * s)
    x1 = min(w, (math.ceil(boxes[:, 2].max()) // s + 2) * s)
    y1 = min(h, (math.ceil(boxes[:, 3].max()) // s + 2) * s)
    if x1 - x0 > min(w // 2, most) or y1 - y0 > min(h // 2, most):
        return None
    return x0, y0, x1, y1


def _figure(
    scene: TalScene,
    photo: np.ndarray | None,
    class_names: Sequence[str] | None,
    region: Region | None,
) -> TalFigure:
    """Every level's panel of ``scene``, tiled as `tile_panels` does, over the legend."""
    p = scene.problem
    view = _view(p, region)
    base = _background(p, photo, view)
    panels, pictures = [], []
    columns = min(2, len(p.strides))
    h, w = view.shape
    for level, stride in enumerate(p.strides):
        img = base.copy()
        counts = draw_panel(img, scene, level, view, class_names)
        title = _title(scene, level, counts, region)
        pictures.append(with_title(img, title))
        row, column = divmod(level, columns)  # where tile_panels puts it, under its title
        origin = (PAD + column * (w + PAD), PAD + row * (TITLE_H + h + PAD) + TITLE_H)
        panels.append(TalPanel(level, stride, p.feature_shapes[level], title, counts, origin, view))
    grid = tile_panels(pictures, columns=columns)
    notes = _notes(scene, panels)
    legend = legend_strip(grid.shape[1], _entries(scene), notes)
    return TalFigure(np.vstack((grid, legend)), tuple(panels), tuple(notes), region)


def _view(problem: TalProblem, region: Region | None) -> View:
    """The whole input, or ``region`` (checked), at the scale its larger side asks for."""
    h, w = problem.img_size
    if region is None:
        x0, y0, x1, y1 = 0, 0, w, h
    else:
        s = problem.strides[-1]
        try:
            x0, y0, x1, y1 = (int(v) for v in region)
        except (TypeError, ValueError):
            raise DiagnosticsError(f"region: expected (x0, y0, x1, y1), got {region!r}") from None
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h) or (x0 | y0 | x1 | y1) % s:
            raise DiagnosticsError(
                f"region: expected a non-empty box inside {w} x {h} aligned to stride {s}, "
                f"got {region}"
            )
    side = max(x1 - x0, y1 - y0)
    if side < MIN_PANEL_SIDE:
        scale = float(math.ceil(MIN_PANEL_SIDE / side))  # whole zooms keep cells equal
    else:
        scale = min(1.0, MAX_PANEL_SIDE / side)
    return View(x0, y0, x1, y1, scale)


def _background(problem: TalProblem, photo: np.ndarray | None, view: View) -> np.ndarray:
    """The view of ``photo`` (checked), dimmed; or the grey canvas."""
    h, w = view.shape
    if photo is None:
        out = np.empty((h, w, 3), np.uint8)
        out[:] = BACKGROUND
        return out
    ih, iw = problem.img_size
    if not isinstance(photo, np.ndarray) or photo.dtype != np.uint8 or photo.shape != (ih, iw, 3):
        got = f"{photo.dtype}{list(photo.shape)}" if isinstance(photo, np.ndarray) else photo
        raise DiagnosticsError(
            f"photo: expected uint8[{ih}, {iw}, 3] (BGR at the network input size), got {got}"
        )
    crop = np.ascontiguousarray(photo[view.y0 : view.y1, view.x0 : view.x1])
    mode = cv2.INTER_NEAREST if view.scale >= 1 else cv2.INTER_AREA
    shown = cv2.resize(crop, (w, h), interpolation=mode)
    dimmed = shown * (1 - PHOTO_DIM) + np.asarray(BACKGROUND) * PHOTO_DIM
    return np.rint(dimmed).astype(np.uint8)


def _title(scene: TalScene, level: int, c: PanelCounts, region: Region | None) -> tuple[str, str]:
    p = scene.problem
    ny, nx = p.feature_shapes[level]
    first = f"level {level}   stride {p.strides[level]}   grid {ny} x {nx}   image {scene.image}"
    if region is not None:
        x0, y0, x1, y1 = region
        first += f"   close-up x {x0}-{x1}, y {y0}-{y1}"
    if scene.output_error is not None:
        return first, f"output not drawn: {scene.output_error}"
    second = f"{c.positives} positives   {c.gts} GT boxes{left_out(c.gts_drawn, c.gts)}"
    if scene.has_reference:
        second += f"   {c.lost} lost a conflict"
    if c.red:
        second += f"   {c.red} red"
    return first, second


def _entries(scene: TalScene) -> list[str]:
    entries = [GT, POINT] + ([SCORE] if scene.output_error is None else [])
    if scene.floor_changed.any():
        entries.insert(1, FLOORED)
    if scene.has_reference and scene.output_error is None:
        entries.append(LOST)
    if scene.failing:
        entries.append(RED)
    if scene.uncovered.any():
        entries.append(UNCOVERED)
    return entries


def _notes(scene: TalScene, panels: list[TalPanel]) -> list[str]:
    p = scene.problem
    notes = list(scene.notes)
    if scene.output_error is not None:
        notes.insert(0, f"output not drawn: {scene.output_error}")
    floored = int(scene.floor_changed.sum())
    if floored:
        notes.append(
            f"small-box floor: sides under {p.stal_below:g} px grow to {p.stal_side:g} px "
            f"for the candidate test only ({floored} box(es), dashed)"
        )
    if scene.tie_breaks:
        notes.append(f"{scene.tie_breaks} anchor(s) differ from the reference by an accepted tie")
    hidden = sum(panel.counts.labels_hidden for panel in panels)
    if hidden:
        notes.append(f"{hidden} label(s) not drawn where they would cover another")
    return notes
