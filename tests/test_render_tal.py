"""The TAL overlay: real OpenCV drawings read back pixel by pixel at hand-computed places.

Most tests draw ``HAND``, a 64 x 64 input at strides 8, 16, 32, zoomed 8 times (64 is under
`MIN_PANEL_SIDE`): level 0's anchor ``a = 8 j + i`` sits at network ``(8 i + 4, 8 j + 4)``
and is drawn 64 px wide; level 1's anchors are 64-79, level 2's 80-83. Every anchor predicts
the same box, and class scores rise with the anchor index, so no two metrics tie. Pixels
are read through `TalPanel.at`, which the tests check against the layout once.
"""

from __future__ import annotations

import dataclasses
import re

import cv2
import numpy as np
import pytest
import torch
from torch import Tensor

from yolo_diagnostics.errors import DiagnosticsError
from yolo_diagnostics.render import render_tal, tal_figure
from yolo_diagnostics.render.style import BACKGROUND, PAD, TITLE_H, UNMATCHED, VIOLATION
from yolo_diagnostics.render.tal import TalFigure, render_tal_closeup, tal_closeup
from yolo_diagnostics.render.tal_draw import DASH, DASH_GAP
from yolo_diagnostics.render.tal_legend import fill_alpha
from yolo_diagnostics.render.tal_panel import MUTE, gt_colour
from yolo_diagnostics.tal import TalProblem, TalViolation, assign
from yolo_diagnostics.tal.corpus import TalBatch, make_batch

HAND = TalProblem(strides=(8, 16, 32), img_size=(64, 64), num_classes=3)
ZOOM = 8


def batch(
    problem: TalProblem, rows: list[tuple[list[float], int]], pred: list[float] | None = None
) -> TalBatch:
    """One image with real GT ``rows`` (box, label); every anchor predicts ``pred`` (default
    the last row's box) with scores rising from 0.1 to 0.9 by anchor index."""
    points = problem.anchor_points()
    na, nc, n = len(points), problem.num_classes, len(rows)
    box = torch.tensor(pred if pred is not None else rows[-1][0], dtype=torch.float32)
    scores = (0.1 + 0.8 * torch.arange(na) / na)[:, None].expand(na, nc)
    return TalBatch(
        scores[None].clone(),
        box.expand(1, na, 4).clone(),
        points,
        torch.tensor([[[float(r[1])] for r in rows]]),
        torch.tensor([[r[0] for r in rows]], dtype=torch.float32).reshape(1, n, 4),
        torch.ones((1, n, 1)),
    )


def reference(problem: TalProblem, b: TalBatch):  # noqa: ANN201 - a TalAssignment
    return assign(problem, b.pd_scores, b.pd_bboxes, b.gt_labels, b.gt_bboxes, b.mask_gt)


def at(fig: TalFigure, level: int, x: float, y: float, dx: int = 0, dy: int = 0) -> np.ndarray:
    """The figure's BGR pixel at network ``(x, y)`` of a level's panel, moved by ``(dx, dy)``
    drawing pixels."""
    col, row = fig.panels[level].at(x, y)
    return fig.pixels[row + dy, col + dx].astype(int)


def near(actual: np.ndarray, expected: object, tol: int = 1) -> bool:
    return bool(np.abs(np.asarray(actual, int) - np.asarray(expected, int)).max() <= tol)


def blend(under: object, over: object, alpha: float) -> np.ndarray:
    return np.rint(np.asarray(under) * (1 - alpha) + np.asarray(over) * alpha)


def owner_at(r, anchor: int) -> int:  # noqa: ANN001 - a TalAssignment
    assert bool(r.fg_mask[0, anchor])
    return int(r.target_gt_idx[0, anchor])


TWO = [([0.0, 0.0, 40.0, 40.0], 1), ([8.0, 8.0, 48.0, 48.0], 2)]
"""Two overlapping GTs; every anchor predicts row 1's box, so row 1 wins each conflict (CIoU
1): the reference gives anchors 69 (level 1, network (24, 24)) and 80 (level 2, (16, 16)) to
row 1, both in row 0's top-k too."""


@pytest.fixture(scope="module")
def two() -> tuple[TalBatch, object]:
    b = batch(HAND, TWO)
    return b, reference(HAND, b)


# ----------------------------------------------------------------------------- layout
def test_small_input_is_zoomed_and_panels_sit_where_at_says(two) -> None:
    b, r = two
    fig = tal_figure(HAND, b, r.outputs)
    assert [p.view.scale for p in fig.panels] == [ZOOM] * 3
    side = 64 * ZOOM
    assert [p.origin for p in fig.panels] == [
        (PAD, PAD + TITLE_H),
        (2 * PAD + side, PAD + TITLE_H),
        (PAD, 2 * PAD + 2 * TITLE_H + side),
    ]
    assert fig.panels[0].at(4, 4) == (PAD + 32, PAD + TITLE_H + 32)
    assert fig.pixels.shape[1] == 3 * PAD + 2 * side
    decoded = cv2.imdecode(np.frombuffer(render_tal(HAND, b, r.outputs), np.uint8), 1)
    assert np.array_equal(decoded, fig.pixels)


def test_large_input_is_shrunk_to_the_panel_limit() -> None:
    problem = TalProblem(strides=(8, 16, 32), img_size=(1600, 1600), num_classes=2)
    b = make_batch(problem, seed=0, n=3)
    fig = tal_figure(problem, b, reference(problem, b).outputs)
    assert fig.panels[0].view.scale == pytest.approx(0.8)
    assert fig.panels[0].view.shape == (1280, 1280)


def test_titles_name_level_stride_grid_and_counts(two) -> None:
    b, r = two
    fig = tal_figure(HAND, b, r.outputs, reference=r)
    fg = r.fg_mask[0]
    per_level = [int(fg[s:e].sum()) for s, e in zip(HAND.level_starts, HAND.level_starts[1:])]
    assert fig.panels[1].title == (
        "level 1   stride 16   grid 4 x 4   image 0",
        f"{per_level[1]} positives   2 GT boxes   1 lost a conflict",
    )
    assert [p.counts.positives for p in fig.panels] == per_level


# ----------------------------------------------------------------------------- positives
def test_positive_disc_has_its_gt_colour_with_the_score_as_opacity(two) -> None:
    b, r = two
    fig = tal_figure(HAND, b, r.outputs)
    scores = r.target_scores[0].amax(-1)
    checked = set()
    for a in (32, 45):  # level 0: row 0's (24, 36) and row 1's (44, 44)
        g = owner_at(r, a)
        x, y = (a % 8) * 8 + 4, (a // 8) * 8 + 4
        alpha = float(fill_alpha(np.array(float(scores[a]))))
        # 6 drawing px right of the anchor point: inside the disc, off the dot and the rim
        assert near(at(fig, 0, x, y, dx=6), blend(BACKGROUND, gt_colour(g), alpha))
        assert near(at(fig, 0, x, y, dx=11), gt_colour(g), 0)  # the 2 px rim, full colour
        checked.add(g)
    assert checked == {0, 1}
    assert not (scores[32] == scores[45])  # the two opacities differ
    assert near(at(fig, 0, 4, 60, dx=6), BACKGROUND, 0)  # no GT there: untouched canvas


def test_lost_conflict_is_a_ring_in_the_losers_colour(two) -> None:
    b, r = two
    assert owner_at(r, 69) == 1
    fig = tal_figure(HAND, b, r.outputs, reference=r)
    plain = tal_figure(HAND, b, r.outputs)

    def ring(f: TalFigure) -> np.ndarray:
        col, row = f.panels[1].at(24, 24)
        yy, xx = np.mgrid[-18:19, -18:19]
        band = np.abs(np.hypot(xx, yy) - 16) <= 1
        return f.pixels[row - 18 : row + 19, col - 18 : col + 19][band].astype(int)

    distance = np.abs(ring(fig) - np.asarray(gt_colour(0))).max(1)
    assert (distance <= 30).sum() > 40  # row 0's orange goes round row 1's disc
    assert (np.abs(ring(plain) - np.asarray(gt_colour(0))).max(1) <= 30).sum() == 0
    assert fig.panels[1].counts.lost == 1 and plain.panels[1].counts.lost == 0


# ----------------------------------------------------------------------------- the floor
def test_a_6px_gt_floored_to_16px_gets_a_dashed_box() -> None:
    rows = [([29.0, 29.0, 35.0, 35.0], 0)]  # 6 px around (32, 32): floored to [24, 40]
    b = batch(HAND, rows)
    fig = tal_figure(HAND, b, reference(HAND, b).outputs)
    colour = np.asarray(gt_colour(0))
    top = np.array([at(fig, 0, x / ZOOM, 24) for x in range(24 * ZOOM, 40 * ZOOM)])
    on = (np.abs(top - colour).max(1) == 0).astype(int)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], on, [0]))))
    dashes, gaps = np.diff(edges)[::2], np.diff(edges)[1::2]
    assert len(dashes) >= 8  # 128 drawing px of dashes and gaps
    thick = 2  # at zoom 8 lines are 2 px: dashes and gaps scale with them
    assert set(dashes[:-1].tolist()) == {DASH * thick}
    assert set(gaps.tolist()) == {DASH_GAP * thick}
    # the real 6 px box: solid, in its colour (the floor gave it positives)
    real = [at(fig, 0, x / ZOOM, 29) for x in range(30 * ZOOM, 34 * ZOOM)]
    assert all(near(p, colour, 0) for p in real)
    assert "grow to 16 px" in " ".join(fig.notes)


def test_without_the_floor_no_dashed_box_and_the_tiny_gt_is_marked_unmatched() -> None:
    rows = [([29.0, 29.0, 35.0, 35.0], 0)]
    problem = dataclasses.replace(HAND, stal=False)
    b = batch(problem, rows)
    fig = tal_figure(problem, b, reference(problem, b).outputs)
    colour = np.asarray(gt_colour(0))
    top = [at(fig, 0, x / ZOOM, 24) for x in range(24 * ZOOM, 40 * ZOOM)]
    assert not any(near(p, colour, 0) for p in top)
    assert not any("floor" in note for note in fig.notes)
    # no anchor point inside 6 px: no positive, the box dashed yellow (hazard)
    edge = [at(fig, 0, x / ZOOM, 29) for x in range(29 * ZOOM, 35 * ZOOM)]
    assert any(near(p, UNMATCHED, 0) for p in edge)


# ----------------------------------------------------------------------------- failures
def test_violation_anchor_is_red_labelled_and_the_rest_muted(two) -> None:
    b, r = two
    assert owner_at(r, 45) == 1
    found = TalViolation("inside", "error", "made up", image=0, anchors=(45,), gts=(1,))
    fig = tal_figure(HAND, b, r.outputs, violations=[found])
    calm = tal_figure(HAND, b, r.outputs)
    x, y = 44, 44  # anchor 45's point; its cell spans drawing px 320..383 of level 0
    assert near(at(fig, 0, 40, y), VIOLATION, 0)  # the cell's 2 px red edge
    assert near(at(fig, 0, 40, y, dx=1), VIOLATION, 0)
    assert near(at(fig, 0, x, y), gt_colour(1), 0)  # the owner's dot on the anchor point
    assert fig.panels[0].counts.red == 1 and "1 red" in fig.panels[0].title[1]
    col, row = fig.panels[0].at(48, 44)  # the check id's label, right of the cell
    strip = fig.pixels[row - 12 : row + 12, col : col + 60].reshape(-1, 3)
    assert (np.abs(strip.astype(int) - VIOLATION).max(1) == 0).sum() > 300
    # row 0 is not involved: its positive (anchor 32) is muted towards the canvas grey
    muted = blend(at(calm, 0, 4, 36, dx=6), BACKGROUND, MUTE)
    assert near(at(fig, 0, 4, 36, dx=6), muted)
    # row 1 is named: its other positives keep their colour
    assert near(at(fig, 0, 36, 44, dx=6), at(calm, 0, 36, 44, dx=6), 0)


def row0_conflicts(problem: TalProblem, b: TalBatch) -> tuple[Tensor, ...]:
    """A broken assigner: each contested anchor goes to GT row 0, with row 0's targets."""
    r = reference(problem, b)
    labels, boxes, scores, fg, idx = (t.clone() for t in r.outputs)
    won = r.positives.won_conflict
    i, a = r.positives.image[won], r.positives.anchor[won]
    idx[i, a] = 0
    labels[i, a] = b.gt_labels[i, 0, 0].long()
    boxes[i, a] = b.gt_bboxes[i, 0]
    best = scores[i, a].amax(-1)
    scores[i, a] = 0
    scores[i, a, labels[i, a]] = best
    return labels, boxes, scores, fg, idx


def test_owner_differing_from_the_reference_is_red(two) -> None:
    b, r = two
    broken = row0_conflicts(HAND, b)
    assert int(broken[4][0, 69]) == 0 and owner_at(r, 69) == 1
    fig = tal_figure(HAND, b, broken, reference=r)
    assert [p.counts.red for p in fig.panels] == [0, 1, 1]  # anchors 69 and 80
    assert near(at(fig, 1, 16, 24, dx=1), VIOLATION, 0)  # anchor 69's cell edge (x 16..32)
    assert near(at(fig, 1, 24, 24), gt_colour(0), 0)  # the output's owner: row 0
    calm = tal_figure(HAND, b, r.outputs, reference=r)
    assert near(at(calm, 1, 24, 24, dx=11), gt_colour(1), 0)  # row 1's rim, not red
    assert calm.panels[1].counts.red == 0


def test_a_foreground_index_naming_no_row_is_red(two) -> None:
    b, r = two
    out = [t.clone() for t in r.outputs]
    out[4][0, 45] = 7  # two rows only
    fig = tal_figure(HAND, b, out)
    assert fig.panels[0].counts.red == 1
    assert near(at(fig, 0, 40, 44), VIOLATION, 0)


def test_malformed_output_draws_the_inputs_and_says_why(two) -> None:
    b, r = two
    fig = tal_figure(HAND, b, r.outputs[:4])
    why = "output not drawn: expected the 5 tensors"
    assert all(p.title[1].startswith(why) for p in fig.panels)
    assert [p.counts.positives for p in fig.panels] == [0, 0, 0]
    assert near(at(fig, 0, 8, 12), gt_colour(1), 0)  # row 1's left edge (x = 8) still drawn
    assert near(at(fig, 0, 44, 44, dx=6), BACKGROUND, 0)  # no positive drawn


# ----------------------------------------------------------------------------- crowds
def test_crowded_case_caps_boxes_keeps_the_offending_and_says_left_out() -> None:
    problem = TalProblem.preset("ultralytics", num_classes=4, img_size=(640, 640))
    b = make_batch(problem, seed=1, n=400, padding="none")
    r = reference(problem, b)
    last = b.gt_bboxes[0, 399].tolist()
    found = TalViolation("owner", "error", "made up", image=0, gts=(399,))
    fig = tal_figure(problem, b, r.outputs, violations=[found], reference=r)
    for panel in fig.panels:
        assert panel.counts.gts == 400 and panel.counts.gts_drawn == 300
        assert "400 GT boxes (300 drawn, 100 left out)" in panel.title[1]
    # row 399, the last, is named: drawn despite the cap, framed red 3 px outside its box
    x0, y0, x1, y1 = (min(max(v, 0), 639) for v in last)
    col0, row0 = fig.panels[0].at(x0, y0)
    col1, row1 = fig.panels[0].at(x1, y1)
    frame_row = max(row0 - 3, fig.panels[0].origin[1])
    frame = fig.pixels[frame_row, col0:col1].astype(int)
    assert (np.abs(frame - VIOLATION).max(1) == 0).mean() > 0.5


# ----------------------------------------------------------------------------- close-ups
def test_closeup_of_a_large_input_enlarges_the_offending_anchor() -> None:
    problem = TalProblem.preset("ultralytics", num_classes=3, img_size=(640, 640))
    b = batch(problem, [([300.0, 200.0, 340.0, 230.0], 0)])
    r = reference(problem, b)
    a = int(r.fg_mask[0].nonzero()[0])  # level 0, nx = 80
    ax, ay = (a % 80) * 8 + 4, (a // 80) * 8 + 4
    found = TalViolation("inside", "error", "made up", image=0, anchors=(a,))
    fig = tal_closeup(problem, b, r.outputs, violations=[found])
    assert fig is not None
    x0, y0, x1, y1 = fig.region
    assert all(v % 32 == 0 for v in fig.region) and x0 < ax < x1 and y0 < ay < y1
    assert fig.panels[0].view.scale >= 3
    cell_left = ax - 4
    assert near(at(fig, 0, cell_left, ay, dx=1), VIOLATION, 0)
    assert "close-up" in fig.panels[0].title[0]
    assert render_tal_closeup(problem, b, r.outputs) is None  # nothing offends
    assert tal_closeup(HAND, *two_case(), violations=[found]) is None  # small: zoomed already


def two_case() -> tuple[TalBatch, tuple[Tensor, ...]]:
    b = batch(HAND, TWO)
    return b, reference(HAND, b).outputs


# ----------------------------------------------------------------------------- inputs
def test_photo_shows_through_dimmed(two) -> None:
    b, r = two
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:] = (10, 200, 30)
    fig = tal_figure(HAND, b, r.outputs, photo=photo)
    dimmed = blend(photo[0, 0], BACKGROUND, 0.45)
    assert near(at(fig, 0, 4, 60, dx=6), dimmed)


def test_same_inputs_same_bytes(two) -> None:
    b, r = two
    assert render_tal(HAND, b, r.outputs, reference=r) == render_tal(
        HAND, b, r.outputs, reference=r
    )


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"image": 1}, "image"),
        ({"image": True}, "image"),
        ({"photo": np.zeros((32, 64, 3), np.uint8)}, "photo"),
        ({"region": (0, 0, 40, 32)}, "region"),
        ({"violations": [object()]}, "violations[0]"),
        ({"reference": "ultralytics"}, "reference"),
    ],
)
def test_bad_arguments_name_the_field(two, options: dict, field: str) -> None:
    b, r = two
    with pytest.raises(DiagnosticsError, match="^" + re.escape(field)):
        tal_figure(HAND, b, r.outputs, **options)


def test_a_violation_of_another_image_is_a_note() -> None:
    problem = dataclasses.replace(HAND, batch_size=2)
    b = make_batch(problem, seed=2, n=3)
    r = reference(problem, b)
    elsewhere = TalViolation("inside", "error", "x", image=1, anchors=(3,))
    whole = TalViolation("shapes", "error", "fg_mask: expected bool dtype")
    fig = tal_figure(problem, b, r.outputs, violations=[elsewhere, whole])
    assert sum(p.counts.red for p in fig.panels) == 0
    assert fig.notes[:2] == (
        "shapes: fg_mask: expected bool dtype",
        "1 finding(s) on other images of the batch",
    )


def test_no_gt_rows_draw_the_anchor_points_only() -> None:
    b = make_batch(HAND, seed=3, n=0)
    r = reference(HAND, b)
    assert r.target_gt_idx.dtype.is_floating_point  # ultralytics' n == 0 quirk
    fig = tal_figure(HAND, b, r.outputs, reference=r)
    assert [p.title[1] for p in fig.panels] == ["0 positives   0 GT boxes   0 lost a conflict"] * 3
    dot = blend(BACKGROUND, (235, 235, 235), 0.55)
    assert near(at(fig, 0, 4, 4), dot)  # anchor 0's point
    assert near(at(fig, 0, 4, 4, dx=6), BACKGROUND, 0)  # between points: the bare canvas
