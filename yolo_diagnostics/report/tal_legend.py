"""The legend strip under a TAL scan's image figure: one swatch per style it uses, then notes.

Swatches are drawn by the tiles' own primitives (`render.tal_draw`, `render.style`), so the
legend cannot drift from the figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..render.style import (
    BACKGROUND,
    CANVAS,
    FONT,
    LABEL_SCALE,
    LEGEND_ROW_H,
    PAD,
    PALETTE,
    TEXT,
    hazard_rectangle,
    text_fit,
)
from ..render.tal_draw import LevelCells, View, box, dashed_box, fill_discs

SWATCH = 18
GT = "target box: colour of its row in the table, labelled #row"
FLOORED = "floored box (the candidate test's only)"
POINT = "anchor point"
CANDIDATE = "candidate: an anchor point inside the (floored) box, its target's colour"
NONE = "target without a candidate at any level"


def legend(width: int, *, floored: bool, zero: bool, notes: Sequence[str] = ()) -> np.ndarray:
    """Swatch and name per style the figure uses, wrapped to ``width``; a row per note."""
    entries = [GT, POINT, CANDIDATE] + [FLOORED] * floored + [NONE] * zero
    rows: list[list[tuple[str, int]]] = [[]]
    x = PAD
    for name in entries:
        span = SWATCH + 6 + cv2.getTextSize(name, FONT, LABEL_SCALE, 1)[0][0] + 22
        if rows[-1] and x + span > width - PAD:
            rows.append([])
            x = PAD
        rows[-1].append((name, x))
        x += span
    strip = np.empty(((len(rows) + len(notes)) * LEGEND_ROW_H + PAD, width, 3), np.uint8)
    strip[:] = CANVAS
    for r, row in enumerate(rows):
        y = r * LEGEND_ROW_H + (LEGEND_ROW_H - SWATCH) // 2
        for name, x in row:
            strip[y : y + SWATCH, x : x + SWATCH] = _swatch(name)
            cv2.putText(
                strip, name, (x + SWATCH + 6, y + 14), FONT, LABEL_SCALE, TEXT, 1, cv2.LINE_AA
            )
    for k, note in enumerate(notes):
        y = (len(rows) + k) * LEGEND_ROW_H + (LEGEND_ROW_H - SWATCH) // 2
        text_fit(strip, "note: " + note, PAD, y + 14, width - 2 * PAD, bold=False)
    return strip


def _swatch(name: str) -> np.ndarray:
    """A sample of a style, drawn by the figure's primitives."""
    s = SWATCH
    img = np.empty((s, s, 3), np.uint8)
    img[:] = BACKGROUND
    if name == GT:
        for k in range(3):
            box(img, np.array([1 + 2 * k, 1 + 2 * k, s - 2 - 2 * k, s - 2 - 2 * k]), PALETTE[k], 1)
    elif name == FLOORED:
        dashed_box(img, np.array([1, 1, s - 2, s - 2]), PALETTE[0], 1)
    elif name == POINT:
        cv2.circle(img, (s // 2, s // 2), 2, (235, 235, 235), -1, cv2.LINE_AA)
    elif name == CANDIDATE:
        grid = LevelCells(View(0, 0, s, s, 1.0), s, 1, 1)
        colour = np.asarray(PALETTE[1], np.uint8)[None, None]
        fill_discs(
            img, grid, np.ones((1, 1), bool), colour, np.full((1, 1), 0.9), radius=6, outline=1
        )
    else:
        hazard_rectangle(img, 2, 2, s - 3, s - 3)
    return img
