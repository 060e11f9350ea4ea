"""The look shared by every figure: BGR colours, the class palette, font, sizes and labels.

Colours are BGR (OpenCV's order) and fixed, so the same inputs give the same bytes.
"""

from __future__ import annotations

import cv2
import numpy as np

Colour = tuple[int, int, int]  # BGR

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
UNMATCHED: Colour = (0, 235, 255)  # yellow: a GT box without a positive, dashed with black
UNMATCHED_DASH = 7  # px of yellow, then of black, along the box
MIN_MARK = 10  # px: tiny unmatched boxes are marked at least this large

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

LABEL_SCALE = 0.42
_TITLE_SCALE = 0.5


def class_colour(c: int) -> Colour:
    """The BGR colour of class ``c``: `PALETTE` indexed by ``c`` modulo its length."""
    return PALETTE[int(c) % len(PALETTE)]


def label(img: np.ndarray, text: str, x: int, y: int, bg: Colour) -> None:
    """``text`` on a filled ``bg`` box whose bottom-left is ``(x, y)``, kept inside ``img``."""
    (tw, th), base = cv2.getTextSize(text, FONT, LABEL_SCALE, 1)
    bw, bh = tw + 6, th + base + 4
    x = int(min(max(x, 0), img.shape[1] - bw))
    y = int(min(max(y, bh), img.shape[0]))
    cv2.rectangle(img, (x, y - bh), (x + bw - 1, y - 1), bg, -1)
    cv2.putText(img, text, (x + 3, y - base - 2), FONT, LABEL_SCALE, _ink(bg), 1, cv2.LINE_AA)


def hazard_rectangle(img: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    """A 2 px outline dashed in `UNMATCHED` yellow over black: a box no cell learns, readable
    on any photo and unlike every class colour. Boxes under `MIN_MARK` pixels are drawn
    that large around their centre, so that a 2 px box can be seen."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = max(x1 - x0, MIN_MARK) / 2, max(y1 - y0, MIN_MARK) / 2
    x0, x1, y0, y1 = (round(v) for v in (cx - half_w, cx + half_w, cy - half_h, cy + half_h))
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), 2)
    corners = ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))
    for (ax, ay), (bx, by) in zip(corners, corners[1:]):
        length = max(abs(bx - ax), abs(by - ay), 1)
        for start in range(0, length, 2 * UNMATCHED_DASH):
            f, g = start / length, min(start + UNMATCHED_DASH, length) / length
            p = (round(ax + (bx - ax) * f), round(ay + (by - ay) * f))
            q = (round(ax + (bx - ax) * g), round(ay + (by - ay) * g))
            cv2.line(img, p, q, UNMATCHED, 2)


def _ink(bg: Colour) -> Colour:
    """Black or white text, whichever reads better on ``bg`` (BGR)."""
    b, g, r = bg
    return (20, 20, 20) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)


def text_fit(img: np.ndarray, text: str, x: int, y: int, width: int, bold: bool) -> None:
    """``text`` with its baseline at ``(x, y)``, shrunk (then cut with "...") to ``width``."""
    scale = _TITLE_SCALE
    while scale > 0.32 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width:
        scale -= 0.02
    while len(text) > 4 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width:
        text = text[:-4] + "..."
    colour = TEXT if bold else (200, 200, 200)
    cv2.putText(img, text, (x, y), FONT, scale, colour, 1, cv2.LINE_AA)
