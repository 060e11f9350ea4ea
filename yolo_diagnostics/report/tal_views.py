"""One image of a TAL scan drawn: the network input and, per level, each target's candidates.

`tal_image_views` draws image ``k`` of a `TalScanResult` as one figure of tiles: the
letterboxed input with the targets, then one tile per pyramid level with its anchor points
(small dots) and each target's candidate anchor points (discs in the target's colour: a
target's colour is its row in the page's table, ``PALETTE[row % 16]``, as the TAL overlays
colour GT rows). A box the small-box floor enlarges has its floored box dashed; a target
without a candidate at any level is dashed yellow and black, as the anchor scan marks the
unmatched. When small targets are hard to see at full size, a close-up enlarges the region
around those below ``topk``. Drawn with the TAL overlay's primitives (`render.tal_draw`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from ..data.letterbox import letterbox
from ..render.levels import MAX_LABELS
from ..render.panels import tile_panels, with_title
from ..render.style import BACKGROUND, MIN_PANEL_SIDE, PALETTE, UNMATCHED, hazard_rectangle
from ..render.tal_draw import (
    LabelBoard,
    LevelCells,
    View,
    dashed_box,
    disc_radius,
    dot_radius,
    outline_width,
)
from ..render.targets import left_out
from ..scan.candidates import candidate_ranges, floored_boxes
from ..scan.tal import TalScanResult, below_topk
from .tal_legend import legend
from .views import image_pixels

MAX_PANEL_SIDE = 1280  # inputs larger than this are drawn shrunk to it
MAX_GTS = 300  # boxes per tile, smallest candidate sets first; the title says what was left out
CLOSEUP_SIDE = 192  # network px at most a side: drawn at least 3x
PHOTO_DIM = 0.45  # how far a level tile's photo fades toward the canvas grey
POINT_ALPHA = 0.55  # the anchor points' dots, as the TAL overlays draw them
_POINT = np.array((235, 235, 235), np.float32)
DISC_ALPHA = 0.9  # a candidate's disc over the dimmed photo
FEW_TARGETS = 8  # up to this many, labels carry the class too
_PALETTE = np.asarray(PALETTE, np.uint8)

Region = tuple[int, int, int, int]


@dataclass(frozen=True)
class TalImageViews:
    """What `tal_image_views` made.

    Attributes:
        figures: ``{"candidates" | "closeup": uint8[h, w, 3] BGR}``.
        targets: one dict per target (id, name, box, input_wh, floored, candidates per level,
            total, total without the floor, status), in the order the figures number them.
        closeup: the close-up's region ``(x0, y0, x1, y1)`` in input pixels, or ``None``.
        missing: why the figures are drawn on grey instead of the image ('' when they are not).
    """

    figures: dict[str, np.ndarray]
    targets: list[dict[str, Any]]
    closeup: Region | None
    missing: str


@dataclass(frozen=True)
class _Image:
    """Image ``k``'s targets in the figure's terms (rows in dataset order)."""

    result: TalScanResult
    boxes: np.ndarray  # float64[n, 4] xyxy network px
    floored: np.ndarray  # float64[n, 4] the boxes the candidate test uses
    enlarged: np.ndarray  # bool[n]
    ranges: list[np.ndarray]  # per level int64[n, 4]: x_lo, x_hi, y_lo, y_hi
    total: np.ndarray  # int64[n]
    labels: list[str]


def tal_image_views(result: TalScanResult, k: int) -> TalImageViews:
    """Draw image ``k``'s figures (see the module docstring) and its table of targets."""
    ds, p = result.dataset, result.problem
    mine = result.targets_of(k)
    boxes = torch.from_numpy(result.boxes[mine])
    ranges = [torch.stack(r, 1).numpy() for r in candidate_ranges(p, boxes)]
    total = result.total[mine]
    names = ds.class_names
    cls = result.cls[mine].tolist()
    few = len(mine) <= FEW_TARGETS
    image = _Image(
        result=result,
        boxes=result.boxes[mine].astype(np.float64),
        floored=floored_boxes(p, boxes).double().numpy(),
        enlarged=result.floored[mine],
        ranges=ranges,
        total=total,
        labels=[f"#{j} {names[c]}" if few else f"#{j}" for j, c in enumerate(cls)],
    )
    pixels, missing = image_pixels(result, k)  # type: ignore[arg-type]  # reads .dataset only
    photo = None if pixels is None else letterbox(pixels, p.img_size).image
    figures = {"candidates": _figure(image, photo, None)}
    region = _closeup_region(image)
    if region is not None:
        figures["closeup"] = _figure(image, photo, region)
    height, width = p.img_size
    bare = result.total_without_floor[mine]
    table = [
        {
            "id": int(ds.box_ids[result.box[i]]),
            "name": names[c],
            "box": (x0, y0, x1 - x0, y1 - y0),
            "input_wh": (result.targets[i, 2] * width, result.targets[i, 3] * height),
            "floored": bool(result.floored[i]),
            "per_level": result.per_level[i].tolist(),
            "total": int(t),
            "without_floor": int(b),
            "status": _status(int(t), p.topk),
        }
        for i, c, (x0, y0, x1, y1), t, b in zip(
            mine.tolist(), cls, ds.pixel_boxes(result.box[mine]).tolist(), total, bare
        )
    ]
    return TalImageViews(figures, table, region, missing)


def _status(total: int, topk: int) -> str:
    if total == 0:
        return "no candidate"
    return f"below topk ({total} < {topk})" if total < topk else "at least topk"


def _figure(image: _Image, photo: np.ndarray | None, region: Region | None) -> np.ndarray:
    """The input tile and one tile per level over the legend, tiled in two columns."""
    p = image.result.problem
    view = _view(p.img_size, p.strides[-1], region)
    base = _background(photo, view, dim=0.0)
    dimmed = _background(photo, view, dim=PHOTO_DIM)
    drawn = _drawn(image, view)
    zero = image.total == 0
    tiles = [with_title(_input_tile(image, base, view, drawn), _input_title(image, drawn, region))]
    for level, stride in enumerate(p.strides):
        img = dimmed.copy()
        cells = _level_cells(view, stride, *p.feature_shapes[level])
        found = _level_tile(img, image, level, cells, drawn)
        ny, nx = p.feature_shapes[level]
        r = image.ranges[level]
        has = int(((r[:, 1] > r[:, 0]) & (r[:, 3] > r[:, 2])).sum())
        title = (
            f"level {level}   stride {stride}   grid {ny} x {nx}",
            f"{found:,} candidate points   {has:,} of {len(zero):,} targets have one here",
        )
        tiles.append(with_title(img, title))
    grid = tile_panels(tiles, columns=2)
    notes = []
    if p.stal and image.enlarged.any():
        notes.append(
            f"small-box floor: sides under {p.stal_below:g} px grow to {p.stal_side:g} px about "
            f"the centre for the candidate test only ({int(image.enlarged.sum())} box(es), dashed)"
        )
    hidden = len(image.boxes) - len(drawn)
    if hidden and region is None:
        notes.append(
            f"{hidden} box(es) not drawn: at most {MAX_GTS}, smallest candidate sets first"
        )
    strip = legend(
        grid.shape[1], floored=bool(image.enlarged.any()), zero=bool(zero.any()), notes=notes
    )
    return np.vstack((grid, strip))


def _input_title(image: _Image, drawn: np.ndarray, region: Region | None) -> tuple[str, str]:
    p = image.result.problem
    h, w = p.img_size
    first = f"network input {w} x {h} (W x H)"
    if region is not None:
        x0, y0, x1, y1 = region
        first += f"   close-up x {x0}-{x1}, y {y0}-{y1}"
    zero = int((image.total == 0).sum())
    below = int(below_topk(image.total, p.topk).sum())
    shown = left_out(len(drawn), len(image.boxes)) if region is None else ""
    second = (
        f"{len(image.boxes)} targets{shown}"
        f"   {int(image.enlarged.sum())} floored   "
        f"{zero} without a candidate   {below} below topk = {p.topk}"
    )
    return first, second


def _drawn(image: _Image, view: View) -> np.ndarray:
    """Rows reaching into the view, fewest candidates first, at most `MAX_GTS`."""
    reach = view.overlaps(image.boxes) | view.overlaps(image.floored)
    rows = np.flatnonzero(reach)
    return rows[np.argsort(image.total[rows], kind="stable")][:MAX_GTS]


def _input_tile(image: _Image, img: np.ndarray, view: View, drawn: np.ndarray) -> np.ndarray:
    """The photo (or grey) with every drawn target's box, floored box and label."""
    board = LabelBoard(img.shape)
    _boxes(img, image, view, drawn, board)
    board.draw(img, "front")
    return img


def _level_tile(
    img: np.ndarray, image: _Image, level: int, cells: LevelCells, drawn: np.ndarray
) -> int:
    """Anchor points, candidates (fewest-candidate target on top), boxes; returns how many
    anchor points of the level are a candidate of some target."""
    ny, nx, side = cells.ny, cells.nx, cells.side
    dots = _disc(cells, dot_radius(side))
    img[dots] = np.rint(img[dots] * (1 - POINT_ALPHA) + _POINT * POINT_ALPHA).astype(np.uint8)
    owner = np.full((ny, nx), -1, np.int64)
    r = image.ranges[level]
    for g in np.argsort(-image.total, kind="stable").tolist():  # smaller sets drawn last
        x_lo, x_hi, y_lo, y_hi = r[g].tolist()
        owner[y_lo:y_hi, x_lo:x_hi] = g
    _discs(img, cells, owner, disc_radius(side), outline_width(side))
    board = LabelBoard(img.shape)
    _boxes(img, image, cells.view, drawn, board)
    board.draw(img, "front")
    return int((owner >= 0).sum())


def _discs(img: np.ndarray, cells: LevelCells, owner: np.ndarray, radius: float, rim: int) -> None:
    """A disc on each anchor point with an owner (``int64[ny, nx]``, -1 for none) in the
    owner's colour, blended at `DISC_ALPHA` inside a ``rim`` px rim in the full colour: the
    look of `render.tal_draw.fill_discs`, with one per-pixel gather instead of three."""
    if not (owner >= 0).any():
        return
    at = cells.pixels(owner)
    on = (at >= 0) & _disc(cells, radius)
    colour = _PALETTE[at[on] % len(PALETTE)].astype(np.float32)
    mixed = img[on] * np.float32(1 - DISC_ALPHA) + colour * np.float32(DISC_ALPHA)
    edge = _ring(cells, radius, rim)[on]
    img[on] = np.where(edge[:, None], colour, np.rint(mixed)).astype(np.uint8)


@functools.lru_cache(maxsize=32)
def _level_cells(view: View, stride: int, ny: int, nx: int) -> LevelCells:
    """One level's cells in a view, made once per figure layout (their per-pixel distances
    are the costly part; pages of one scan share a few layouts)."""
    return LevelCells(view, stride, ny, nx)


@functools.lru_cache(maxsize=64)
def _disc_mask(cells: LevelCells, radius: float) -> np.ndarray:
    return cells.centre_distance <= radius


@functools.lru_cache(maxsize=64)
def _ring_mask(cells: LevelCells, radius: float, rim: int) -> np.ndarray:
    return (cells.centre_distance <= radius) & (cells.centre_distance > radius - rim)


def _disc(cells: LevelCells, radius: float) -> np.ndarray:
    """``bool[h, w]``: pixels within ``radius`` of their cell's anchor point (cached)."""
    return _disc_mask(cells, radius)


def _ring(cells: LevelCells, radius: float, rim: int) -> np.ndarray:
    """``bool[h, w]``: the outer ``rim`` px of `_disc` (cached)."""
    return _ring_mask(cells, radius, rim)


def _boxes(
    img: np.ndarray, image: _Image, view: View, drawn: np.ndarray, board: LabelBoard
) -> None:
    """Floored boxes dashed, boxes solid in their row's colour, those without a candidate
    dashed yellow and black; labels placed where they overlap no other."""
    thin = 1 if view.scale < 3 else 2
    width = 2 if len(drawn) <= MAX_LABELS else 1  # in a crowd, 2 px outlines hide the discs
    for g in drawn.tolist():
        colour = PALETTE[g % len(PALETTE)]
        xyxy = _to_view(view, image.boxes[g])
        if image.enlarged[g]:
            dashed_box(img, _to_view(view, image.floored[g]), colour, thin)
        if image.total[g] == 0:
            x0, y0, x1, y1 = np.rint(np.clip(xyxy, -8, 1e5)).astype(int).tolist()
            hazard_rectangle(img, x0, y0, x1, y1)
        else:
            _rectangle(img, xyxy, colour, width)
    for g in drawn[:MAX_LABELS].tolist():
        x0, y0, x1, y1 = _to_view(view, image.boxes[g]).tolist()
        text = image.labels[g]
        h = board.size(text)[1]
        bg = UNMATCHED if image.total[g] == 0 else PALETTE[g % len(PALETTE)]
        board.put(text, [(x0, y0 - 2), (x0, y1 + h + 2), (x1 + 2, y0 + h), (x0 - 40, y0 + h)], bg)


def _closeup_region(image: _Image) -> Region | None:
    """Around the targets below topk or without a candidate whose floored box fits in a
    small region -- as many as fit, fewest candidates first -- aligned to the coarsest
    stride; None when there is none, or when the input is drawn enlarged already."""
    p = image.result.problem
    if max(p.img_size) < MIN_PANEL_SIDE:
        return None
    small = np.flatnonzero(image.total < p.topk)
    small = small[np.argsort(image.total[small], kind="stable")]
    region = None
    for k in range(len(small)):
        grown = _around(p.img_size, p.strides[-1], image.floored[small[: k + 1]])
        if grown is None:
            if region is None:
                continue  # this one alone is too large: try the next
            break
        region = grown
    return region


def _around(img_size: tuple[int, int], s: int, boxes: np.ndarray) -> Region | None:
    """``boxes`` grown by a coarsest cell and aligned to it, clipped to the input; None when a
    side would exceed `CLOSEUP_SIDE` (three coarsest cells at least) or half the input's."""
    h, w = img_size
    most = max(CLOSEUP_SIDE, 3 * s)
    x0 = max(0, (math.floor(boxes[:, 0].min()) // s - 1) * s)
    y0 = max(0, (math.floor(boxes[:, 1].min()) // s - 1) * s)
    x1 = min(w, (math.ceil(boxes[:, 2].max()) // s + 2) * s)
    y1 = min(h, (math.ceil(boxes[:, 3].max()) // s + 2) * s)
    if x1 - x0 > min(w // 2, most) or y1 - y0 > min(h // 2, most):
        return None
    return x0, y0, x1, y1


def _view(img_size: tuple[int, int], coarsest: int, region: Region | None) -> View:
    """The whole input, or ``region``, at the scale its larger side asks for."""
    h, w = img_size
    x0, y0, x1, y1 = (0, 0, w, h) if region is None else region
    side = max(x1 - x0, y1 - y0)
    if side < MIN_PANEL_SIDE:
        scale = float(math.ceil(MIN_PANEL_SIDE / side))  # whole zooms keep cells equal
    else:
        scale = min(1.0, MAX_PANEL_SIDE / side)
    return View(x0, y0, x1, y1, scale)


def _background(photo: np.ndarray | None, view: View, dim: float) -> np.ndarray:
    """The view of ``photo`` faded ``dim`` of the way to the canvas grey; or the grey."""
    h, w = view.shape
    if photo is None:
        out = np.empty((h, w, 3), np.uint8)
        out[:] = BACKGROUND
        return out
    crop = np.ascontiguousarray(photo[view.y0 : view.y1, view.x0 : view.x1])
    mode = cv2.INTER_NEAREST if view.scale >= 1 else cv2.INTER_AREA
    shown = cv2.resize(crop, (w, h), interpolation=mode)
    if dim == 0:
        return shown
    return np.rint(shown * (1 - dim) + np.asarray(BACKGROUND) * dim).astype(np.uint8)


def _rectangle(img: np.ndarray, xyxy: np.ndarray, colour: tuple[int, int, int], width: int) -> None:
    """`render.tal_draw.box` (one exact colour, kept within a few pixels of the image),
    without its per-value numpy calls: a page draws thousands."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = (round(float(v)) for v in xyxy)
    x0, x1 = (min(max(v, -8), w + 8) for v in (x0, x1))
    y0, y1 = (min(max(v, -8), h + 8) for v in (y0, y1))
    cv2.rectangle(img, (x0, y0), (x1, y1), colour, width, cv2.LINE_8)


def _to_view(view: View, xyxy: np.ndarray) -> np.ndarray:
    return np.array([view.x(xyxy[0]), view.y(xyxy[1]), view.x(xyxy[2]), view.y(xyxy[3])])
