"""Tests for `validate_targets`: one ValueError naming the first offending row and field.

Targets are ``(image, class, x, y, w, h)``; the problem below has batch_size 2 (image ids 0, 1)
and num_classes 3 (class ids 0, 1, 2).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import yolo_diagnostics
from yolo_diagnostics import Problem, validate_targets

PROBLEM = Problem.preset("yolov5-p5", batch_size=2, num_classes=3)
COLUMN = {"image": 0, "class": 1, "x": 2, "y": 3, "w": 4, "h": 5}
GOOD_ROWS = [
    [0.0, 1.0, 0.5, 0.5, 0.10, 0.20],
    [1.0, 2.0, 0.3, 0.7, 0.05, 0.05],
    [0.0, 0.0, 0.9, 0.1, 0.20, 0.10],
]
NAN = float("nan")
DTYPE = r"targets: expected a floating dtype, got torch\."
TYPE = r"targets: expected a torch\.Tensor \[nt, 6\], got "
INF = float("inf")

# (field, bad value, message after "field '<name>': ")
BAD_VALUES = [
    ("x", NAN, r"must be finite, got nan"),
    ("w", INF, r"must be finite, got inf"),
    ("h", -INF, r"must be finite, got -inf"),
    ("image", NAN, r"must be finite, got nan"),
    ("w", -0.1, r"must be > 0, got -0\.1"),
    ("h", 0.0, r"must be > 0, got 0\.0"),
    ("w", 0.0, r"must be > 0, got 0\.0"),
    ("x", -0.25, r"must be in \[0, 1\]"),
    ("y", 1.25, r"must be in \[0, 1\]"),
    ("image", 2.0, r"must be in \[0, 2\), got 2\.0"),  # == batch_size
    ("image", -1.0, r"must be in \[0, 2\), got -1\.0"),
    ("class", 3.0, r"must be in \[0, 3\), got 3\.0"),  # == num_classes
    ("class", -1.0, r"must be in \[0, 3\)"),
    ("class", 1.5, r"must be an integer id, got 1\.5"),
    ("image", 0.5, r"must be an integer id, got 0\.5"),
]


def targets_with(row: int, field: str, value: float) -> torch.Tensor:
    """The three good rows with one value replaced."""
    t = torch.tensor(GOOD_ROWS)
    t[row, COLUMN[field]] = value
    return t


def error_pattern(row: int, field: str, message: str) -> str:
    return rf"^targets row {row}, field '{field}': {message}"


def test_good_rows_are_valid() -> None:
    """The baseline the rejection tests modify passes as it is."""
    t = torch.tensor(GOOD_ROWS)
    assert validate_targets(PROBLEM, t) is t


@pytest.mark.parametrize("row", [0, 2])
@pytest.mark.parametrize(("field", "value", "message"), BAD_VALUES)
def test_bad_value_names_row_and_field(
    row: int, field: str, value: float, message: str, device: str
) -> None:
    """One bad value in an otherwise valid tensor: its row and field are named."""
    bad = targets_with(row, field, value).to(device)
    with pytest.raises(ValueError, match=error_pattern(row, field, message)):
        validate_targets(PROBLEM, bad)


@pytest.mark.parametrize(("field", "value", "message"), BAD_VALUES)
def test_assign_raises_the_same_error(field: str, value: float, message: str) -> None:
    """`assign` refuses what `validate_targets` refuses: nothing is dropped silently."""
    bad = targets_with(1, field, value)
    for semantics in ("yolov5", "strict"):
        with pytest.raises(ValueError, match=error_pattern(1, field, message)):
            yolo_diagnostics.assign(PROBLEM, bad, semantics=semantics)


def test_assign_refuses_zero_width_that_yolov5_would_drop() -> None:
    """w = 0: YOLOv5's ratio r = 0 / anchor gives max(r, 1/r) = inf, never < anchor_t, so it
    drops the target without a word. Here it is an error naming row 0, field 'w'."""
    anchor_w = PROBLEM.anchors_grid()[0, 0, 0]
    r = torch.tensor(0.0) / anchor_w
    assert not bool(torch.max(r, 1 / r) < PROBLEM.anchor_t)  # YOLOv5's filter drops it
    zero_w = torch.tensor([[0.0, 0.0, 0.5, 0.5, 0.0, 0.1]])
    with pytest.raises(ValueError, match=error_pattern(0, "w", r"must be > 0, got 0\.0")):
        yolo_diagnostics.assign(PROBLEM, zero_w)


def test_first_bad_row_is_named() -> None:
    """Rows 1 and 2 are both bad (y then image): row 1 is reported."""
    t = torch.tensor(GOOD_ROWS)
    t[2, COLUMN["image"]] = 5.0
    t[1, COLUMN["y"]] = 2.0
    with pytest.raises(ValueError, match=error_pattern(1, "y", r"must be in \[0, 1\]")):
        validate_targets(PROBLEM, t)


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        # x out of range (col 2) and w NaN (col 4): the column order decides, not the rule order
        ({"x": 2.0, "w": NAN}, "x", r"must be in \[0, 1\]"),
        # class out of range (col 1) before x (col 2)
        ({"class": 99.0, "x": -1.0}, "class", r"must be in \[0, 3\)"),
        # image NaN (col 0) before class
        ({"image": NAN, "class": 1.5}, "image", r"must be finite"),
        # w zero (col 4) before h inf (col 5)
        ({"w": 0.0, "h": INF}, "w", r"must be > 0"),
    ],
)
def test_first_bad_field_in_a_row_is_named(bad: dict[str, float], field: str, message: str) -> None:
    t = torch.tensor(GOOD_ROWS)
    for name, value in bad.items():
        t[1, COLUMN[name]] = value
    with pytest.raises(ValueError, match=error_pattern(1, field, message)):
        validate_targets(PROBLEM, t)


def test_non_finite_class_reports_finiteness_first() -> None:
    """A NaN class is also not an integer; the first rule broken (finiteness) is reported."""
    t = targets_with(0, "class", NAN)
    with pytest.raises(ValueError, match=error_pattern(0, "class", "must be finite, got nan")):
        validate_targets(PROBLEM, t)


@pytest.mark.parametrize(
    ("targets", "pattern"),
    [
        (torch.zeros(2, 5), r"targets: expected shape \[nt, 6\].*got \[2, 5\]"),
        (torch.zeros(2, 7), r"targets: expected shape \[nt, 6\].*got \[2, 7\]"),
        (torch.zeros(6), r"targets: expected shape \[nt, 6\].*got \[6\]"),
        (torch.zeros(1, 1, 6), r"targets: expected shape \[nt, 6\].*got \[1, 1, 6\]"),
        (torch.zeros(0, 5), r"targets: expected shape \[nt, 6\].*got \[0, 5\]"),
        (torch.tensor([GOOD_ROWS[0]]).long(), DTYPE + r"int64"),
        (torch.zeros(0, 6, dtype=torch.int32), DTYPE + r"int32"),
        (torch.zeros(1, 6, dtype=torch.bool), DTYPE + r"bool"),
        (np.array([GOOD_ROWS[0]]), TYPE + r"ndarray"),
        ([GOOD_ROWS[0]], TYPE + r"list"),
    ],
    ids=["n5", "n7", "1d", "3d", "empty-n5", "int64", "empty-int32", "bool", "numpy", "list"],
)
def test_wrong_type_shape_or_dtype(targets: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        validate_targets(PROBLEM, targets)
    with pytest.raises(ValueError, match=pattern):
        yolo_diagnostics.assign(PROBLEM, targets)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "row",
    [
        [0.0, 0.0, 0.0, 0.5, 0.1, 0.1],  # x = 0, left edge
        [0.0, 0.0, 1.0, 0.5, 0.1, 0.1],  # x = 1, right edge
        [0.0, 0.0, 0.5, 0.0, 0.1, 0.1],  # y = 0
        [0.0, 0.0, 0.5, 1.0, 0.1, 0.1],  # y = 1
        [0.0, 0.0, 0.5, 0.5, 1e-6, 1e-6],  # tiny but positive w, h
        [0.0, 0.0, 0.5, 0.5, 1.0, 1.0],  # box as large as the image
        [1.0, 2.0, 0.5, 0.5, 0.1, 0.1],  # last image id, last class id
        [0.0, 0.0, -0.0, 0.5, 0.1, 0.1],  # negative zero is not < 0
    ],
)
def test_edge_values_pass_unchanged(row: list[float], device: str) -> None:
    """Valid boundary values are returned as the very same tensor object."""
    t = torch.tensor([row]).to(device)
    before = t.clone()
    assert validate_targets(PROBLEM, t) is t
    assert torch.equal(t, before)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_dtypes_pass_unchanged(dtype: torch.dtype) -> None:
    t = torch.tensor(GOOD_ROWS, dtype=dtype)
    out = validate_targets(PROBLEM, t)
    assert out is t and out.dtype == dtype


def test_empty_targets_pass_unchanged() -> None:
    t = torch.zeros(0, 6)
    assert validate_targets(PROBLEM, t) is t


def test_float64_bad_value_is_still_caught() -> None:
    """Validation does not go through float32: 1 + 1e-12 > 1 is caught in float64."""
    t = torch.tensor(GOOD_ROWS, dtype=torch.float64)
    t[2, COLUMN["x"]] = 1 + 1e-12
    with pytest.raises(ValueError, match=error_pattern(2, "x", r"must be in \[0, 1\]")):
        validate_targets(PROBLEM, t)


def test_targets_requiring_grad_are_validated() -> None:
    t = torch.tensor(GOOD_ROWS, requires_grad=True)
    assert validate_targets(PROBLEM, t) is t
    bad = targets_with(0, "h", -1.0).requires_grad_()
    with pytest.raises(ValueError, match=error_pattern(0, "h", "must be > 0")):
        validate_targets(PROBLEM, bad)
