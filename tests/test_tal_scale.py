"""The TAL training-scale strategies: the seeded pool, the per-image tables, the sizes they
reach, what they cost in memory, and how a failing large case shrinks.

Most cases here draw one class: the scores are then ``b x na`` values, and a case of 64
images at 1 280 px costs milliseconds instead of 700 MB (`case_bytes` says what 80 cost).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import Phase, find, given, seed, settings
from hypothesis import strategies as st

from yolo_diagnostics.errors import DiagnosticsError
from yolo_diagnostics.tal import TalProblem, make_assigner, validate_inputs
from yolo_diagnostics.tal.corpus import TalBatch
from yolo_diagnostics.tal.scale import (
    MAX_GT_PER_IMAGE,
    case_bytes,
    gt_pool,
    large_tal_cases,
    large_tal_problems,
    pack,
    tal_scale_features,
)

QUIET = settings(database=None, derandomize=True, deadline=None, max_examples=2_000)
P6 = TalProblem.preset("ultralytics-p6", img_size=(1280, 1280), batch_size=64)
LAYOUT = {"idle": 10, "crowded": 6, "weight": 40, "piled": 0.4, "seed": 3}
# one class at 16 x 640 x 640: each draw is cheap, so shrinking takes seconds
SMALL_LARGE = large_tal_problems(num_classes=1, batch_size=16, img_size=(640, 640))


def valid_gts(case: tuple[TalProblem, TalBatch]) -> int:
    return int(case[1].mask_gt.sum())


def test_pool_is_a_prefix_of_itself_and_inside_the_input() -> None:
    image, label, box = gt_pool(P6, 10_000, **LAYOUT)
    assert image.shape == label.shape == (10_000,) and box.shape == (10_000, 4)
    assert (box[:, :2] >= 0).all() and (box[:, 2:] <= 1280).all()
    assert (box[:, 2:] >= box[:, :2]).all() and 0 <= label.min() <= label.max() < 80
    head = gt_pool(P6, 2_500, **LAYOUT)  # shrinking the count cuts the tail
    assert all(torch.equal(a, b[:2_500]) for a, b in zip(head, (image, label, box)))
    other = gt_pool(P6, 2_500, **{**LAYOUT, "seed": 4})
    assert not torch.equal(other[2], box[:2_500])


def test_pool_has_idle_and_crowded_images_piled_on_hot_anchors() -> None:
    image, _, box = gt_pool(P6, 10_000, **LAYOUT)
    counts = torch.bincount(image, minlength=64).sort(descending=True).values
    assert (counts == 0).sum() == LAYOUT["idle"]
    crowded, sparse = counts[: LAYOUT["crowded"]], counts[LAYOUT["crowded"] : -LAYOUT["idle"]]
    assert crowded.min() > 10 * sparse.max()  # weight 40 against 1
    labels, boxes, valid = pack(P6, image, torch.zeros_like(image), box, cap=10_000)
    batch = TalBatch(*(torch.zeros(0),) * 3, labels, boxes, valid[..., None].double())
    assert tal_scale_features(P6, batch)["most-in-one-cell"] >= 100


def test_pool_refuses_an_impossible_layout() -> None:
    with pytest.raises(DiagnosticsError, match=r"idle < batch_size .*idle 64"):
        gt_pool(P6, 10, **{**LAYOUT, "idle": 64})


def test_pack_keeps_each_images_rows_in_order_up_to_the_cap() -> None:
    problem = TalProblem(img_size=(64, 64), batch_size=3)
    image = torch.tensor([1, 0, 1, 1, 0])
    label = torch.tensor([10, 11, 12, 13, 14])
    box = torch.arange(20, dtype=torch.float64).view(5, 4)
    labels, boxes, valid = pack(problem, image, label, box, cap=2)
    assert valid.tolist() == [[True, True], [True, True], [False, False]]
    assert labels[..., 0].tolist() == [[11, 14], [10, 12], [0, 0]]  # row 3 is over the cap
    assert torch.equal(boxes[0], box[[1, 4]]) and torch.equal(boxes[1], box[[0, 2]])
    assert (boxes[2] == 0).all()


@pytest.mark.parametrize(
    ("precision", "expected"),
    [("float32", 731_868_800), ("float16", 365_934_400), ("amp", 383_708_800)],
)
def test_the_largest_case_costs_what_the_docstring_says(precision: str, expected: int) -> None:
    """64 images at 1 280 px on P6 (34 000 anchor points), 80 classes, 300 rows each."""
    largest = TalProblem.preset("ultralytics-p6", img_size=(1280, 1280), batch_size=64)
    assert largest.num_anchors == 34_000
    assert case_bytes(largest, MAX_GT_PER_IMAGE, precision) == expected


@seed(2)
@settings(max_examples=4, deadline=None, database=None, phases=[Phase.generate])
@given(large_tal_cases(problem=SMALL_LARGE, max_gt=2_000))
def test_case_bytes_counts_a_drawn_batch(case: tuple[TalProblem, TalBatch]) -> None:
    problem, batch = case
    precision = {
        (torch.float32, torch.float32): "float32",
        (torch.float16, torch.float16): "float16",
        (torch.float32, torch.float16): "amp",
    }[(batch.gt_bboxes.dtype, batch.pd_scores.dtype)]
    n = batch.gt_bboxes.shape[1]
    assert case_bytes(problem, n, precision) == sum(t.nbytes for t in batch)


@settings(max_examples=40, deadline=None, database=None)
@given(large_tal_problems())
def test_large_problems_are_training_sized(problem: TalProblem) -> None:
    assert 16 <= problem.batch_size <= 64 and 1 <= problem.num_classes <= 80
    assert problem.strides in ((8, 16, 32), (8, 16, 32, 64))
    assert all(640 <= side <= 1280 and side % 64 == 0 for side in problem.img_size)
    assert 8_400 <= problem.num_anchors <= 34_000


def test_large_problems_reach_both_ends() -> None:
    big = find(
        large_tal_problems(), lambda p: p.num_anchors * p.batch_size >= 64 * 34_000, settings=QUIET
    )
    assert (big.batch_size, big.num_anchors, big.img_size) == (64, 34_000, (1280, 1280))
    small = find(large_tal_problems(), lambda p: p.num_anchors <= 8_400, settings=QUIET)
    assert (small.num_anchors, small.strides, small.img_size) == (8_400, (8, 16, 32), (640, 640))


def test_large_cases_are_valid_and_reach_300_gts_in_an_image() -> None:
    seen: list[dict[str, int]] = []

    @seed(0)
    @settings(max_examples=6, deadline=None, database=None, phases=[Phase.generate])
    @given(large_tal_cases(problem=large_tal_problems(num_classes=1)))
    def collect(case: tuple[TalProblem, TalBatch]) -> None:
        problem, batch = case
        validate_inputs(problem, *batch)
        features = tal_scale_features(problem, batch)
        assert features["rows"] == features["most-in-one-image"] <= MAX_GT_PER_IMAGE
        assert features["gts"] <= problem.batch_size * MAX_GT_PER_IMAGE
        seen.append(features)

    collect()
    assert max(f["most-in-one-image"] for f in seen) == MAX_GT_PER_IMAGE
    assert max(f["gts"] for f in seen) >= 4_000 and max(f["most-in-one-cell"] for f in seen) >= 20
    assert max(f["images"] for f in seen) >= 32 and max(f["anchors"] for f in seen) >= 20_000


def test_a_case_failing_above_1000_gts_shrinks_to_1001() -> None:
    problem, batch = find(
        large_tal_cases(problem=SMALL_LARGE), lambda c: valid_gts(c) > 1_000, settings=QUIET
    )
    features = tal_scale_features(problem, batch)
    assert features["gts"] == 1_001 and features["idle-images"] == 0


def test_large_cases_take_values_and_strategies() -> None:
    problem = TalProblem(num_classes=3, img_size=(640, 640), batch_size=16)
    found_problem, batch = find(
        large_tal_cases(
            problem=problem,
            max_gt=50,
            max_gt_per_image=4,
            extra_rows=0,
            box_kind="floor",
            predictions=st.just("identical"),
            scores="zero",
            precision=st.sampled_from(["float16"]),
            device="cpu",
        ),
        lambda c: valid_gts(c) > 0,
        settings=QUIET,
    )
    assert found_problem is problem and batch.gt_bboxes.dtype == batch.pd_scores.dtype == torch.half
    assert batch.gt_bboxes.shape[1] <= 4 and (batch.pd_scores == 0).all()
    assert (batch.pd_bboxes == batch.pd_bboxes[:, :1]).all()  # one box at every anchor


def test_negative_bounds_are_refused() -> None:
    with pytest.raises(DiagnosticsError, match=r"bounds must be >= 0, got max_gt -1"):
        find(large_tal_cases(max_gt=-1), lambda c: True, settings=QUIET)


@seed(1)
@settings(max_examples=2, deadline=None, database=None, phases=[Phase.generate])
@given(large_tal_cases(problem=SMALL_LARGE, max_gt=16 * MAX_GT_PER_IMAGE))
def test_large_cases_run_through_the_reference(case: tuple[TalProblem, TalBatch]) -> None:
    problem, batch = case
    labels, boxes, scores, fg, gt_idx = make_assigner(problem, "cpu")(*batch)
    assert fg.shape == (16, 8_400) and int(fg.sum()) <= problem.topk * valid_gts(case)
