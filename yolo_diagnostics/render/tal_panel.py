"""One pyramid level's panel of the TAL figure, drawn from a `TalScene` into a view.

Layers, bottom to top: the anchor points; the positives (cells in the owner's colour, opacity
by score); the rings of lost conflicts; the floored boxes (dashed) and the GT boxes; on a
failing case, everything so far muted and the involved rows' layers drawn again on top; the
offending anchors in red; the labels (red ones first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .levels import MAX_LABELS
from .style import BACKGROUND, PALETTE, UNMATCHED, VIOLATION, Colour, hazard_rectangle
from .tal_draw import (
    LabelBoard,
    LevelCells,
    View,
    box,
    centre_dots,
    dashed_box,
    disc_radius,
    dot_radius,
    fill_cells,
    fill_discs,
    outline_width,
    rings,
)
from .tal_legend import fill_alpha
from .tal_scene import TalScene

MAX_GTS = 300  # GT boxes per panel, offending first; the title says how many were left out
MAX_RINGS = 3000  # lost-conflict rings per panel (each is one OpenCV call)
MUTE = 0.6  # how far a failing case's context fades toward the canvas grey
POINT_COLOUR = (235, 235, 235)
POINT_ALPHA = 0.55
RED_ALPHA = 0.7
_PALETTE = np.asarray(PALETTE, np.uint8)


@dataclass(frozen=True)
class PanelCounts:
    """What a panel shows, counted in its view: positives, GT rows (and how many boxes were
    drawn), lost conflicts, red anchors, labels hidden where they would overlap."""

    positives: int
    gts: int
    gts_drawn: int
    lost: int
    red: int
    labels_hidden: int


@dataclass(frozen=True)
class _Level:
    """One level of the scene in one view: its cells and its slice of the flat anchors."""

    scene: TalScene
    cells: LevelCells
    start: int
    owner: np.ndarray  # int64[ny * nx]: the level's slice of scene.owner
    score: np.ndarray  # float64[ny * nx]
    visible: np.ndarray  # bool[ny * nx]: the anchor point is in the view


def draw_panel(
    img: np.ndarray,
    scene: TalScene,
    level: int,
    view: View,
    class_names: Sequence[str] | None,
) -> PanelCounts:
    """Draw level ``level`` of ``scene`` into ``img`` (the view's background, in place)."""
    p = scene.problem
    ny, nx = p.feature_shapes[level]
    start, stop = p.level_starts[level], p.level_starts[level + 1]
    cells = LevelCells(view, p.strides[level], ny, nx)
    lv = _Level(
        scene,
        cells,
        start,
        scene.owner[start:stop],
        scene.score[start:stop],
        cells.in_view(np.arange(stop - start)),
    )
    centre_dots(
        img, cells, np.ones((ny, nx), bool), POINT_COLOUR, dot_radius(cells.side), POINT_ALPHA
    )
    losers = scene.losers[(scene.losers[:, 0] >= start) & (scene.losers[:, 0] < stop)]
    losers = losers[lv.visible[losers[:, 0] - start]]
    order, tier = _gt_order(lv, losers)
    drawn, tier = order[:MAX_GTS], tier[:MAX_GTS]
    red = np.array([a - start for a in scene.red if start <= a < stop], np.int64)
    red = np.sort(red[lv.visible[red]])

    # labels are placed by priority (red first), then drawn with their layer: on a failing
    # case the context's labels are muted with it
    board = LabelBoard(img.shape)
    _red_labels(board, lv, red)
    labelled = drawn[tier < 4]
    front = tier[tier < 4] < 2 if scene.failing else np.ones(len(labelled), bool)
    _gt_labels(board, scene, labelled[:MAX_LABELS], front[:MAX_LABELS], view, class_names)

    # each row's layers are drawn once: the context's, muted on a failing case, then the
    # involved rows' on top, as bright as on a passing case
    context = ~scene.involved if scene.failing else np.ones(len(scene.boxes), bool)
    _layers(img, lv, losers, drawn, tier, context)
    board.draw(img, "back")
    if scene.failing:
        img[:] = np.rint(img * (1 - MUTE) + np.asarray(BACKGROUND) * MUTE).astype(np.uint8)
        _layers(img, lv, losers, drawn, tier, scene.involved)
    _draw_red(img, lv, red, drawn)
    board.draw(img, "front")
    return PanelCounts(
        positives=int(((lv.owner >= 0) & lv.visible).sum()),
        gts=len(order),
        gts_drawn=len(drawn),
        lost=len(losers),
        red=len(red),
        labels_hidden=board.hidden,
    )


def _gt_order(lv: _Level, losers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GT rows that reach into the view -- valid ones, and padded ones that own an anchor or
    are named -- and their tier, most telling first: 0 named by a violation, 1 involved in
    one, 2 active here (owns a positive or lost a conflict on this level), 3 without a
    positive, 4 the rest (context: drawn thin and faint, not labelled)."""
    scene, view = lv.scene, lv.cells.view
    n = len(scene.boxes)
    # with no output to read, every valid row is drawn as one that matters
    active = np.full(n, scene.output_error is not None)
    active[lv.owner[lv.owner >= 0]] = True
    active[losers[:, 1]] = True
    named = np.zeros(n, bool)
    named[list(scene.red_gts)] = True
    covered = scene.covered
    uncovered = scene.uncovered
    finite = np.isfinite(scene.boxes).all(1) & np.isfinite(scene.floored).all(1)
    reach = view.overlaps(scene.boxes) | view.overlaps(scene.floored)
    rows = np.flatnonzero((scene.valid | named | covered) & reach & finite)
    tier = np.select([named, scene.involved, active, uncovered], [0, 1, 2, 3], 4)[rows]
    order = np.argsort(tier, kind="stable")
    return rows[order], tier[order]


def _layers(
    img: np.ndarray,
    lv: _Level,
    losers: np.ndarray,
    drawn: np.ndarray,
    tier: np.ndarray,
    include: np.ndarray,
) -> None:
    """Positives, rings, floored and GT boxes of the rows in ``include`` (``bool[n]``);
    ``drawn`` are the rows whose boxes are drawn, ``tier`` theirs (see `_gt_order`)."""
    scene, cells = lv.scene, lv.cells
    ny, nx, side, view = cells.ny, cells.nx, cells.side, cells.view
    mine = lv.owner >= 0
    mine[mine] = include[lv.owner[mine]]
    fill_discs(
        img,
        cells,
        mine.reshape(ny, nx),
        _PALETTE[np.maximum(lv.owner, 0) % len(PALETTE)].reshape(ny, nx, 3),
        fill_alpha(lv.score).reshape(ny, nx),
        radius=disc_radius(side),
        outline=outline_width(side),
    )
    ring = losers[include[losers[:, 1]]][:MAX_RINGS]
    xs, ys = cells.centre(ring[:, 0] - lv.start)
    rings(img, xs, ys, [gt_colour(g) for g in ring[:, 1].tolist()], side)
    thin = 1 if view.scale < 3 else 2
    keep = include[drawn]
    uncovered = scene.uncovered
    width = 2 if len(drawn) <= MAX_LABELS else 1  # in a crowd, 2 px outlines hide the discs
    for g, t in zip(drawn[keep].tolist(), tier[keep].tolist()):
        xyxy = _to_view(view, scene.boxes[g])
        if t == 4:  # context: another level's GT
            box(img, xyxy, _faint(gt_colour(g)), 1)
            continue
        if scene.floor_changed[g]:
            dashed_box(img, _to_view(view, scene.floored[g]), gt_colour(g), thin)
        if uncovered[g]:
            x0, y0, x1, y1 = np.rint(np.clip(xyxy, -8, 1e5)).astype(int).tolist()
            hazard_rectangle(img, x0, y0, x1, y1)
        else:
            box(img, xyxy, gt_colour(g), width)


def _faint(colour: Colour) -> Colour:
    """Half way to the canvas grey: a GT that has nothing to do with this level."""
    b, g, r = (round((c + k) / 2) for c, k in zip(colour, BACKGROUND))
    return b, g, r


def _draw_red(img: np.ndarray, lv: _Level, red: np.ndarray, drawn: np.ndarray) -> None:
    """Offending anchors: the cell filled red, the output owner's colour as a dot on the
    anchor point; offending GT rows framed red outside their box."""
    cells, scene = lv.cells, lv.scene
    ny, nx = cells.ny, cells.nx
    _leads(img, lv, red[:MAX_LABELS])
    selected = np.zeros(ny * nx, bool)
    selected[red] = True
    colour = np.broadcast_to(np.asarray(VIOLATION, np.uint8), (ny, nx, 3))
    alpha = np.full((ny, nx), RED_ALPHA)
    fill_cells(img, cells, selected.reshape(ny, nx), colour, alpha, outline=2)
    owned = selected & (lv.owner >= 0)
    owner_colour = _PALETTE[np.maximum(lv.owner, 0) % len(PALETTE)].reshape(ny, nx, 3)
    centre_dots(img, cells, owned.reshape(ny, nx), owner_colour, max(1.5, cells.side / 5))
    for g in drawn.tolist():
        if g in scene.red_gts:
            frame = _to_view(cells.view, scene.boxes[g]) + np.array([-3, -3, 3, 3])
            box(img, frame, VIOLATION, 2)


def _leads(img: np.ndarray, lv: _Level, red: np.ndarray) -> None:
    """A line from each offending anchor to its output owner's box, where the anchor lies
    outside the owner's (floored) box: the owner may be far away, and a dot alone would not
    say which box it is."""
    cells, scene = lv.cells, lv.scene
    owner = lv.owner[red]
    red, owner = red[owner >= 0], owner[owner >= 0]
    j, i = red // cells.nx, red % cells.nx
    x, y = (i + 0.5) * cells.stride, (j + 0.5) * cells.stride
    f = scene.floored[owner]
    outside = ~((x > f[:, 0]) & (x < f[:, 2]) & (y > f[:, 1]) & (y < f[:, 3]))
    view = cells.view
    for g, px, py in zip(owner[outside].tolist(), x[outside].tolist(), y[outside].tolist()):
        b = scene.boxes[g]
        qx, qy = np.clip(px, b[0], b[2]), np.clip(py, b[1], b[3])  # the box's nearest point
        p0 = (round(float(view.x(px)) * 16), round(float(view.y(py)) * 16))
        p1 = (round(float(view.x(qx)) * 16), round(float(view.y(qy)) * 16))
        cv2.line(img, p0, p1, gt_colour(g), 2, cv2.LINE_AA, shift=4)
        cv2.circle(img, p1, 3 * 16, gt_colour(g), -1, cv2.LINE_AA, shift=4)


def _red_labels(board: LabelBoard, lv: _Level, red: np.ndarray) -> None:
    """Check ids of offending anchors, right of the cell (else left, above, below); one
    label per text within a few cells, so that a red cluster says it once."""
    cells = lv.cells
    near = max(3 * cells.side, 40.0)
    xs, ys = cells.centre(red)
    said: dict[str, list[tuple[float, float]]] = {}
    placed = 0
    for a, x, y in zip((red + lv.start).tolist(), xs.tolist(), ys.tolist()):
        if placed >= MAX_LABELS:
            break
        text = ",".join(lv.scene.red[a])
        if any(abs(x - px) < near and abs(y - py) < near for px, py in said.get(text, [])):
            continue
        half = cells.side / 2
        w, h = board.size(text)
        spots = [
            (x + half + 2, y + h / 2),
            (x - half - 2 - w, y + h / 2),
            (x - w / 2, y - half - 2),
            (x - w / 2, y + half + h + 2),
        ]
        if board.put(text, spots, VIOLATION):
            said.setdefault(text, []).append((x, y))
            placed += 1


def _gt_labels(
    board: LabelBoard,
    scene: TalScene,
    rows: np.ndarray,
    front: np.ndarray,
    view: View,
    class_names: Sequence[str] | None,
) -> None:
    """``#row class`` over each box of ``rows`` (in order), in the row's colour; red with the
    check ids for a row a violation names, yellow for a row without a positive. ``front``:
    the label is drawn over a failing case's muting, not under it."""
    uncovered = scene.uncovered
    for g, on_top in zip(rows.tolist(), front.tolist()):
        c = int(scene.labels[g])
        known = class_names is not None and 0 <= c < len(class_names)
        name = class_names[c] if known else f"c{c}"  # type: ignore[index]
        text = f"#{g} {name}" + ("" if scene.valid[g] else " (padding)")
        bg = gt_colour(g)
        if g in scene.red_gts:
            text += " ! " + ",".join(scene.red_gts[g])
            bg = VIOLATION
        elif uncovered[g]:
            bg = UNMATCHED  # the legend says what yellow means: no positive
        x0, y0, x1, y1 = _to_view(view, scene.boxes[g]).tolist()
        h = board.size(text)[1]
        pad = 5 if g in scene.red_gts else 2  # clear of the red frame
        spots = [(x0, y0 - pad), (x0, y1 + h + pad), (x0 + 3, y0 + h + 3), (x1, y0 - pad)]
        board.put(text, spots, bg, "front" if on_top else "back")


def gt_colour(row: int) -> Colour:
    """The BGR colour of GT row ``row``: `PALETTE` indexed by the row modulo its length."""
    return PALETTE[int(row) % len(PALETTE)]


def _to_view(view: View, xyxy: np.ndarray) -> np.ndarray:
    return np.array([view.x(xyxy[0]), view.y(xyxy[1]), view.x(xyxy[2]), view.y(xyxy[3])])
