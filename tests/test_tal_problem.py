"""Tests for `TalProblem`: validation of each field, presets, and the anchor points, which
must be ultralytics' ``make_anchors(...)[0] * stride_tensor`` bit for bit."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest
import torch

from yolo_diagnostics.errors import DiagnosticsError
from yolo_diagnostics.tal import TAL_PRESETS, TalProblem


def test_defaults_are_ultralytics_training() -> None:
    p = TalProblem()
    assert (p.topk, p.topk2, p.alpha, p.beta, p.eps, p.stal) == (10, None, 0.5, 6.0, 1e-9, True)
    assert p.strides == (8, 16, 32) and p.img_size == (640, 640)
    assert p.num_anchors == 80 * 80 + 40 * 40 + 20 * 20 == 8400
    assert p.level_starts == (0, 6400, 8000, 8400)
    assert (p.stal_side, p.stal_below) == (16.0, 16.0)
    assert not p.topk2_applies


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("ultralytics", {"topk": 10, "topk2": None, "alpha": 0.5, "beta": 6.0, "stal": True}),
        ("ultralytics-8.3", {"topk": 10, "alpha": 0.5, "stal": False}),
        ("ultralytics-p6", {"strides": (8, 16, 32, 64), "stal": True}),
        ("ultralytics-pre25912", {"stal": True, "stal_threshold": 8.0}),
        ("one2one", {"topk": 7, "topk2": 1, "alpha": 0.5, "beta": 6.0}),
        ("tood", {"topk": 13, "alpha": 1.0, "beta": 6.0}),
    ],
)
def test_presets(name: str, fields: dict[str, object]) -> None:
    p = TalProblem.preset(name)
    assert {k: getattr(p, k) for k in fields} == fields
    assert p.eps == 1e-9


def test_preset_overrides_and_unknown_names() -> None:
    p = TalProblem.preset("ultralytics-p6", img_size=(1280, 1280), num_classes=3)
    assert p.feature_shapes == ((160, 160), (80, 80), (40, 40), (20, 20))
    assert p.stal_side == 16.0  # strides[1] on P6 too, not 8
    assert TalProblem.preset("one2one").topk2_applies
    assert not TalProblem.preset("ultralytics", topk2=10).topk2_applies  # topk2 == topk
    with pytest.raises(DiagnosticsError, match=r"unknown TAL preset 'yolov8'; known: one2one, "):
        TalProblem.preset("yolov8")
    assert set(TAL_PRESETS) == {
        "ultralytics",
        "ultralytics-8.3",
        "ultralytics-p6",
        "ultralytics-pre25912",
        "one2one",
        "tood",
    }


def test_pre25912_floors_below_the_first_stride_to_the_second() -> None:
    p = TalProblem.preset("ultralytics-pre25912")
    assert (p.stal_below, p.stal_side) == (8.0, 16.0)
    one_level = TalProblem(strides=(32,), img_size=(64, 64))
    assert (one_level.stal_below, one_level.stal_side) == (32.0, 32.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"img_size": (640,)}, r"TalProblem\.img_size: expected a positive \(H, W\), got \(640,\)"),
        ({"img_size": (0, 640)}, r"TalProblem\.img_size: expected a positive"),
        ({"img_size": (640, 656)}, r"TalProblem\.img_size: W=656 is not divisible by stride 32"),
        ({"img_size": "640"}, r"TalProblem\.img_size: expected a sequence of integers"),
        ({"img_size": (640.5, 640)}, r"TalProblem\.img_size: expected integers"),
        ({"strides": ()}, r"TalProblem\.strides: must be positive, got \(\)"),
        ({"strides": (8, 8, 32)}, r"TalProblem\.strides: must increase strictly"),
        ({"strides": (0, 16)}, r"TalProblem\.strides: must be positive"),
        ({"num_classes": 0}, r"TalProblem\.num_classes: must be an integer >= 1, got 0"),
        ({"num_classes": True}, r"TalProblem\.num_classes: must be an integer >= 1, got True"),
        ({"batch_size": 2.5}, r"TalProblem\.batch_size: must be an integer >= 1, got 2\.5"),
        ({"topk": 0}, r"TalProblem\.topk: must be an integer >= 1, got 0"),
        ({"topk2": 0}, r"TalProblem\.topk2: must be an integer >= 1, got 0"),
        ({"alpha": -0.5}, r"TalProblem\.alpha: must be finite and >= 0, got -0\.5"),
        ({"beta": float("nan")}, r"TalProblem\.beta: must be finite and >= 0, got nan"),
        ({"eps": "1e-9"}, r"TalProblem\.eps: must be a number, got '1e-9'"),
        ({"stal": 1}, r"TalProblem\.stal: must be True or False, got 1"),
        ({"stal_threshold": 0}, r"TalProblem\.stal_threshold: must be > 0"),
    ],
)
def test_bad_fields_name_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(DiagnosticsError, match=message):
        TalProblem(**fields)  # type: ignore[arg-type]


def test_fields_are_normalised_and_frozen() -> None:
    p = TalProblem(strides=[8, 16.0, 32], img_size=[320, 480], topk=5.0, alpha=1)
    assert p.strides == (8, 16, 32) and p.img_size == (320, 480)
    assert isinstance(p.topk, int) and isinstance(p.alpha, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.topk = 3  # type: ignore[misc]
    assert hash(p) == hash(TalProblem(strides=(8, 16, 32), img_size=(320, 480), topk=5, alpha=1.0))


def test_anchor_points_hand_computed() -> None:
    """A 32 x 64 input at strides 16 and 32: 2 x 4 then 1 x 2 cells, x fastest."""
    p = TalProblem(strides=(16, 32), img_size=(32, 64))
    row = [[8, 8], [24, 8], [40, 8], [56, 8]]
    expected = row + [[x, 24] for x, _ in row] + [[16, 16], [48, 16]]
    assert p.anchor_points().tolist() == expected
    assert p.anchor_points(dtype=torch.float16).dtype == torch.float16


@pytest.mark.parametrize(
    "problem",
    [
        TalProblem.preset("ultralytics"),
        TalProblem.preset("ultralytics-p6", img_size=(1280, 1024)),
        TalProblem.preset("ultralytics", img_size=(384, 640)),
        TalProblem(strides=(8,), img_size=(16, 24)),
    ],
    ids=["p5-640", "p6-1280x1024", "p5-384x640", "one-level"],
)
def test_anchor_points_equal_ultralytics_make_anchors(problem: TalProblem) -> None:
    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip("ultralytics is not installed")
    from yolo_diagnostics.adapters._support import offline_import

    with offline_import():
        from ultralytics.utils.tal import make_anchors

    feats = [torch.zeros(1, 1, ny, nx) for ny, nx in problem.feature_shapes]
    strides = torch.tensor([float(s) for s in problem.strides])
    points, stride_tensor = make_anchors(feats, strides, 0.5)
    theirs = points * stride_tensor  # v8DetectionLoss: anchor_points * stride_tensor
    ours = problem.anchor_points()
    assert ours.dtype == theirs.dtype == torch.float32
    assert torch.equal(ours, theirs)
    assert ours.shape == (problem.num_anchors, 2)
