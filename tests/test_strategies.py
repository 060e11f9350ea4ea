"""Tests for the Hypothesis strategies: what they draw, and `edge_kinds` on hand-made targets.

The hand-made targets are for `PROBLEM`: input 128 x 256 (H x W), strides 8, 16, 32, so
(ny, nx) = (16, 32), (8, 16), (4, 8); one anchor per level, 8, 16 and 32 pixels square, i.e.
(1, 1) in grid units on every level; anchor_t 4. Its baseline `BASE` holds no edge class.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import Phase, given, seed, settings
from hypothesis import strategies as st

from yolo_diagnostics import PRESETS, Problem, validate_targets
from yolo_diagnostics.strategies import (
    EDGE_KINDS,
    _ratio_sizes,
    edge_kinds,
    problems,
    targets,
)

FAST = settings(max_examples=60, deadline=None, database=None)
PRESET_ANCHORS = {anchors for _, anchors in PRESETS.values()}
COLUMN = {"x": 2, "y": 3, "w": 4, "h": 5}

PROBLEM = Problem(
    img_size=(128, 256),
    strides=(8, 16, 32),
    anchors=(((8, 8),), ((16, 16),), ((32, 32),)),
    num_classes=3,
    batch_size=2,
)
# 24 x 24 px: w/h ratios 3, 1.5, 1/1.33 per level; gx = 9.6, 4.8, 2.4; gy = 5.6, 2.8, 1.4.
ROW0 = [0.0, 0.0, 0.3, 0.35, 24 / 256, 24 / 128]
# 16 x 20 px: ratios up to 2.5; gx = 22.4, 11.2, 5.6; gy = 9.6, 4.8, 2.4.
ROW1 = [1.0, 1.0, 0.7, 0.6, 16 / 256, 20 / 128]
BASE = [ROW0, ROW1]


def f32_step(value: float, toward: float) -> float:
    """The float32 next to ``value`` (itself a float32) in the direction of ``toward``."""
    v = torch.tensor(value, dtype=torch.float32)
    return float(v.nextafter(torch.tensor(toward, dtype=torch.float32)))


def row0_with(**fields: float) -> list[list[float]]:
    """`BASE` with fields of row 0 replaced (x, y, w, h)."""
    row = list(ROW0)
    for name, value in fields.items():
        row[COLUMN[name]] = value
    return [row, ROW1]


def cases(exact: bool = False) -> st.SearchStrategy[tuple[Problem, torch.Tensor]]:
    return problems(exact=exact).flatmap(lambda p: targets(p, exact=exact).map(lambda t: (p, t)))


# --- problems ---------------------------------------------------------------------------------


@FAST
@given(problems())
def test_problems_are_small_and_well_formed(problem: Problem) -> None:
    strides = {3: (8, 16, 32), 4: (8, 16, 32, 64)}[problem.nl]
    assert problem.strides == strides
    for side in problem.img_size:
        assert side % strides[-1] == 0 and 2 <= side // strides[-1] <= 12
    assert 1 <= problem.na <= 4 and 1 <= problem.batch_size <= 8
    assert 1 <= problem.num_classes <= 80 and 2 <= problem.anchor_t <= 6 and problem.g == 0.5
    if problem.anchors not in PRESET_ANCHORS:  # drawn: integer pixels
        assert all(v == int(v) >= 1 for level in problem.anchors for wh in level for v in wh)


@FAST
@given(problems(exact=True))
def test_exact_problems_have_power_of_two_sides(problem: Problem) -> None:
    assert set(problem.img_size) <= {128, 256, 512, 1024}


@FAST
@given(problems(square=True))
def test_square_problems(problem: Problem) -> None:
    assert problem.img_size[0] == problem.img_size[1]


@pytest.mark.parametrize("exact", [False, True])
def test_non_square_problems_are_landscape_and_portrait(exact: bool) -> None:
    shapes = set()

    @seed(0)
    @settings(max_examples=40, deadline=None, database=None, phases=[Phase.generate])
    @given(problems(square=False, exact=exact))
    def collect(problem: Problem) -> None:
        h, w = problem.img_size
        assert h != w
        shapes.add("landscape" if w > h else "portrait")

    collect()
    assert shapes == {"landscape", "portrait"}


@FAST
@given(
    problems(
        levels=4,
        square=st.just(True),
        batch_size=3,
        anchor_t=st.sampled_from([2.5]),
        num_classes=1,
        rule=st.just("five-positive"),
        exact=st.just(True),
    )
)
def test_problem_arguments_take_values_and_strategies(problem: Problem) -> None:
    assert problem.nl == 4 and problem.img_size[0] == problem.img_size[1] >= 128
    assert (problem.batch_size, problem.anchor_t, problem.num_classes, problem.g) == (
        3,
        2.5,
        1,
        1.0,
    )


def test_levels_other_than_3_or_4_are_refused() -> None:
    @FAST
    @given(problems(levels=5))
    def draw(problem: Problem) -> None:
        raise AssertionError("unreachable")

    with pytest.raises(ValueError, match="problems: levels must be 3 or 4, got 5"):
        draw()


# --- targets ----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, database=None)
@given(st.data())
def test_targets_are_valid_float32_and_small(data: st.DataObject) -> None:
    problem = data.draw(problems())
    t = data.draw(targets(problem))
    assert validate_targets(problem, t) is t
    assert t.dtype == torch.float32 and t.device.type == "cpu"
    assert t.dim() == 2 and t.shape[1] == 6 and len(t) <= 12


@settings(max_examples=100, deadline=None, database=None)
@given(st.data())
def test_exact_targets_are_on_an_eighth_pixel_grid(data: st.DataObject) -> None:
    problem = data.draw(problems(exact=True))
    t = data.draw(targets(problem, exact=True))
    validate_targets(problem, t)
    h, w = problem.img_size
    px = t[:, 2:6].double() * torch.tensor([w, h, w, h], dtype=torch.float64) * 8
    assert (px == px.round()).all()
    for ny, nx in problem.feature_shapes:
        gain = torch.tensor([nx, ny])
        g32 = t[:, 2:4] * gain  # float32, as an assigner computes it
        assert (g32.double() == t[:, 2:4].double() * gain).all()
        assert ((gain - g32).double() == gain - t[:, 2:4].double() * gain).all()
    assert ((1 - t[:, 2:4]).double() == 1 - t[:, 2:4].double()).all()


@FAST
@given(targets(problems(batch_size=2, num_classes=1), min_targets=3, max_targets=5))
def test_targets_take_a_problem_strategy_and_row_bounds(t: torch.Tensor) -> None:
    assert 3 <= len(t) <= 5
    assert set(t[:, 0].tolist()) <= {0.0, 1.0} and set(t[:, 1].tolist()) == {0.0}


@FAST
@given(targets(PROBLEM, max_targets=0))
def test_max_targets_zero_draws_the_empty_set(t: torch.Tensor) -> None:
    assert t.shape == (0, 6)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"min_targets": 3, "max_targets": 2}, r"0 <= min_targets <= max_targets, got 3, 2"),
        ({"min_targets": -1}, r"0 <= min_targets <= max_targets, got -1, 12"),
        ({"exact": True}, r"exact=True needs power-of-two image sides, got \(384, 640\)"),
    ],
)
def test_bad_target_arguments_are_refused_at_once(kwargs: dict, pattern: str) -> None:
    problem = Problem.preset("yolov5-p5", img_size=(384, 640))
    with pytest.raises(ValueError, match=pattern):
        targets(problem, **kwargs)


@pytest.mark.parametrize("exact", [False, True])
def test_every_edge_kind_is_drawn(exact: bool) -> None:
    """300 seeded examples hold every edge class at least 3 times (the ratio steps need
    non-grid floats, so exact targets lack them)."""
    seen: dict[str, int] = dict.fromkeys(EDGE_KINDS, 0)

    @seed(0)
    @settings(max_examples=300, deadline=None, database=None, phases=[Phase.generate])
    @given(cases(exact))
    def collect(case: tuple[Problem, torch.Tensor]) -> None:
        for kind in edge_kinds(*case):
            seen[kind] += 1

    collect()
    steps = {"ratio-step-below", "ratio-step-above"}
    assert {kind for kind, count in seen.items() if count >= 3} == set(EDGE_KINDS) - (
        steps if exact else set()
    )


@pytest.mark.parametrize("anchor_t", [4.0, 2.91, 3.7])
@pytest.mark.parametrize(
    ("preset", "img_size", "exact"),
    [
        ("yolov5-p5", (384, 640), False),
        ("yolov7", (256, 512), False),
        ("yolov7", (256, 512), True),
        ("yolov5-p6", (256, 128), True),
    ],
)
def test_ratio_sizes_are_the_kind_they_were_drawn_as(
    preset: str, img_size: tuple[int, int], exact: bool, anchor_t: float
) -> None:
    """Every threshold size is seen so by `edge_kinds`; most hit anchor_t exactly (on the
    1/8-pixel grid only when anchor_t is 4: 4 x an integer-pixel anchor)."""
    problem = Problem.preset(preset, img_size=img_size, anchor_t=anchor_t)
    sizes = _ratio_sizes(problem, exact)
    for kind, w, h in sizes:
        assert kind in edge_kinds(problem, torch.tensor([[0.0, 0.0, 0.5, 0.5, w, h]]))
    kinds = [kind for kind, _, _ in sizes]
    if exact:
        assert set(kinds) <= {"ratio-at-threshold"}
        assert len(kinds) >= 10 or anchor_t != 4.0
    else:
        assert kinds.count("ratio-at-threshold") >= 10
        assert kinds.count("ratio-step-below") == kinds.count("ratio-step-above") >= 10


# --- edge_kinds on hand-made targets ----------------------------------------------------------


EIGHT_PX = 8 / 256  # w at 1/4 of the stride-32 anchor (1 grid unit): r = 0.25 at level 2


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(BASE, set(), id="baseline"),
        # gx = 12, 6, 3
        pytest.param(row0_with(x=12 * 8 / 256), {"grid-aligned"}, id="grid-aligned"),
        pytest.param(row0_with(x=f32_step(0.375, 1)), set(), id="grid-aligned-not"),
        # gx = 3, 1.5, 0.75: integer at level 0, half at level 1
        pytest.param(row0_with(x=3 * 8 / 256), {"grid-aligned", "frac-half"}, id="grid-and-half"),
        # gx = 10.5, 5.25, 2.625
        pytest.param(row0_with(x=10.5 / 32), {"frac-half"}, id="frac-half"),
        pytest.param(row0_with(x=f32_step(10.5 / 32, 0)), set(), id="frac-half-not"),
        # gx = nx at every level: not inside the grid, so not grid-aligned
        pytest.param(row0_with(x=1.0), {"x-zero-or-one"}, id="x-one"),
        pytest.param(row0_with(y=0.0), {"x-zero-or-one"}, id="y-zero"),
        pytest.param(row0_with(x=f32_step(1.0, 0)), set(), id="x-one-not"),
        # gx = 28, 14, 7 = nx - 1 at level 2
        pytest.param(
            row0_with(x=7 / 8), {"one-cell-from-border", "grid-aligned"}, id="one-from-border"
        ),
        pytest.param(row0_with(x=f32_step(7 / 8, 1)), set(), id="one-from-border-not"),
        # gx = 4, 2, 1
        pytest.param(
            row0_with(x=1 / 8),
            {"gx-one", "one-cell-from-border", "grid-aligned"},
            id="gx-one",
        ),
        # gy = 1, 0.5, 0.25
        pytest.param(
            row0_with(y=1 / 16),
            {"gx-one", "one-cell-from-border", "grid-aligned", "frac-half"},
            id="gy-one",
        ),
        pytest.param(row0_with(x=f32_step(1 / 8, 0)), set(), id="gx-one-not"),
        # 32 px: w * nx = 4 at level 0, 4 x the (1, 1) anchor
        pytest.param(row0_with(w=32 / 256), {"ratio-at-threshold"}, id="ratio-at-4"),
        # 8 px: 0.25 at level 2, 1 / 4 of the anchor
        pytest.param(row0_with(w=EIGHT_PX), {"ratio-at-threshold"}, id="ratio-at-quarter"),
        pytest.param(row0_with(w=f32_step(0.125, 0)), {"ratio-step-below"}, id="step-below"),
        pytest.param(row0_with(w=f32_step(0.125, 1)), {"ratio-step-above"}, id="step-above"),
        pytest.param(row0_with(w=f32_step(EIGHT_PX, 1)), {"ratio-step-below"}, id="below-1/4"),
        pytest.param(row0_with(w=f32_step(EIGHT_PX, 0)), {"ratio-step-above"}, id="above-1/4"),
        # 30 px: ratio 3.75 at level 0, not within a float step of 4
        pytest.param(row0_with(w=30 / 256), set(), id="ratio-not"),
        pytest.param(row0_with(w=1 / 256, h=1 / 128), {"tiny"}, id="tiny"),
        pytest.param(row0_with(w=1.5 / 256, h=1.5 / 128), set(), id="tiny-not"),
        pytest.param(row0_with(w=1.0, h=0.95), {"huge"}, id="huge"),
        pytest.param(row0_with(w=0.875, h=0.875), set(), id="huge-not"),
        # 120 x 5 px: aspect 24; w/h ratios 3.75 and 6.4 at level 2
        pytest.param(row0_with(w=120 / 256, h=5 / 128), {"extreme-aspect"}, id="wide"),
        # 5 x 120 px: 120 / 128 of the height is huge too
        pytest.param(row0_with(w=5 / 256, h=120 / 128), {"extreme-aspect", "huge"}, id="tall"),
        # 120 x 7 px: aspect 17
        pytest.param(row0_with(w=120 / 256, h=7 / 128), set(), id="aspect-not"),
        pytest.param([ROW0, ROW1, ROW0], {"duplicate"}, id="duplicate"),
        # the same box with another class: not a duplicate, but in the same cell
        pytest.param([*BASE, [0, 2, *ROW0[2:]]], {"shared-cell"}, id="duplicate-not"),
        # level-0 cell (gi, gj) = (9, 5) on image 0, as ROW0's
        pytest.param([*BASE, [0, 2, 0.31, 0.36, 16 / 256, 16 / 128]], {"shared-cell"}, id="cell"),
        pytest.param([*BASE, [1, 2, 0.31, 0.36, 16 / 256, 16 / 128]], set(), id="cell-image"),
        pytest.param([*BASE, [0, 2, 0.32, 0.36, 16 / 256, 16 / 128]], set(), id="cell-next"),
        pytest.param([], {"empty"}, id="empty"),
        pytest.param([ROW0], {"idle-image"}, id="idle-image"),
        pytest.param([ROW1], {"idle-image"}, id="idle-image-0"),
    ],
)
def test_edge_kinds_of_hand_made_targets(rows: list[list[float]], expected: set[str]) -> None:
    t = torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)
    assert edge_kinds(PROBLEM, t) == expected


def test_edge_kinds_compute_in_the_targets_dtype() -> None:
    """One float64 step over 4 x the anchor is a step in float64, not in float32."""
    w = math.nextafter(0.125, 1)
    t = torch.tensor([[0.0, 0.0, 0.3, 0.35, w, 24 / 128], ROW1], dtype=torch.float64)
    assert edge_kinds(PROBLEM, t) == {"ratio-step-above"}
    assert edge_kinds(PROBLEM, t.float()) == {"ratio-at-threshold"}


def test_edge_kinds_refuses_invalid_targets() -> None:
    with pytest.raises(ValueError, match=r"targets row 0, field 'w': must be > 0"):
        edge_kinds(PROBLEM, torch.tensor([[0.0, 0.0, 0.5, 0.5, 0.0, 0.1]]))


@FAST
@given(problems(exact=True, anchor_t=st.sampled_from([2.0000000000000004, 2.91, 4.0])))
def test_exact_problems_draw_a_float32_anchor_t(problem: Problem) -> None:
    """float64 copies of float32 targets must assign alike: the ratio test compares in the
    targets' dtype, so an anchor_t between two float32 values would tell them apart."""
    assert float(torch.tensor(problem.anchor_t, dtype=torch.float32)) == problem.anchor_t
    assert problem.anchor_t in (2.0, float(torch.tensor(2.91, dtype=torch.float32)), 4.0)
