"""The scan's views: targets without a positive dashed yellow on every figure, GT on the
original image, and the close-up -- decoded pixels checked at hand-computed places."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from yolo_diagnostics import Problem, assign
from yolo_diagnostics.invariants import Violation
from yolo_diagnostics.render import (
    CENTRE,
    CENTRE_ALPHA,
    PAD,
    TITLE_H,
    UNMATCHED,
    assignment_figure,
    class_colour,
    original_figure,
    render_targets,
    targets_figure,
)
from yolo_diagnostics.render.closeup import closeup_figure, closeup_region
from yolo_diagnostics.render.style import MIN_MARK

P5 = Problem.preset("yolov5-p5", img_size=(320, 640))
# a 96 x 64 px box centred at (200, 100) (matched), and a 2 x 2 px box at (500, 240)
TARGETS = torch.tensor(
    [
        [0, 1, 200 / 640, 100 / 320, 96 / 640, 64 / 320],
        [0, 2, 500 / 640, 240 / 320, 2 / 640, 2 / 320],
    ]
)


def yellow(pixels: np.ndarray) -> int:
    return int((pixels.reshape(-1, 3) == UNMATCHED).all(1).sum())


def near(img: np.ndarray, x: float, y: float, r: int) -> np.ndarray:
    """Pixels of the panel within ``r`` of ``(x, y)`` (panel coordinates)."""
    x, y = round(x) + PAD, round(y) + PAD + TITLE_H
    return img[y - r : y + r + 1, x - r : x + r + 1]


def test_unmatched_targets_are_dashed_yellow_and_matched_ones_are_not() -> None:
    img = targets_figure(P5, TARGETS, unmatched={1: "too-small"})
    # the 2 x 2 px box is marked MIN_MARK px wide around its centre, dashed yellow
    assert yellow(near(img, 500, 240, MIN_MARK // 2 + 2)) > 4
    # the matched box keeps its class colour, and no yellow dash, on its left edge
    edge = near(img, 152, 100, 3)
    assert (np.abs(edge.astype(int) - class_colour(1)).max(2) <= 40).any()
    assert yellow(near(img, 200, 100, 40)) == 0
    plain = targets_figure(P5, TARGETS)
    assert yellow(plain) == 0 and not np.array_equal(plain, img)


def test_the_label_names_the_reason_or_the_given_text() -> None:
    with_reason = targets_figure(P5, TARGETS, unmatched={1: "too-small"})
    relabelled = targets_figure(P5, TARGETS, unmatched={1: "too-small"}, labels={1: "7"})
    # the label sits above the mark: a wider yellow strip for "2: too-small" than for "7"
    strip = slice(PAD + TITLE_H + 210, PAD + TITLE_H + 236)
    assert yellow(with_reason[strip]) > yellow(relabelled[strip]) > 0


def test_assignment_legend_lists_the_unmatched_style_only_when_there_is_one() -> None:
    table = assign(P5, TARGETS)
    lost = assignment_figure(P5, TARGETS, table, unmatched={1: "too-small"})
    none = assignment_figure(P5, TARGETS, table)
    legend_lost, legend_none = lost[-40:], none[-40:]
    assert yellow(legend_lost) > 0 and yellow(legend_none) == 0


def test_gt_on_the_original_image_at_its_own_pixels() -> None:
    image = np.zeros((300, 500, 3), np.uint8)
    boxes = np.array([[0, 4, 0.5, 0.5, 0.2, 0.4]])  # x 200..300, y 90..210 px
    img = original_figure(image, (300, 500), boxes)
    assert img.shape == (PAD + TITLE_H + 300 + PAD, PAD + 500 + PAD, 3)
    edge = img[PAD + TITLE_H + 150, PAD + 200]
    assert np.abs(edge.astype(int) - class_colour(4)).max() <= 40
    big = original_figure(None, (2000, 1000), boxes, max_side=500)  # shown at 250 x 500
    assert big.shape == (PAD + TITLE_H + 500 + PAD, PAD + 250 + PAD, 3)
    with pytest.raises(ValueError, match=r"image: expected uint8\[300, 400, 3\]"):
        original_figure(image, (300, 400), boxes)


def test_closeup_region_is_aligned_to_the_coarsest_stride() -> None:
    # the tiny box spans x 499..501, y 239..241: one 32 px cell each way around it
    assert closeup_region(P5, np.array([[499.0, 239.0, 501.0, 241.0]])) == (448, 192, 544, 288)
    assert closeup_region(P5, np.zeros((0, 4))) is None
    assert closeup_region(P5, np.array([[0.0, 0.0, 400.0, 100.0]])) is None  # over half


def test_closeup_draws_the_region_zoomed_with_its_cells() -> None:
    """The matched box's centre cell at level 0 (stride 8, anchor 33 x 23): (gi, gj) = (25, 12),
    in the region (96, 32, 288, 192) zoomed 3 times (192 px wide, to 480): cell (13, 8) there,
    at panel pixels (13 * 24, 8 * 24)."""
    table = assign(P5, TARGETS)
    region = closeup_region(P5, np.array([[152.0, 68.0, 248.0, 132.0]]))
    assert region == (96, 32, 288, 192)
    img = closeup_figure(P5, TARGETS, table, region)
    k = 3
    x0, y0 = (25 - 96 // 8) * 8 * k, (12 - 32 // 8) * 8 * k
    cell = img[PAD + TITLE_H + y0 + 4 : PAD + TITLE_H + y0 + 20, PAD + x0 + 4 : PAD + x0 + 20]
    assert (np.abs(cell.astype(int) - np.array(CENTRE)).max(2) < 120 * CENTRE_ALPHA).mean() > 0.5
    with pytest.raises(ValueError, match="aligned to stride 32"):
        closeup_figure(P5, TARGETS, table, (10, 0, 64, 64))


def _cell_bgr(img: np.ndarray, gi: int, gj: int, k: int) -> np.ndarray:
    """Mean BGR inside cell (gi, gj) of the first (level 0) panel of a figure zoomed k times,
    its outline left out."""
    x0, y0 = PAD + gi * 8 * k, PAD + TITLE_H + gj * 8 * k
    return img[y0 + 4 : y0 + 8 * k - 4, x0 + 4 : x0 + 8 * k - 4].reshape(-1, 3).mean(0)


def test_closeup_renumbers_violation_rows_and_takes_an_image_index() -> None:
    """A violation names rows of the whole table; the close-up keeps fewer rows, so it must
    draw red the cell of the rows named, (25, 12) at level 0, region cell (13, 8): red where
    green was, and nothing red when the rows named lie outside the region (a 40 px box at
    x 520). The same targets as image 1 of a batch of 2 are drawn the same with
    image_index=1."""
    targets = torch.cat((TARGETS[:1], torch.tensor([[0, 3, 520 / 640, 260 / 320, 1 / 16, 1 / 8]])))
    table = assign(P5, targets)
    region = (96, 32, 288, 192)
    level, gi, gj = (table.level.numpy(), table.gi.numpy(), table.gj.numpy())
    named = tuple(np.flatnonzero((level == 0) & (gi == 25) & (gj == 12)).tolist())  # anchors
    outside = tuple(np.flatnonzero(table.target.numpy() == 1).tolist())
    x = gi * np.array(P5.strides)[level]  # each row's cell, in network pixels
    assert named and outside and (x[list(outside)] >= 288).all()

    def red(img: np.ndarray) -> float:
        b, g, r = _cell_bgr(img, 25 - 12, 12 - 4, 3)
        return r - max(b, g)

    def violation(rows: tuple[int, ...]) -> Violation:
        return Violation("geometry", "error", 0, rows, (), "drawn red")

    plain = closeup_figure(P5, targets, table, region)
    hit = closeup_figure(P5, targets, table, region, violations=[violation(named)])
    missed = closeup_figure(P5, targets, table, region, violations=[violation(outside)])
    assert red(plain) < 0 and red(hit) > 60 and red(missed) < 0  # green, red, green

    batch = dataclasses.replace(P5, batch_size=2)
    second = targets.clone()
    second[:, 0] = 1
    both = torch.cat((targets[1:], second))  # image 0 holds only the box at x 520
    on_1 = closeup_figure(batch, both, assign(batch, both), region, image_index=1)
    assert np.array_equal(on_1, plain)
    on_0 = closeup_figure(batch, both, assign(batch, both), region, image_index=0)
    assert not np.array_equal(on_0, plain)


def test_render_targets_takes_the_same_options() -> None:
    png = render_targets(P5, TARGETS, unmatched={1: "too-small"}, labels={0: "0 bus"})
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
