"""Tests for `Problem`: validation of every field, derived values and presets.

Anchors of the published YOLOv5 P5 set (yolov5s.yaml) in pixels, per level (stride 8, 16, 32):
(10,13) (16,30) (33,23) | (30,61) (62,45) (59,119) | (116,90) (156,198) (373,326).
Every stride is a power of two, so pixels / stride is exact in float32.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from yolo_diagnostics import PRESETS, Problem
from yolo_diagnostics.problem import YOLOV5_P5_ANCHORS

P5_STRIDES = (8, 16, 32)
NAN = float("nan")
INF = float("inf")


def p5(**overrides: object) -> Problem:
    """A 640x640 P5 problem with YOLOv5's anchors, fields overridable."""
    fields: dict[str, object] = {
        "img_size": (640, 640),
        "strides": P5_STRIDES,
        "anchors": YOLOV5_P5_ANCHORS,
    }
    fields.update(overrides)
    return Problem(**fields)  # type: ignore[arg-type]


def with_anchor(level: int, k: int, wh: tuple[float, float]) -> tuple:
    """YOLOv5's P5 anchors with anchor ``k`` of ``level`` replaced by ``wh``."""
    levels = [list(lv) for lv in YOLOV5_P5_ANCHORS]
    levels[level][k] = wh
    return tuple(tuple(lv) for lv in levels)


def test_p5_defaults_are_valid() -> None:
    """The baseline used by the rejection tests below is itself accepted."""
    p = p5()
    assert (p.nl, p.na) == (3, 3)
    assert (p.anchor_t, p.num_classes, p.batch_size, p.g, p.rule) == (4.0, 80, 1, 0.5, "yolov5")


# --- img_size ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("img_size", "pattern"),
    [
        # 656 = 8 * 82 = 16 * 41 but 656 / 32 = 20.5: only the last stride fails.
        ((640, 656), r"Problem\.img_size: W=656 is not divisible by stride 32"),
        # 336 = 16 * 21, 336 / 32 = 10.5.
        ((336, 640), r"Problem\.img_size: H=336 is not divisible by stride 32"),
        # 644 / 8 = 80.5: the first stride already fails.
        ((640, 644), r"Problem\.img_size: W=644 is not divisible by stride 8"),
        # both sides fail at stride 32; H is checked before W.
        ((336, 656), r"Problem\.img_size: H=336 is not divisible by stride 32"),
        ((640,), r"Problem\.img_size: expected \(H, W\)"),
        ((640, 640, 3), r"Problem\.img_size: expected \(H, W\)"),
        ((0, 640), r"Problem\.img_size: must be positive"),
        ((640, -640), r"Problem\.img_size: must be positive"),
        ((640.5, 640), r"Problem\.img_size: expected integers"),
    ],
)
def test_bad_img_size_is_rejected(img_size: tuple, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        p5(img_size=img_size)


# --- strides ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strides", "pattern"),
    [
        ((8, 16, 16), r"Problem\.strides: must increase strictly.*level 2: 16 after 16"),
        ((8, 32, 16), r"Problem\.strides: must increase strictly.*level 2: 16 after 32"),
        ((16, 8, 32), r"Problem\.strides: must increase strictly.*level 1: 8 after 16"),
        ((0, 16, 32), r"Problem\.strides: must be positive"),
        ((-8, 16, 32), r"Problem\.strides: must be positive"),
        ((), r"Problem\.strides: must be positive"),
        ((8, 16.5, 32), r"Problem\.strides: expected integers"),
    ],
)
def test_bad_strides_are_rejected(strides: tuple, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        p5(strides=strides)


# --- anchors ----------------------------------------------------------------------------------


def test_anchor_level_count_must_match_strides() -> None:
    """Two anchor levels for three strides names both counts."""
    with pytest.raises(ValueError, match=r"Problem\.anchors: 2 levels of anchors for 3 strides"):
        p5(anchors=YOLOV5_P5_ANCHORS[:2])


def test_anchor_level_count_p6_strides_with_p5_anchors() -> None:
    """yolort PR #513 kind of mix-up: 4 strides, 3 levels of anchors."""
    with pytest.raises(ValueError, match=r"Problem\.anchors: 3 levels of anchors for 4 strides"):
        p5(strides=(8, 16, 32, 64))


def test_unequal_anchors_per_level_is_rejected() -> None:
    anchors = (YOLOV5_P5_ANCHORS[0], YOLOV5_P5_ANCHORS[1][:2], YOLOV5_P5_ANCHORS[2])
    with pytest.raises(ValueError, match=r"Problem\.anchors: level 1 has 2 anchors, level 0 has 3"):
        p5(anchors=anchors)


def test_anchor_that_is_not_a_pair_is_rejected() -> None:
    anchors = with_anchor(0, 1, (16, 30, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Problem\.anchors: level 0 anchor 1 is not a \(w, h\)"):
        p5(anchors=anchors)


@pytest.mark.parametrize(
    "wh",
    [(0, 119), (59, 0), (-59, 119), (59, -119), (NAN, 119), (59, NAN), (INF, 119), (59, -INF)],
)
def test_non_positive_or_non_finite_anchor_is_rejected(wh: tuple[float, float]) -> None:
    """Level 1 anchor 2 is (59, 119) in the published set; each bad replacement is named."""
    with pytest.raises(
        ValueError, match=r"Problem\.anchors: level 1 anchor 2 must be finite and positive"
    ):
        p5(anchors=with_anchor(1, 2, wh))


# Mean pixel area grows with the stride, 16² = 256 < 20² = 400 < 24² = 576, while the area in
# grid units, (side / stride)², shrinks: (16/8)² = 4 > (20/16)² = 1.5625 > (24/32)² = 0.5625.
# Comparing in grid units (yolov5 #447, #5855) would call this misordered; pixels decide.
PIXEL_ORDERED_GRID_REVERSED = (
    ((16, 16), (16, 16), (16, 16)),
    ((20, 20), (20, 20), (20, 20)),
    ((24, 24), (24, 24), (24, 24)),
)


def test_anchor_order_is_checked_in_pixels_not_grid_units() -> None:
    """Pixel areas increasing, grid-unit areas decreasing: accepted, anchors kept as given."""
    areas_grid = [
        (level[0][0] / s) * (level[0][1] / s)
        for level, s in zip(PIXEL_ORDERED_GRID_REVERSED, P5_STRIDES)
    ]
    assert areas_grid == [4.0, 1.5625, 0.5625]  # the premise: decreasing in grid units
    p = p5(anchors=PIXEL_ORDERED_GRID_REVERSED)
    assert p.anchors[2][0] == (24.0, 24.0)


def test_anchors_in_reverse_pixel_order_are_rejected() -> None:
    """The same anchors, levels reversed: 400 px² at level 1 is below 576 px² at level 0."""
    reversed_levels = PIXEL_ORDERED_GRID_REVERSED[::-1]
    with pytest.raises(
        ValueError,
        match=r"Problem\.anchors: mean anchor area 400 px² at level 1 \(stride 16\) "
        r"is below 576 px² at level 0 \(stride 8\)",
    ):
        p5(anchors=reversed_levels)


def test_published_anchors_with_levels_reversed_are_rejected() -> None:
    """P5 anchors for strides 32, 16, 8 given to strides 8, 16, 32 (what #447 fixed by a flip).

    Mean areas: level 0 (373·326 + 156·198 + 116·90) / 3 = 54308.67 px², level 1
    (59·119 + 62·45 + 30·61) / 3 = 3880.33 px² -- level 1 is the first offender.
    """
    with pytest.raises(
        ValueError, match=r"Problem\.anchors: mean anchor area 3880\.33 px² at level 1"
    ):
        p5(anchors=YOLOV5_P5_ANCHORS[::-1])


def test_anchor_order_compares_the_mean_area_per_level() -> None:
    """Level 0's mean (1 + 10000) / 2 = 5000.5 px² exceeds level 1's 2500 px², though level 1's
    smallest anchor (50x50) is far larger than level 0's (1x1): rejected on the mean."""
    anchors = (((1, 1), (100, 100)), ((50, 50), (50, 50)), ((100, 100), (100, 100)))
    with pytest.raises(ValueError, match=r"Problem\.anchors: mean anchor area 2500 px² at level 1"):
        p5(anchors=anchors)


def test_equal_mean_anchor_areas_are_accepted() -> None:
    """The order rule is "never decreasing": equal means on consecutive levels pass."""
    same = ((10, 10), (20, 20))
    p = p5(anchors=(same, same, same))
    assert p.na == 2


# --- scalar hyper-parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("anchor_t", 1.0, r"Problem\.anchor_t: must be finite and > 1, got 1\.0"),
        ("anchor_t", 0.5, r"Problem\.anchor_t: must be finite and > 1, got 0\.5"),
        ("anchor_t", -4.0, r"Problem\.anchor_t: must be finite and > 1"),
        ("anchor_t", NAN, r"Problem\.anchor_t: must be finite and > 1, got nan"),
        ("anchor_t", INF, r"Problem\.anchor_t: must be finite and > 1, got inf"),
        ("num_classes", 0, r"Problem\.num_classes: must be >= 1, got 0"),
        ("num_classes", -3, r"Problem\.num_classes: must be >= 1, got -3"),
        ("num_classes", 2.5, r"Problem\.num_classes: must be an integer, got 2\.5"),
        ("num_classes", True, r"Problem\.num_classes: must be an integer, got True"),
        ("batch_size", 0, r"Problem\.batch_size: must be >= 1, got 0"),
        ("batch_size", -1, r"Problem\.batch_size: must be >= 1, got -1"),
        ("batch_size", 1.5, r"Problem\.batch_size: must be an integer, got 1\.5"),
        ("num_classes", NAN, r"Problem\.num_classes: must be an integer, got nan"),
        ("batch_size", INF, r"Problem\.batch_size: must be an integer, got inf"),
        ("strides", (8, 16, INF), r"Problem\.strides: expected integers, got \(8, 16, inf\)"),
        ("img_size", (NAN, 640), r"Problem\.img_size: expected integers"),
        ("g", -0.1, r"Problem\.g: the neighbour bias must be that of a rule, .* got -0\.1"),
        ("g", 0.3, r"Problem\.g: .* 0\.5 \(yolov5, yolov5-v4\), 1\.0 \(five-positive\) "),
        ("g", NAN, r"Problem\.g: the neighbour bias must be that of a rule, .* got nan"),
        ("rule", "yolov9", r"Problem\.rule: expected one of yolov5, yolov5-v4, five-positive"),
        ("rule", 0.5, r"Problem\.rule: expected one of .* got 0\.5"),
    ],
)
def test_bad_scalar_is_rejected(field: str, value: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        p5(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("anchor_t", 1.0001),  # just above the bound
        ("num_classes", 1),
        ("num_classes", 3.0),  # an integral float is an integer
        ("batch_size", 1),
        ("g", 0.0),  # centre cell only
        ("g", 1.0),  # YOLOv7's 5-positive rule
    ],
)
def test_boundary_scalar_is_accepted(field: str, value: float) -> None:
    assert getattr(p5(**{field: value}), field) == value


# --- derived values ---------------------------------------------------------------------------


def test_feature_shapes_non_square() -> None:
    """img_size is (H, W): H = 320, W = 640 gives (ny, nx) = (320/s, 640/s) per stride."""
    p = p5(img_size=(320, 640))
    assert p.feature_shapes == ((40, 80), (20, 40), (10, 20))


def test_feature_shapes_portrait_is_the_transpose() -> None:
    """H = 640, W = 320: ny and nx swap relative to the landscape case."""
    assert p5(img_size=(640, 320)).feature_shapes == ((80, 40), (40, 20), (20, 10))


def test_anchors_grid_values_and_dtype(device: str) -> None:
    """Pixels / stride, e.g. level 2 anchor 0: (116, 90) / 32 = (3.625, 2.8125)."""
    grid = p5().anchors_grid(device)
    assert grid.shape == (3, 3, 2)
    assert grid.dtype == torch.float32
    assert grid.device.type == torch.device(device).type
    grid = grid.cpu()
    assert grid[2, 0].tolist() == [3.625, 2.8125]
    assert grid[0, 0].tolist() == [1.25, 1.625]  # (10, 13) / 8
    assert grid[1, 1].tolist() == [3.875, 2.8125]  # (62, 45) / 16
    assert grid[2, 2].tolist() == [11.65625, 10.1875]  # (373, 326) / 32
    # strides are powers of two, so multiplying back recovers the pixels exactly
    strides = torch.tensor(P5_STRIDES, dtype=torch.float32).view(-1, 1, 1)
    assert torch.equal(grid * strides, torch.tensor(YOLOV5_P5_ANCHORS, dtype=torch.float32))


def test_anchors_grid_rounds_in_float32() -> None:
    """A stride that is not a power of two: 10 / 24 rounded once to float32, not float64."""
    p = Problem(img_size=(48, 48), strides=(24,), anchors=(((10, 10),),))
    value = p.anchors_grid()[0, 0, 0].item()
    assert value == float(torch.tensor(10 / 24, dtype=torch.float32))
    assert value != 10 / 24  # the float64 quotient differs from its float32 rounding


def test_feature_maps_shapes_device_and_no_memory(device: str) -> None:
    """(B, na, ny, nx, 5 + nc) per level, all zeros, backed by a single element."""
    p = p5(img_size=(320, 640), batch_size=2, num_classes=3)
    maps = p.feature_maps(device)
    assert [tuple(m.shape) for m in maps] == [
        (2, 3, 40, 80, 8),
        (2, 3, 20, 40, 8),
        (2, 3, 10, 20, 8),
    ]
    for m in maps:
        assert m.device.type == torch.device(device).type
        assert m.stride() == (0, 0, 0, 0, 0)
        assert m.untyped_storage().nbytes() == m.element_size()
        assert not m.any()


# --- presets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "strides", "first_anchor", "feature_shapes"),
    [
        # first anchors from yolov5s.yaml, yolov5s6.yaml, yolov3.yaml, yolov7.yaml
        ("yolov5-p5", (8, 16, 32), (10.0, 13.0), ((80, 80), (40, 40), (20, 20))),
        ("yolov5-p6", (8, 16, 32, 64), (19.0, 27.0), ((80, 80), (40, 40), (20, 20), (10, 10))),
        ("yolov3", (8, 16, 32), (10.0, 13.0), ((80, 80), (40, 40), (20, 20))),
        ("yolov7", (8, 16, 32), (12.0, 16.0), ((80, 80), (40, 40), (20, 20))),
    ],
)
def test_preset(
    name: str,
    strides: tuple[int, ...],
    first_anchor: tuple[float, float],
    feature_shapes: tuple[tuple[int, int], ...],
) -> None:
    """Each preset at 640x640: strides, nl == len(strides), 3 anchors per level."""
    p = Problem.preset(name)
    assert p.img_size == (640, 640)
    assert p.strides == strides
    assert p.nl == len(strides) == len(p.anchors)
    assert p.na == 3
    assert p.anchors[0][0] == first_anchor
    assert p.feature_shapes == feature_shapes


def test_presets_table_lists_the_four_configurations() -> None:
    assert sorted(PRESETS) == ["yolov3", "yolov5-p5", "yolov5-p6", "yolov7"]


def test_preset_overrides() -> None:
    p = Problem.preset("yolov5-p5", img_size=(320, 640), batch_size=4, num_classes=3, g=1.0)
    assert (p.img_size, p.batch_size, p.num_classes, p.g) == ((320, 640), 4, 3, 1.0)
    assert p.rule == "five-positive"  # g = 1 alone names YOLOv7's rule
    assert p.strides == (8, 16, 32)  # not overridden: the preset's


@pytest.mark.parametrize(
    ("given", "rule", "g"),
    [
        ({}, "yolov5", 0.5),
        ({"rule": "yolov5-v4"}, "yolov5-v4", 0.5),
        ({"rule": "five-positive"}, "five-positive", 1.0),
        ({"rule": "centre"}, "centre", 0.0),
        ({"g": 0.5}, "yolov5", 0.5),  # the case files written before rules existed
        ({"g": 0}, "centre", 0.0),
        ({"rule": "centre", "g": 0.0}, "centre", 0.0),
        ({"rule": "yolov5-v4", "g": 0.5}, "yolov5-v4", 0.5),
    ],
)
def test_rule_and_g(given: dict, rule: str, g: float) -> None:
    p = p5(**given)
    assert (p.rule, p.g) == (rule, g)
    assert Problem(**dataclasses.asdict(p)) == p  # a case file's round trip


@pytest.mark.parametrize(("rule", "g"), [("five-positive", 0.5), ("centre", 1.0), ("yolov5", 0)])
def test_a_g_that_contradicts_the_rule_is_refused(rule: str, g: float) -> None:
    with pytest.raises(ValueError, match=rf"Problem\.g = {g:g} contradicts rule '{rule}'"):
        p5(rule=rule, g=g)


def test_preset_override_is_validated() -> None:
    """608 = 32 * 19 fits P5 but not P6's stride 64 (608 / 64 = 9.5)."""
    assert Problem.preset("yolov5-p5", img_size=(640, 608)).feature_shapes[2] == (20, 19)
    with pytest.raises(ValueError, match=r"Problem\.img_size: W=608 is not divisible by stride 64"):
        Problem.preset("yolov5-p6", img_size=(640, 608))


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match=r"unknown preset 'yolov6'; known: .*yolov5-p6"):
        Problem.preset("yolov6")


# --- normalisation and immutability -----------------------------------------------------------


def test_lists_are_normalised_to_tuples() -> None:
    """Lists in, tuples (of ints / float pairs) out; equal and hash-equal to the tuple form."""
    listed = Problem(
        img_size=[640, 640],  # type: ignore[arg-type]
        strides=[8, 16, 32],  # type: ignore[arg-type]
        anchors=[[list(a) for a in level] for level in YOLOV5_P5_ANCHORS],  # type: ignore[arg-type]
    )
    assert type(listed.img_size) is tuple and listed.img_size == (640, 640)
    assert type(listed.strides) is tuple and listed.strides == (8, 16, 32)
    assert type(listed.anchors) is tuple
    assert all(type(level) is tuple for level in listed.anchors)
    assert all(type(a) is tuple for level in listed.anchors for a in level)
    assert type(listed.anchors[0][0][0]) is float
    assert listed == p5()
    assert hash(listed) == hash(p5())
    assert len({listed, p5()}) == 1


def test_integral_float_sizes_become_ints() -> None:
    p = p5(img_size=(640.0, 320.0), strides=(8.0, 16.0, 32.0))
    assert p.img_size == (640, 320) and all(type(v) is int for v in p.img_size)
    assert all(type(s) is int for s in p.strides)
    assert p.feature_shapes == ((80, 40), (40, 20), (20, 10))


@pytest.mark.parametrize(
    ("field", "value"), [("g", 1.0), ("img_size", (320, 320)), ("batch_size", 2)]
)
def test_problem_is_frozen(field: str, value: object) -> None:
    p = p5()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(p, field, value)
    assert getattr(p, field) != value
