"""Tests for the canonical `Assignment` table and its multiset `diff`.

The hand-built YOLOv5 output below has two levels: two positives on level 0, one on level 1.
All float values are exact in float32 (multiples of 1/16), so equality checks are exact.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import Tensor

from yolo_diagnostics import Assignment, Problem, assign, diff
from yolo_diagnostics.assignment import UNKNOWN, YoloV5Output

# level 0: rows (image, anchor, gj, gi, cls) = (0, 2, 5, 6, 3) and (1, 0, 7, 4, 1)
# level 1: row (1, 1, 2, 3, 0)
LEVEL0_TBOX = [[0.25, 0.5, 1.5, 2.0], [1.25, -0.25, 0.75, 3.0]]
LEVEL0_ANCH = [[1.25, 1.625], [4.125, 2.875]]
LEVEL1_TBOX = [[0.75, 1.0, 2.5, 0.5]]
LEVEL1_ANCH = [[3.875, 2.8125]]


def long(values: list[int], device: str) -> Tensor:
    return torch.tensor(values, dtype=torch.int64, device=device)


def hand_built(device: str = "cpu") -> YoloV5Output:
    """``(tcls, tbox, indices, anch)`` as ComputeLoss.build_targets returns them."""
    tcls = [long([3, 1], device), long([0], device)]
    tbox = [torch.tensor(LEVEL0_TBOX, device=device), torch.tensor(LEVEL1_TBOX, device=device)]
    indices = [
        (long([0, 1], device), long([2, 0], device), long([5, 7], device), long([6, 4], device)),
        (long([1], device), long([1], device), long([2], device), long([3], device)),
    ]
    anch = [torch.tensor(LEVEL0_ANCH, device=device), torch.tensor(LEVEL1_ANCH, device=device)]
    return tcls, tbox, indices, anch


def table(device: str = "cpu") -> Assignment:
    return Assignment.from_yolov5(hand_built(device))


# --- from_yolov5 / to_yolov5 ------------------------------------------------------------------


def test_from_yolov5_concatenates_levels_in_order(device: str) -> None:
    """Level 0's rows first, then level 1's; each column concatenated the same way."""
    a = table(device)
    assert len(a) == 3 and a.num_levels == 2
    assert a.device.type == torch.device(device).type
    assert a.level.tolist() == [0, 0, 1]
    assert a.image.tolist() == [0, 1, 1]
    assert a.anchor.tolist() == [2, 0, 1]
    assert a.gj.tolist() == [5, 7, 2]
    assert a.gi.tolist() == [6, 4, 3]
    assert a.cls.tolist() == [3, 1, 0]
    assert a.tbox.tolist() == LEVEL0_TBOX + LEVEL1_TBOX
    assert a.anch.tolist() == LEVEL0_ANCH + LEVEL1_ANCH


def test_from_yolov5_dtypes_and_unknown_provenance() -> None:
    a = table()
    for name in ("level", "image", "anchor", "gj", "gi", "cls", "target", "offset"):
        assert getattr(a, name).dtype == torch.int64, name
    assert a.tbox.dtype == torch.float32 and a.tbox.shape == (3, 4)
    assert a.anch.dtype == torch.float32 and a.anch.shape == (3, 2)
    assert a.target.tolist() == [UNKNOWN] * 3 == [-1, -1, -1]
    assert a.offset.tolist() == [-1, -1, -1]


def test_from_yolov5_casts_narrow_integer_and_float_columns() -> None:
    """Forks that return float tcls or int32 indices still give int64 columns."""
    tcls, tbox, indices, anch = hand_built()
    tcls = [c.float() for c in tcls]
    indices = [tuple(ix.int() for ix in level) for level in indices]
    a = Assignment.from_yolov5((tcls, tbox, indices, anch))
    assert a.cls.dtype == a.image.dtype == a.gj.dtype == torch.int64
    assert a.cls.tolist() == [3, 1, 0] and a.gi.tolist() == [6, 4, 3]


def test_from_yolov5_keeps_float64() -> None:
    """tbox/anch are promoted with float32, never demoted: float64 stays float64."""
    tcls, tbox, indices, anch = hand_built()
    a = Assignment.from_yolov5((tcls, [t.double() for t in tbox], indices, anch))
    assert a.tbox.dtype == torch.float64 and a.anch.dtype == torch.float32


def test_from_yolov5_without_levels_is_an_error() -> None:
    with pytest.raises(ValueError, match="no levels"):
        Assignment.from_yolov5(([], [], [], []))


def test_round_trip_reproduces_the_output(device: str) -> None:
    """to_yolov5(from_yolov5(out)) == out, level by level, values and dtypes."""
    out = hand_built(device)
    back = table(device).to_yolov5()
    assert len(back[0]) == 2
    for level in range(2):
        assert torch.equal(back[0][level], out[0][level])
        assert back[0][level].dtype == torch.int64
        assert torch.equal(back[1][level], out[1][level])
        assert back[1][level].dtype == torch.float32
        for got, want in zip(back[2][level], out[2][level]):
            assert torch.equal(got, want)
        assert torch.equal(back[3][level], out[3][level])


def test_to_yolov5_groups_by_level_keeping_row_order() -> None:
    """Rows in order (level 1, level 0 row b, level 0 row a) come back per level, b before a."""
    a = table().select(torch.tensor([2, 1, 0]))
    tcls, tbox, indices, _ = a.to_yolov5()
    assert tcls[0].tolist() == [1, 3]
    assert tcls[1].tolist() == [0]
    assert indices[0][2].tolist() == [7, 5]  # gj of level 0 in the new row order
    assert tbox[0].tolist() == LEVEL0_TBOX[::-1]


def test_empty_level_survives_the_round_trip() -> None:
    """A level with no positives keeps its slot and its column widths."""
    tcls, tbox, indices, anch = hand_built()
    empty = torch.zeros(0, dtype=torch.int64)
    out = (
        [tcls[0], empty],
        [tbox[0], torch.zeros(0, 4)],
        [indices[0], (empty, empty, empty, empty)],
        [anch[0], torch.zeros(0, 2)],
    )
    a = Assignment.from_yolov5(out)
    assert len(a) == 2 and a.num_levels == 2
    back = a.to_yolov5()
    assert back[0][1].shape == (0,)
    assert back[1][1].shape == (0, 4)
    assert back[3][1].shape == (0, 2)
    assert [ix.shape for ix in back[2][1]] == [(0,)] * 4


# --- records / select -------------------------------------------------------------------------


def test_records_are_plain_data() -> None:
    recs = table().records()
    assert recs[2] == {
        "level": 1,
        "image": 1,
        "anchor": 1,
        "gj": 2,
        "gi": 3,
        "cls": 0,
        "tbox": [0.75, 1.0, 2.5, 0.5],
        "anch": [3.875, 2.8125],
        "target": -1,
        "offset": None,
    }
    assert all(type(r["gj"]) is int and type(r["tbox"][0]) is float for r in recs)
    assert json.loads(json.dumps(recs)) == recs


def test_select_by_mask_and_by_index() -> None:
    a = table()
    by_mask = a.select(a.level == 0)
    assert by_mask.gj.tolist() == [5, 7] and by_mask.num_levels == 2
    by_index = a.select(torch.tensor([2, 0]))
    assert by_index.gj.tolist() == [2, 5]
    assert by_index.tbox.tolist() == [LEVEL1_TBOX[0], LEVEL0_TBOX[0]]
    assert by_index.num_levels == 2
    repeated = a.select(torch.tensor([1, 1]))
    assert repeated.records() == [a.records()[1]] * 2


# --- diff -------------------------------------------------------------------------------------


def test_diff_identical_is_equal(device: str) -> None:
    d = diff(table(device), table(device))
    assert d.equal and (len(d.missing), len(d.extra)) == (0, 0)
    assert d.summary() == "0 missing, 0 extra rows"


@pytest.mark.parametrize("order", [[2, 1, 0], [1, 2, 0], [0, 2, 1]])
def test_diff_ignores_row_order(order: list[int], device: str) -> None:
    a = table(device)
    assert diff(a, a.select(torch.tensor(order, device=device))).equal


def test_diff_removed_row_is_missing(device: str) -> None:
    a = table(device)
    d = diff(a, a.select(torch.tensor([0, 2], device=device)))
    assert len(d.extra) == 0
    assert d.missing.records() == [a.records()[1]]
    r = a.records()[1]
    assert d.summary() == (
        f"1 missing, 0 extra rows; first missing: level={r['level']}, image={r['image']}, "
        f"anchor={r['anchor']}, gj={r['gj']}, gi={r['gi']}"
    )


def test_diff_added_row_is_extra(device: str) -> None:
    a = table(device)
    d = diff(a.select(torch.tensor([0, 1], device=device)), a)
    assert len(d.missing) == 0
    assert d.extra.records() == [a.records()[2]]


def test_diff_is_a_multiset_difference(device: str) -> None:
    """Row 0 twice in actual, once in expected: one extra row (a set diff would see none)."""
    a = table(device)
    d = diff(a, a.select(torch.tensor([0, 1, 2, 0], device=device)))
    assert len(d.missing) == 0
    assert d.extra.records() == [a.records()[0]]


def test_diff_duplicate_in_expected_only_is_missing(device: str) -> None:
    a = table(device)
    d = diff(
        a.select(torch.tensor([1, 0, 1], device=device)),
        a.select(torch.tensor([0, 1], device=device)),
    )
    assert d.missing.records() == [a.records()[1]] and len(d.extra) == 0


def nudged(a: Assignment, column: str, row: int, col: int, delta: float) -> Assignment:
    """A float64 copy of ``a`` with ``column[row, col] += delta``."""
    values = getattr(a, column).double().clone()
    values[row, col] += delta
    other = "anch" if column == "tbox" else "tbox"
    return dataclasses.replace(a, **{column: values, other: getattr(a, other).double()})


@pytest.mark.parametrize(("column", "col"), [("tbox", 0), ("tbox", 3), ("anch", 1)])
def test_diff_float_tolerance(column: str, col: int, device: str) -> None:
    """A 1e-7 change is a difference at atol=0 (bit-exact) and none at atol=1e-6."""
    a = table(device)
    b = nudged(a, column, 1, col, 1e-7)
    assert getattr(b, column)[1, col] != getattr(a, column)[1, col].double()  # the premise
    exact = diff(a, b)
    assert exact.missing.records() == [a.records()[1]]
    assert exact.extra.records() == [b.records()[1]]
    assert diff(a, b, atol=1e-6).equal
    assert not diff(a, b, atol=0.5e-7).equal


def test_diff_float32_and_float64_of_the_same_values_are_equal() -> None:
    """Values are compared in float64; exact float32 values widen to the same numbers."""
    a = table()
    b = dataclasses.replace(a, tbox=a.tbox.double(), anch=a.anch.double())
    assert diff(a, b).equal and diff(b, a).equal


@pytest.mark.parametrize("column", ["level", "image", "anchor", "gj", "gi", "cls"])
def test_diff_integer_column_is_never_hidden_by_atol(column: str, device: str) -> None:
    """Row 1 moved by one in an integer column: a difference even with atol = 100."""
    a = table(device)
    values = getattr(a, column).clone()
    values[1] += 1
    b = dataclasses.replace(a, **{column: values})
    d = diff(a, b, atol=100.0)
    assert d.missing.records() == [a.records()[1]]
    assert d.extra.records() == [b.records()[1]]


def test_diff_both_empty(device: str) -> None:
    empty = table(device).select(torch.zeros(3, dtype=torch.bool, device=device))
    d = diff(empty, empty)
    assert d.equal and len(d.missing) == len(d.extra) == 0


def test_diff_empty_against_non_empty(device: str) -> None:
    a = table(device)
    empty = a.select(torch.zeros(3, dtype=torch.bool, device=device))
    added, removed = diff(empty, a), diff(a, empty)
    assert added.extra.records() == a.records() and len(added.missing) == 0
    assert removed.missing.records() == a.records() and len(removed.extra) == 0


def test_diff_of_reference_on_empty_targets(device: str) -> None:
    """assign() on no targets gives empty tables under both semantics; they are equal."""
    p = Problem.preset("yolov5-p5")
    t = torch.zeros(0, 6, device=device)
    d = diff(assign(p, t, semantics="strict"), assign(p, t, semantics="yolov5"))
    assert d.equal


# --- yolov5 vs strict on an integer grid coordinate ---------------------------------------------

# P5 at 640x640, batch 2. Target: image 1, class 7, x = y = 0.5, w = h = 2**-7 (5 px).
# Ratio filter (ratios are pixel / pixel, the stride cancels): against (10, 13) the worst ratio is
# 13/5 = 2.6 < 4, kept; (16, 30) gives 30/5 = 6, (33, 23) gives 33/5 = 6.6, and every anchor of
# levels 1-2 is at least 30 px on a side (ratio >= 6): dropped. One positive anchor: level 0,
# anchor 0, (1.25, 1.625) in grid units. At level 0 (80x80): gx = gy = 0.5 * 80 = 40.0 exactly,
# gw = gh = 80 / 128 = 0.625.
#
# yolov5: frac(40) = 0 < 0.5 and 40 > 1, so the left (x-1) and up (y-1) cells are used; the
# inverse 80 - 40 = 40 also has frac 0 < 0.5, so the x+1 and y+1 tests fire too, but
# (40 + 0.5).long() = 40 is the centre cell again: two duplicate centre rows, tbox offset 0.
# strict: c = 40, u = 0 < 0.5 gives left and up; u > 0.5 is false, so no right/down.
INTEGER_TARGET = [[1.0, 7.0, 0.5, 0.5, 2**-7, 2**-7]]
CENTRE_ROW = {
    "level": 0,
    "image": 1,
    "anchor": 0,
    "gj": 40,
    "gi": 40,
    "cls": 7,
    "tbox": [0.0, 0.0, 0.625, 0.625],
    "anch": [1.25, 1.625],
    "target": 0,
}


def integer_case(device: str, semantics: str) -> Assignment:
    p = Problem.preset("yolov5-p5", batch_size=2, num_classes=8)
    return assign(p, torch.tensor(INTEGER_TARGET, device=device), semantics=semantics)


def cell_and_offset(a: Assignment) -> list[tuple[int, int, list[float], str]]:
    return sorted((r["gj"], r["gi"], r["tbox"][:2], r["offset"]) for r in a.records())


def test_strict_rows_at_integer_coordinate(device: str) -> None:
    """Centre (40, 40), left gi = 39 (tbox x = 40 - 39 = 1), up gj = 39 (tbox y = 1)."""
    strict = integer_case(device, "strict")
    assert cell_and_offset(strict) == [
        (39, 40, [0.0, 1.0], "up"),
        (40, 39, [1.0, 0.0], "left"),
        (40, 40, [0.0, 0.0], "centre"),
    ]


def test_yolov5_rows_at_integer_coordinate(device: str) -> None:
    """The strict three plus right and down, both landing on the centre cell with tbox 0."""
    yolov5 = integer_case(device, "yolov5")
    assert cell_and_offset(yolov5) == [
        (39, 40, [0.0, 1.0], "up"),
        (40, 39, [1.0, 0.0], "left"),
        (40, 40, [0.0, 0.0], "centre"),
        (40, 40, [0.0, 0.0], "down"),
        (40, 40, [0.0, 0.0], "right"),
    ]


def test_diff_yolov5_against_strict_is_exactly_the_duplicates(device: str) -> None:
    """Two extra rows on the yolov5 side, both copies of the centre row; nothing missing."""
    d = diff(integer_case(device, "strict"), integer_case(device, "yolov5"))
    assert len(d.missing) == 0
    extra = d.extra.records()
    assert len(extra) == 2
    for row in extra:
        assert {k: v for k, v in row.items() if k != "offset"} == CENTRE_ROW
    # Provenance comes from the yolov5 side. Which of the three identical centre-cell rows
    # (centre, right, down) counts as extra is not specified; they are interchangeable.
    offsets = [row["offset"] for row in extra]
    assert len(set(offsets)) == 2 and set(offsets) <= {"centre", "right", "down"}
    c = CENTRE_ROW
    assert d.summary() == (
        f"0 missing, 2 extra rows; first extra: level={c['level']}, image={c['image']}, "
        f"anchor={c['anchor']}, gj={c['gj']}, gi={c['gi']}"
    )


def test_diff_strict_against_yolov5_reports_them_missing(device: str) -> None:
    d = diff(integer_case(device, "yolov5"), integer_case(device, "strict"))
    assert len(d.extra) == 0 and len(d.missing) == 2
    assert all(
        r["gj"] == r["gi"] == 40 and r["tbox"][:2] == [0.0, 0.0] for r in d.missing.records()
    )


def test_reference_round_trip_through_yolov5_format(device: str) -> None:
    """assign -> to_yolov5 -> from_yolov5 keeps every row, in order; only provenance is lost."""
    a = integer_case(device, "yolov5")
    b = Assignment.from_yolov5(a.to_yolov5())
    assert torch.equal(a.key, b.key) and torch.equal(a.values, b.values)
    assert b.num_levels == 3
    assert b.offset.tolist() == [-1] * 5 and a.target.tolist() == [0] * 5
    assert diff(a, b).equal
