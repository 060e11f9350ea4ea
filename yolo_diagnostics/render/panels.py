"""Panels and what they are drawn with: tiling, zoom, the title strip, cell fills, PNG.

A panel is ``uint8[h, w, 3]`` BGR at network resolution (zoomed `zoom` times for small
inputs). Cell styles are boolean pixel masks blended at once, so filling costs the same
for one row as for thousands.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import DiagnosticsError
from ..problem import Problem
from .style import (
    CANVAS,
    CENTRE,
    CENTRE_ALPHA,
    EXTRA,
    GRID,
    GRID_ALPHA,
    HATCH_ALPHA,
    MIN_PANEL_SIDE,
    MISSING,
    NEIGHBOUR,
    NEIGHBOUR_ALPHA,
    PAD,
    TITLE_H,
    VIOLATION,
    VIOLATION_ALPHA,
    Colour,
    text_fit,
)

_HATCH = 8  # hatch period in pixels


def tile_panels(panels: Sequence[np.ndarray], columns: int = 2) -> np.ndarray:
    """Tile ``uint8[h_i, w_i, 3]`` panels row-major into ``min(columns, n)`` columns.

    Every tile is as large as the largest panel (panels sit in its top-left corner); `PAD`
    pixels of `CANVAS` lie around and between tiles. Returns
    ``uint8[rows * h + (rows + 1) * PAD, cols * w + (cols + 1) * PAD, 3]``.
    """
    if not panels:
        raise DiagnosticsError("tile_panels: expected at least one panel")
    if columns < 1:
        raise DiagnosticsError(f"tile_panels: columns must be >= 1, got {columns}")
    for k, p in enumerate(panels):
        if p.ndim != 3 or p.shape[2] != 3 or p.dtype != np.uint8:
            raise DiagnosticsError(
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


def zoomed(img: np.ndarray, k: int) -> np.ndarray:
    """``img`` enlarged ``k`` times, nearest neighbour (pixels stay sharp squares)."""
    if k == 1:
        return img
    return cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)


def with_title(panel: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``panel`` under a `TITLE_H` strip holding two lines, each shrunk to fit the width."""
    strip = np.empty((TITLE_H, panel.shape[1], 3), np.uint8)
    strip[:] = CANVAS
    for k, text in enumerate(lines[:2]):
        text_fit(strip, text, 2, 17 + 20 * k, panel.shape[1] - 4, bold=k == 0)
    return np.vstack((strip, panel))


def encode_png(img: np.ndarray) -> bytes:
    """``uint8[h, w, 3]`` BGR as PNG bytes."""
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - OpenCV fails only on invalid arrays, which we never build
        raise RuntimeError("cv2.imencode failed to encode the overlay as PNG")
    return buf.tobytes()


# ----------------------------------------------------------------------------- cell fills
@functools.lru_cache(maxsize=8)
def patterns(h: int, w: int) -> Patterns:
    """The `Patterns` of a panel size, made once: read-only, so figures share them."""
    return Patterns(h, w)


class Patterns:
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


def cell_mask(gi: np.ndarray, gj: np.ndarray, ny: int, nx: int, stride: int) -> np.ndarray:
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


def draw_grid(img: np.ndarray, stride: int) -> None:
    """Light 1 px lines on the cell edges ``x = k * stride`` (and the last column/row)."""
    mask = np.zeros(img.shape[:2], bool)
    mask[::stride, :] = True
    mask[:, ::stride] = True
    mask[-1, :] = True
    mask[:, -1] = True
    _blend(img, mask, GRID, GRID_ALPHA)


def fill_centre(img: np.ndarray, cells: np.ndarray, p: Patterns, stride: int) -> None:
    if not cells.any():  # most panels have none of a style: skip its full-size masks
        return
    _blend(img, cells, CENTRE, CENTRE_ALPHA)
    _blend(img, cells & p.border(stride, 1), CENTRE, 1.0)


def fill_neighbour(img: np.ndarray, cells: np.ndarray, p: Patterns, stride: int) -> None:
    if not cells.any():  # most panels have none of a style: skip its full-size masks
        return
    _blend(img, cells, NEIGHBOUR, NEIGHBOUR_ALPHA)
    _blend(img, cells & p.hatch, NEIGHBOUR, HATCH_ALPHA)
    _blend(img, cells & p.border(stride, 1) & p.dash, NEIGHBOUR, 1.0)


def fill_violation(img: np.ndarray, cells: np.ndarray, p: Patterns, stride: int) -> None:
    if not cells.any():  # most panels have none of a style: skip its full-size masks
        return
    _blend(img, cells, VIOLATION, VIOLATION_ALPHA)
    _blend(img, cells & p.border(stride, 2), VIOLATION, 1.0)


def fill_extra(img: np.ndarray, cells: np.ndarray, p: Patterns, stride: int) -> None:
    if not cells.any():  # most panels have none of a style: skip its full-size masks
        return
    _blend(img, cells & p.cross, EXTRA, 1.0)
    _blend(img, cells & p.border(stride, 1), EXTRA, 1.0)


def fill_missing(img: np.ndarray, cells: np.ndarray, p: Patterns, stride: int) -> None:
    if not cells.any():  # most panels have none of a style: skip its full-size masks
        return
    _blend(img, cells & p.border(stride, 2) & p.dash, MISSING, 1.0)
