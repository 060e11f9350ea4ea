"""The legend strip under an assignment figure: one swatch and name per style, wrapped.

Swatches are drawn by the same fills as the panels, so the legend cannot drift from them.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .panels import (
    Patterns,
    fill_centre,
    fill_extra,
    fill_missing,
    fill_neighbour,
    fill_violation,
)
from .style import (
    ANCHOR,
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

_SWATCH = 18


def legend_entries(with_diff: bool, with_unmatched: bool = False) -> list[str]:
    names = ["GT box (class colour)", "centre cell", "neighbour cell", "anchor box", "violation"]
    names += ["extra (+)", "missing (-)"] if with_diff else []
    return names + (["GT without a positive"] if with_unmatched else [])


def wrap_legend(width: int, entries: Sequence[str]) -> list[list[tuple[str, int]]]:
    """Entries wrapped to ``width``: rows of (name, x)."""
    rows: list[list[tuple[str, int]]] = [[]]
    x = PAD
    for name in entries:
        span = _SWATCH + 6 + cv2.getTextSize(name, FONT, LABEL_SCALE, 1)[0][0] + 22
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
    p = Patterns(s, s)
    everything = np.ones((s, s), bool)
    if name.startswith("GT box"):
        for k, c in enumerate((0, 1, 2)):
            cv2.rectangle(cell, (1 + 2 * k, 1 + 2 * k), (s - 2 - 2 * k, s - 2 - 2 * k), PALETTE[c])
    elif name.startswith("centre"):
        fill_centre(cell, everything, p, s)
    elif name.startswith("neighbour"):
        fill_neighbour(cell, everything, p, s)
    elif name.startswith("anchor"):
        cv2.rectangle(cell, (3, 5), (s - 4, s - 6), ANCHOR, 1, cv2.LINE_AA)
    elif name.startswith("violation"):
        fill_violation(cell, everything, p, s)
    elif name.startswith("extra"):
        fill_extra(cell, everything, p, s)
    elif name.startswith("GT without"):
        hazard_rectangle(cell, 2, 2, s - 3, s - 3)
    else:
        fill_missing(cell, everything, p, s)
    return cell


def legend_strip(
    width: int, *, with_diff: bool, notes: Sequence[str], with_unmatched: bool = False
) -> np.ndarray:
    """Swatch and name per style, wrapped to ``width``; notes appended as a last entry."""
    entries = legend_entries(with_diff, with_unmatched)
    rows = wrap_legend(width, entries + (["note: " + "; ".join(notes)] if notes else []))
    strip = np.empty((len(rows) * LEGEND_ROW_H + PAD, width, 3), np.uint8)
    strip[:] = CANVAS
    for r, row in enumerate(rows):
        y = r * LEGEND_ROW_H + (LEGEND_ROW_H - _SWATCH) // 2
        for name, x in row:
            if name.startswith("note"):
                text_fit(strip, name, x, y + 14, width - x - PAD, bold=False)
                continue
            strip[y : y + _SWATCH, x : x + _SWATCH] = _swatch(name)
            cv2.putText(
                strip, name, (x + _SWATCH + 6, y + 14), FONT, LABEL_SCALE, TEXT, 1, cv2.LINE_AA
            )
    return strip
