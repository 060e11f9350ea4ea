"""The legend strip under a TAL figure: one swatch per style the figure uses, and the score
scale of the positives' fill.

Swatches are drawn by the panels' own primitives (`tal_draw`) on a one-cell `View`, so the
legend cannot drift from the panels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .style import (
    BACKGROUND,
    CANVAS,
    FONT,
    LABEL_SCALE,
    LEGEND_ROW_H,
    PAD,
    PALETTE,
    TEXT,
    VIOLATION,
    hazard_rectangle,
    text_fit,
)
from .tal_draw import (
    LevelCells,
    View,
    box,
    dashed_box,
    disc_radius,
    fill_cells,
    fill_discs,
    rings,
)

SWATCH = 18
SCORE_STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the cells of the score scale
SCORE_FLOOR = 0.3
"""A positive's fill opacity at score 0 (it still shows); score 1 is opaque."""

GT = "GT box: colour of its row, labelled #row class"
FLOORED = "floored box (the candidate test's only)"
POINT = "anchor point"
SCORE = "positive, fill = target score 0 .. 1"
LOST = "ring: a top-k proposal that lost the conflict (its GT's colour)"
RED = "offending anchor: red, check id (ref #g: the reference's owner), a line to the owner's box"
UNCOVERED = "GT without a positive"


def fill_alpha(score: np.ndarray) -> np.ndarray:
    """The opacity of a positive's fill for its target score (in [0, 1])."""
    return SCORE_FLOOR + (1 - SCORE_FLOOR) * np.clip(score, 0, 1)


def legend_strip(width: int, entries: Sequence[str], notes: Sequence[str]) -> np.ndarray:
    """Swatch and name per entry, wrapped to ``width``; each note on a row of its own."""
    rows: list[list[tuple[str, int]]] = [[]]
    x = PAD
    for name in entries:
        span = _swatch_width(name) + 6 + cv2.getTextSize(name, FONT, LABEL_SCALE, 1)[0][0] + 22
        if rows[-1] and x + span > width - PAD:
            rows.append([])
            x = PAD
        rows[-1].append((name, x))
        x += span
    rows += [[("note: " + note, PAD)] for note in notes]
    strip = np.empty((len(rows) * LEGEND_ROW_H + PAD, width, 3), np.uint8)
    strip[:] = CANVAS
    for r, row in enumerate(rows):
        y = r * LEGEND_ROW_H + (LEGEND_ROW_H - SWATCH) // 2
        for name, x in row:
            if name.startswith("note: "):
                text_fit(strip, name, x, y + 14, width - x - PAD, bold=False)
                continue
            sample = _swatch(name)
            strip[y : y + SWATCH, x : x + sample.shape[1]] = sample
            cv2.putText(
                strip,
                name,
                (x + sample.shape[1] + 6, y + 14),
                FONT,
                LABEL_SCALE,
                TEXT,
                1,
                cv2.LINE_AA,
            )
    return strip


def _swatch_width(name: str) -> int:
    return SWATCH * len(SCORE_STEPS) if name == SCORE else SWATCH


def _swatch(name: str) -> np.ndarray:
    """A sample of a style, drawn by the panels' primitives."""
    s = SWATCH
    cells = len(SCORE_STEPS) if name == SCORE else 1
    img = np.empty((s, s * cells, 3), np.uint8)
    img[:] = BACKGROUND
    view = View(0, 0, s * cells, s, 1.0)
    grid = LevelCells(view, s, 1, cells)
    colour = np.broadcast_to(np.asarray(PALETTE[1], np.uint8), (1, cells, 3))
    if name == GT:
        for k in range(3):
            box(img, np.array([1 + 2 * k, 1 + 2 * k, s - 2 - 2 * k, s - 2 - 2 * k]), PALETTE[k], 1)
    elif name == FLOORED:
        dashed_box(img, np.array([1, 1, s - 2, s - 2]), PALETTE[0], 1)
    elif name == POINT:
        cv2.circle(img, (s // 2, s // 2), 2, (235, 235, 235), -1, cv2.LINE_AA)
    elif name == SCORE:
        alpha = fill_alpha(np.asarray(SCORE_STEPS))[None]
        fill_discs(img, grid, np.ones((1, cells), bool), colour, alpha, radius=s / 2 - 1, outline=1)
    elif name == LOST:
        every = np.ones((1, 1), bool)
        fill_discs(img, grid, every, colour, np.ones((1, 1)), radius=disc_radius(s), outline=1)
        rings(img, np.array([s / 2]), np.array([s / 2]), [PALETTE[0]], s)
    elif name == RED:
        red = np.asarray(VIOLATION, np.uint8)[None, None]
        fill_cells(img, grid, np.ones((1, 1), bool), red, np.full((1, 1), 0.7), outline=2)
    else:
        hazard_rectangle(img, 2, 2, s - 3, s - 3)
    return img
