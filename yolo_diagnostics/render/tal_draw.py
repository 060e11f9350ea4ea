"""The drawing primitives of the TAL overlay: a view of the input, one level's cells in it,
cell fills, anchor dots, rings, solid and dashed boxes, and labels that do not overlap.

A `View` maps network pixels to drawing pixels (a region of the input, scaled). Cells are
filled through `LevelCells`, per-pixel cell indices of one level in a view, so a fill costs
the same for one anchor as for all of them; rings, boxes and labels are one OpenCV call each
and are capped by the caller. Lines are drawn without anti-aliasing: axis-aligned edges stay
one exact colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from .style import FONT, LABEL_SCALE, Colour, label


@dataclass(frozen=True)
class View:
    """The region ``[x0, x1) x [y0, y1)`` of the network input (pixels), drawn ``scale``
    times larger (smaller when below 1)."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the drawing."""
        return round((self.y1 - self.y0) * self.scale), round((self.x1 - self.x0) * self.scale)

    def x(self, x: np.ndarray | float) -> np.ndarray:
        """Drawing column of network ``x``."""
        return (np.asarray(x, np.float64) - self.x0) * self.scale

    def y(self, y: np.ndarray | float) -> np.ndarray:
        """Drawing row of network ``y``."""
        return (np.asarray(y, np.float64) - self.y0) * self.scale

    def overlaps(self, boxes: np.ndarray) -> np.ndarray:
        """``bool[k]``: the xyxy boxes ``[k, 4]`` reach into the region."""
        return (
            (boxes[:, 2] >= self.x0)
            & (boxes[:, 0] <= self.x1)
            & (boxes[:, 3] >= self.y0)
            & (boxes[:, 1] <= self.y1)
        )


class LevelCells:
    """One level's cells in a view: per drawing row and column, the cell index and the
    distance (drawing pixels) of the pixel centre to the cell's nearer edge."""

    def __init__(self, view: View, stride: int, ny: int, nx: int) -> None:
        self.view, self.stride, self.ny, self.nx = view, stride, ny, nx
        self.side = stride * view.scale  # a cell's side in the drawing
        h, w = view.shape
        self.row, self.row_edge = self._axis(h, view.y0, view.scale, ny)
        self.col, self.col_edge = self._axis(w, view.x0, view.scale, nx)
        # cells whose anchor point is in the view, as [j0, j1) x [i0, i1)
        self.j0, self.j1 = math.ceil(view.y0 / stride - 0.5), math.ceil(view.y1 / stride - 0.5)
        self.i0, self.i1 = math.ceil(view.x0 / stride - 0.5), math.ceil(view.x1 / stride - 0.5)

    def _axis(
        self, size: int, origin: int, scale: float, cells: int
    ) -> tuple[np.ndarray, np.ndarray]:
        centre = origin + (np.arange(size) + 0.5) / scale  # network coordinate of each pixel
        index = np.clip(np.floor(centre / self.stride).astype(np.int64), 0, cells - 1)
        low = (index * self.stride - origin) * scale
        high = ((index + 1) * self.stride - origin) * scale
        pixel = np.arange(size) + 0.5
        return index, np.minimum(pixel - low, high - pixel)

    @cached_property
    def edge(self) -> np.ndarray:
        """``float64[h, w]``: distance of each pixel to its cell's nearer edge."""
        return np.minimum(self.row_edge[:, None], self.col_edge[None, :])

    @cached_property
    def centre_distance(self) -> np.ndarray:
        """``float64[h, w]``: distance of each pixel to its cell's centre (anchor point)."""
        half = self.side / 2
        return np.hypot(half - self.row_edge[:, None], half - self.col_edge[None, :])

    def pixels(self, grid: np.ndarray) -> np.ndarray:
        """A per-cell ``[ny, nx, ...]`` array read at every pixel: ``[h, w, ...]``."""
        return grid[self.row[:, None], self.col[None, :]]

    def in_view(self, anchors: np.ndarray) -> np.ndarray:
        """``bool[k]``: these level-local anchor indices have their point in the view."""
        j, i = anchors // self.nx, anchors % self.nx
        return (j >= self.j0) & (j < self.j1) & (i >= self.i0) & (i < self.i1)

    def centre(self, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drawing ``(x, y)`` of the anchor points of level-local ``anchors``."""
        j, i = anchors // self.nx, anchors % self.nx
        return self.view.x((i + 0.5) * self.stride), self.view.y((j + 0.5) * self.stride)


def outline_width(side: float) -> int:
    """The outline of a filled cell: 1 px, 2 px once cells are large."""
    return 1 if side < 24 else 2


def fill_cells(
    img: np.ndarray,
    cells: LevelCells,
    selected: np.ndarray,
    colour: np.ndarray,
    alpha: np.ndarray,
    *,
    outline: int,
    gap: float = 0.0,
) -> None:
    """Fill the ``selected`` cells (``bool[ny, nx]``) with ``colour`` (``uint8[ny, nx, 3]``)
    blended at ``alpha`` (``float[ny, nx]``), an ``outline`` px border in the full colour,
    and ``gap`` px of each cell's edge left as it was (so that neighbours stay apart)."""
    if not selected.any():  # most panels have few red cells: skip the full-size work
        return
    on = cells.pixels(selected) & (cells.edge >= gap)
    border = on & (cells.edge < gap + outline)
    a = cells.pixels(alpha.astype(np.float32))[on][:, None]
    full = cells.pixels(colour)
    img[on] = np.rint(img[on].astype(np.float32) * (1 - a) + full[on] * a).astype(np.uint8)
    img[border] = full[border]


def fill_discs(
    img: np.ndarray,
    cells: LevelCells,
    selected: np.ndarray,
    colour: np.ndarray,
    alpha: np.ndarray,
    *,
    radius: float,
    outline: int,
) -> None:
    """A disc of ``radius`` drawing px on the anchor point of each ``selected`` cell
    (``bool[ny, nx]``): ``colour`` (``uint8[ny, nx, 3]``) blended at ``alpha``
    (``float[ny, nx]``) inside an ``outline`` px rim in the full colour."""
    if not selected.any():  # most levels have few positives: skip the full-size work
        return
    distance = cells.centre_distance
    on = cells.pixels(selected) & (distance <= radius)
    rim = on & (distance > radius - outline)
    a = cells.pixels(alpha.astype(np.float32))[on][:, None]
    full = cells.pixels(colour)
    img[on] = np.rint(img[on].astype(np.float32) * (1 - a) + full[on] * a).astype(np.uint8)
    img[rim] = full[rim]


def centre_dots(
    img: np.ndarray,
    cells: LevelCells,
    selected: np.ndarray,
    colour: np.ndarray | Colour,
    radius: float,
    alpha: float = 1.0,
) -> None:
    """A round dot of ``radius`` drawing px on the anchor point of each ``selected`` cell,
    in ``colour`` (one colour, or ``uint8[ny, nx, 3]`` per cell)."""
    if not selected.any():
        return
    on = cells.pixels(selected) & (cells.centre_distance <= radius)
    if isinstance(colour, np.ndarray):
        paint = cells.pixels(colour)[on].astype(np.float32)
    else:
        paint = np.asarray(colour, np.float32)
    img[on] = np.rint(img[on].astype(np.float32) * (1 - alpha) + paint * alpha).astype(np.uint8)


def disc_radius(side: float) -> float:
    """A positive's disc: most of a fine cell, clear of the ring of a lost conflict; at most
    `MAX_DISC` px, so that a coarse zoomed cell does not spill over a small GT."""
    return min(side * 0.36, MAX_DISC)


MAX_DISC = 12.0


def dot_radius(side: float) -> float:
    """An anchor point's dot: about a pixel on a fine level, a few on a zoomed one."""
    return float(np.clip(side / 14, 1.0, 3.5))


def rings(
    img: np.ndarray, xs: np.ndarray, ys: np.ndarray, colours: list[Colour], side: float
) -> None:
    """A ring inside the cell at each ``(x, y)`` (drawing px), one colour each; a second
    ring at the same place is drawn smaller, so that two losers both show."""
    seen: dict[tuple[int, int], int] = {}
    thickness = 1 if side < 20 else 2
    for x, y, colour in zip(xs.tolist(), ys.tolist(), colours):
        key = (round(x), round(y))
        k = seen[key] = seen.get(key, -1) + 1
        radius = min(side * 0.48, MAX_DISC + 4) - k * (thickness + 1)
        if radius < 1.5:
            continue
        centre = (round(x * 16), round(y * 16))
        cv2.circle(img, centre, round(radius * 16), colour, thickness, cv2.LINE_AA, shift=4)


def box(img: np.ndarray, xyxy: np.ndarray, colour: Colour, thickness: int) -> None:
    """An axis-aligned box, drawing px, one exact colour."""
    x0, y0, x1, y1 = _clip(img, xyxy)
    cv2.rectangle(img, (x0, y0), (x1, y1), colour, thickness, cv2.LINE_8)


def dashed_box(img: np.ndarray, xyxy: np.ndarray, colour: Colour, thickness: int) -> None:
    """A dashed axis-aligned box: dashes of ``DASH * thickness`` px, gaps of ``DASH_GAP *
    thickness`` px, each dash a filled rectangle (a thick line's round caps would close the
    gaps)."""
    x0, y0, x1, y1 = _clip(img, xyxy)
    dash, period = DASH * thickness, (DASH + DASH_GAP) * thickness
    low = -(thickness // 2)  # the band [c + low, c + low + thickness) straddles the edge
    for y in (y0, y1):
        for start in range(x0, x1 + 1, period):
            stop = min(start + dash, x1 + 1) - 1
            cv2.rectangle(img, (start, y + low), (stop, y + low + thickness - 1), colour, -1)
    for x in (x0, x1):
        for start in range(y0, y1 + 1, period):
            stop = min(start + dash, y1 + 1) - 1
            cv2.rectangle(img, (x + low, start), (x + low + thickness - 1, stop), colour, -1)


DASH, DASH_GAP = 4, 3


def _clip(img: np.ndarray, xyxy: np.ndarray) -> tuple[int, int, int, int]:
    """Rounded drawing coordinates, kept within a few widths of the image (OpenCV's int)."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = np.rint(xyxy).astype(np.int64).tolist()
    x0, x1 = (int(np.clip(v, -8, w + 8)) for v in (x0, x1))
    y0, y1 = (int(np.clip(v, -8, h + 8)) for v in (y0, y1))
    return x0, y0, x1, y1


class LabelBoard:
    """Labels placed where they overlap no label placed before, drawn later by group (so that
    a failing case's context labels can be muted with the rest). A label with no free place
    among its candidate spots is skipped and counted in ``hidden``."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.height, self.width = shape[:2]
        self.placed: list[tuple[int, int, int, int]] = []
        self.planned: list[tuple[str, int, int, Colour, str]] = []
        self.hidden = 0

    @staticmethod
    def size(text: str) -> tuple[int, int]:
        """``(width, height)`` of a label as `style.label` draws it."""
        (tw, th), base = cv2.getTextSize(text, FONT, LABEL_SCALE, 1)
        return tw + 6, th + base + 4

    def put(
        self, text: str, spots: list[tuple[float, float]], bg: Colour, group: str = "front"
    ) -> bool:
        """Reserve the first free spot (a bottom-left corner, drawing px) for ``text``."""
        w, h = self.size(text)
        for x, y in spots:
            x = int(min(max(x, 0), self.width - w))  # as `label` keeps it inside the image
            y = int(min(max(y, h), self.height))
            rect = (x, y - h, x + w, y)
            if not any(_overlap(rect, r) for r in self.placed):
                self.placed.append(rect)
                self.planned.append((text, x, y, bg, group))
                return True
        self.hidden += 1
        return False

    def draw(self, img: np.ndarray, group: str) -> None:
        """Draw the labels reserved in ``group``."""
        for text, x, y, bg, where in self.planned:
            if where == group:
                label(img, text, x, y, bg)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
