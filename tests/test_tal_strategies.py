"""Tests for the TAL strategies: what they draw, `tal_edge_kinds` on hand-made batches, and the
training-scale cases (sizes, memory, shrinking).

The hand-made batches are for `PROBLEM`: one 128 x 128 image, strides 8, 16, 32 (anchor
coordinates 4 + 8i, 8 + 16j and 16 + 32k: no two levels share one), topk 5. Its baseline
holds `GT0` (24 x 24 px, 13 candidates) and `GT1` (30 x 24 px, 17 candidates, far from GT0);
each prediction is a 6 x 6 box on its anchor point, the scores distinct and inside (0, 1):
no edge class at all.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import pytest
import torch
from hypothesis import Phase, find, given, seed, settings
from hypothesis import strategies as st

from yolo_diagnostics.errors import DiagnosticsError
from yolo_diagnostics.tal import TalProblem, assign, validate_inputs
from yolo_diagnostics.tal.corpus import TalBatch
from yolo_diagnostics.tal.geometry import candidate_boxes, inside_mask
from yolo_diagnostics.tal.kinds import _floor_sides
from yolo_diagnostics.tal.strategies import (
    PRECISIONS,
    PYRAMIDS,
    TAL_EDGE_KINDS,
    TOPKS,
    tal_batches,
    tal_cases,
    tal_edge_kinds,
    tal_problems,
)

FAST = settings(max_examples=60, deadline=None, database=None)
SEEDED = settings(deadline=None, database=None, phases=[Phase.generate])
QUIET = settings(database=None, derandomize=True, deadline=None)
F32, F16 = torch.float32, torch.float16

PROBLEM = TalProblem(num_classes=2, strides=(8, 16, 32), img_size=(128, 128), topk=5)
GT0 = [20.5, 20.5, 44.5, 44.5]
GT1 = [70.5, 70.5, 100.5, 94.5]
ZERO = [0.0] * 4


def run_reference(problem: TalProblem, batch: TalBatch, semantics: str) -> None:
    assign(
        problem,
        batch.pd_scores,
        batch.pd_bboxes,
        batch.gt_labels,
        batch.gt_bboxes,
        batch.mask_gt,
        anc_points=batch.anc_points,
        semantics=semantics,  # type: ignore[arg-type]
    )


# --- problems ---------------------------------------------------------------------------------


@FAST
@given(tal_problems())
def test_problems_are_small_and_well_formed(problem: TalProblem) -> None:
    assert problem.strides in PYRAMIDS.values()
    for side in problem.img_size:
        assert side % problem.strides[-1] == 0 and side <= 256
        assert side >= 32 or problem.strides == (8,)  # tiny inputs: one level only
    assert 1 <= problem.batch_size <= 4 and 1 <= problem.num_classes <= 80
    assert problem.topk in TOPKS and (problem.alpha, problem.beta) in ((0.5, 6.0), (1.0, 6.0))
    assert problem.topk2 is None or 1 <= problem.topk2 <= problem.topk + 3
    assert problem.stal_threshold in (None, 8.0)


def test_problem_knobs_reach_every_published_value() -> None:
    seen: dict[str, set] = {
        k: set() for k in ("pyramid", "topk", "topk2", "alpha", "stal", "threshold", "few")
    }

    @seed(0)
    @settings(SEEDED, max_examples=200)
    @given(tal_problems())
    def collect(p: TalProblem) -> None:
        seen["pyramid"].add(p.strides)
        seen["topk"].add(p.topk)
        if p.topk2 is None:
            seen["topk2"].add("none")
        else:
            seen["topk2"].add("one" if p.topk2 == 1 else "equal" if p.topk2 == p.topk else "")
            seen["topk2"].add("below" if p.topk2 < p.topk else "above" if p.topk2 > p.topk else "")
        seen["alpha"].add(p.alpha)
        seen["stal"].add(p.stal)
        seen["threshold"].add(p.stal_threshold)
        seen["few"].add(p.num_anchors < p.topk)

    collect()
    assert seen["pyramid"] == set(PYRAMIDS.values()) and seen["topk"] == set(TOPKS)
    assert seen["topk2"] - {""} == {"none", "one", "equal", "below", "above"}
    assert seen["alpha"] == {0.5, 1.0} and seen["stal"] == {True, False}
    assert seen["threshold"] == {None, 8.0} and seen["few"] == {True, False}


@FAST
@given(
    tal_problems(
        strides=(8, 16),
        img_size=st.just((48, 64)),
        batch_size=2,
        num_classes=st.integers(3, 3),
        topk=st.just(4),
        topk2=None,
        alpha=1.0,
        beta=st.just(2.0),
        stal=False,
        stal_threshold=st.none(),
    )
)
def test_problem_arguments_take_values_and_strategies(problem: TalProblem) -> None:
    assert problem == TalProblem(
        num_classes=3,
        strides=(8, 16),
        img_size=(48, 64),
        batch_size=2,
        topk=4,
        alpha=1.0,
        beta=2.0,
        stal=False,
    )


@FAST
@given(tal_problems(topk=st.sampled_from([1, 7])))
def test_topk2_is_drawn_around_the_drawn_topk(problem: TalProblem) -> None:
    assert problem.topk2 is None or 1 <= problem.topk2 <= problem.topk + 3


# --- batches ----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, database=None)
@given(tal_cases())
def test_batches_are_valid_small_and_run_through_the_reference(
    case: tuple[TalProblem, TalBatch],
) -> None:
    """ultralytics' semantics raises exactly where ultralytics does: fewer anchor points than
    topk (or topk2) and at least one GT row; strict semantics never raises."""
    problem, batch = case
    validate_inputs(problem, *batch)
    n = batch.gt_bboxes.shape[1]
    assert n <= 12 and batch.gt_labels.dtype == batch.gt_bboxes.dtype == batch.mask_gt.dtype
    assert (batch.pd_bboxes.dtype, batch.pd_scores.dtype) in [
        (boxes, scores) for boxes, scores in PRECISIONS.values()
    ]
    assert torch.equal(batch.anc_points, problem.anchor_points(dtype=batch.anc_points.dtype))
    run_reference(problem, batch, "strict")
    if "few-anchors" in tal_edge_kinds(problem, batch) and n > 0:
        with pytest.raises(DiagnosticsError, match=r"TalProblem\.topk2?: \d+ > \d+ anchor"):
            run_reference(problem, batch, "ultralytics")
    else:
        run_reference(problem, batch, "ultralytics")


def test_every_edge_kind_is_drawn() -> None:
    """300 seeded examples hold every edge class at least 3 times: float16, n == 0 and
    fewer anchor points than topk among them."""
    seen: Counter[str] = Counter()

    @seed(0)
    @settings(SEEDED, max_examples=300)
    @given(tal_cases())
    def collect(case: tuple[TalProblem, TalBatch]) -> None:
        seen.update(tal_edge_kinds(*case))

    collect()
    assert {kind for kind in TAL_EDGE_KINDS if seen[kind] >= 3} == set(TAL_EDGE_KINDS)
    assert min(seen["float16"], seen["no-gt-rows"], seen["few-anchors"]) >= 5


@settings(max_examples=60, deadline=None, database=None)
@given(tal_cases())
def test_candidate_kinds_agree_with_the_inside_mask(case: tuple[TalProblem, TalBatch]) -> None:
    """`tal_edge_kinds` counts candidates on the anchor axes; the reference's dense mask
    must say the same."""
    problem, batch = case
    kinds = tal_edge_kinds(problem, batch)
    expected: set[str] = set()
    if batch.gt_bboxes.shape[1]:
        valid = batch.mask_gt[..., 0] != 0
        boxes = candidate_boxes(problem, batch.gt_bboxes, valid)
        inside = inside_mask(problem, boxes, valid, batch.anc_points.dtype)
        count, claims = inside.sum(-1)[valid], inside.sum(1)
        found = {
            "no-candidate": (count == 0).any(),
            "few-candidates": ((count > 0) & (count < problem.topk)).any(),
            "shared-anchor": (claims >= 2).any(),
            "crowded-anchor": (claims >= 4).any(),
        }
        expected = {kind for kind, hit in found.items() if hit}
    assert kinds & {"no-candidate", "few-candidates", "shared-anchor", "crowded-anchor"} == expected


@FAST
@given(
    tal_batches(
        tal_problems(strides=st.just(PYRAMIDS["P5"]), batch_size=2),
        min_gt=3,
        max_gt=5,
        box_kind="floor",
        padding=st.just("none"),
        predictions="exact-gt",
        scores=st.sampled_from(["zero"]),
        precision="amp",
        device=st.just("cpu"),
    )
)
def test_batch_arguments_take_values_and_strategies(batch: TalBatch) -> None:
    assert 3 <= batch.gt_bboxes.shape[1] <= 5 and (batch.mask_gt == 1).all()
    assert batch.pd_scores.dtype == F16 and batch.gt_bboxes.dtype == F32
    assert (batch.pd_scores == 0).all()
    sides = torch.tensor(_floor_sides(8, 16.0, 16.0))  # P5's floor: every threshold 8 or 16
    wh = (batch.gt_bboxes[..., 2:] - batch.gt_bboxes[..., :2]).flatten()
    assert ((wh[:, None] - sides).abs().amin(1) < 1e-4).all()
    for gts, preds in zip(batch.gt_bboxes, batch.pd_bboxes):  # each prediction is a GT
        assert (preds[:, None] == gts[None]).all(-1).any(1).all()


def test_max_gt_zero_draws_no_rows() -> None:
    batch = find(tal_batches(PROBLEM, max_gt=0), lambda b: True, settings=QUIET)
    assert batch.gt_bboxes.shape == (1, 0, 4) and batch.mask_gt.shape == (1, 0, 1)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"padding": "leading"}, r"padding: expected one of .*got 'leading'"),
        ({"box_kind": st.just("tiny")}, r"box_kind: expected one of .*got 'tiny'"),
        ({"precision": "bfloat16"}, r"precision: expected one of .*got 'bfloat16'"),
        ({"scores": "ones"}, r"scores: expected one of .*got 'ones'"),
    ],
)
def test_unknown_kinds_are_refused(kwargs: dict, pattern: str) -> None:
    strategy = tal_batches(PROBLEM, min_gt=1, **kwargs)
    with pytest.raises(DiagnosticsError, match=pattern):
        find(strategy, lambda b: True, settings=QUIET)


def test_bad_row_bounds_are_refused_at_once() -> None:
    with pytest.raises(DiagnosticsError, match=r"0 <= min_gt <= max_gt, got 3, 2"):
        tal_batches(PROBLEM, min_gt=3, max_gt=2)


# --- tal_edge_kinds on hand-made batches ------------------------------------------------------


def make(
    rows: Sequence[Sequence[float]] = (GT0, GT1),
    mask: Sequence[float] | None = None,
    labels: Sequence[float] | None = None,
    dtype: torch.dtype = F32,
    score_dtype: torch.dtype | None = None,
    problem: TalProblem = PROBLEM,
) -> TalBatch:
    """One image of `problem` holding ``rows``; the baseline's predictions and scores."""
    n, anchors = len(rows), problem.anchor_points()
    na, nc = len(anchors), problem.num_classes
    scores = (torch.arange(na * nc, dtype=torch.float64).view(1, na, nc) + 1) / (na * nc + 2)
    return TalBatch(
        scores.to(score_dtype or dtype),
        torch.cat((anchors - 3, anchors + 3), 1)[None].to(dtype),
        anchors.to(dtype),
        torch.tensor(labels or [i % 2 for i in range(n)], dtype=dtype).view(1, n, 1),
        torch.tensor(rows, dtype=dtype).view(1, n, 4),
        torch.tensor(mask or [1.0] * n, dtype=dtype).view(1, n, 1),
    )


def edited(batch: TalBatch, field: str, index: tuple, value: object) -> TalBatch:
    tensor = getattr(batch, field).clone()
    tensor[index] = torch.as_tensor(value, dtype=tensor.dtype)
    return batch._replace(**{field: tensor})


def shifted(box: list[float], by: float) -> list[float]:
    return [v + by for v in box]


HUGE = [-400.5, 60.5, 600.5, 127.5]  # 1001 x 67 px: 67 067 px^2, inf in float16
ANCHOR_7 = PROBLEM.anchor_points()[7].tolist()
BOX_7 = [ANCHOR_7[0] - 3, ANCHOR_7[1] - 3, ANCHOR_7[0] + 3, ANCHOR_7[1] + 3]
NO_STAL = dataclasses.replace(PROBLEM, stal=False)

CASES = [
    ("baseline", make(), PROBLEM, set()),
    # floored to 16 x 24 around x = 74.25: 9 candidates
    ("w-7.5", make([GT0, [70.5, 70.5, 78.0, 94.5]]), PROBLEM, {"side-below-stride"}),
    ("w-12", make([GT0, [70.5, 70.5, 82.5, 94.5]]), PROBLEM, {"side-in-threshold-gap"}),
    ("w-16", make([GT0, [70.5, 70.5, 86.5, 94.5]]), PROBLEM, {"side-at-threshold"}),
    (
        "w-8",
        make([GT0, [70.5, 70.5, 78.5, 94.5]]),
        PROBLEM,
        {"side-at-threshold", "side-in-threshold-gap"},
    ),
    ("w-16.1", make([GT0, [70.5, 70.5, 86.6, 94.5]]), PROBLEM, {"side-near-threshold"}),
    (
        "w-15.9",
        make([GT0, [70.5, 70.5, 86.4, 94.5]]),
        PROBLEM,
        {"side-near-threshold", "side-in-threshold-gap"},
    ),
    # x1 = 20 is a level-0 anchor column; rows 28, 36, 44 lie within the box
    ("edge", make([[20.0, 20.5, 44.5, 44.5], GT1]), PROBLEM, {"edge-on-anchor"}),
    ("edge-not", make([[20.25, 20.5, 44.5, 44.5], GT1]), PROBLEM, set()),
    # 2 px wide, floored to x in [16, 32]: 16 is a level-2 column, rows 16 and 48 inside
    (
        "floored-edge",
        make([[23.0, 10.5, 25.0, 50.5], GT1]),
        PROBLEM,
        {"side-below-stride", "edge-on-anchor"},
    ),
    # without the floor: only level 1's column 24, rows 24 and 40: 2 candidates < topk 5
    (
        "unfloored",
        make([[23.0, 10.5, 25.0, 50.5], GT1]),
        NO_STAL,
        {"side-below-stride", "few-candidates"},
    ),
    # 2 x 2 px between four level-0 anchors: none inside unless floored (to [2, 18])
    ("between-anchors", make([[9.0, 9.0, 11.0, 11.0], GT1]), PROBLEM, {"side-below-stride"}),
    (
        "between-anchors-unfloored",
        make([[9.0, 9.0, 11.0, 11.0], GT1]),
        NO_STAL,
        {"side-below-stride", "no-candidate"},
    ),
    ("outside", make([GT0, [70.5, 70.5, 130.5, 94.5]]), PROBLEM, {"outside-input"}),
    (
        "larger",
        make([GT0, [-10.5, 70.5, 130.5, 94.5]]),
        PROBLEM,
        {"outside-input", "larger-than-input"},
    ),
    # GT0 has 13 candidates
    ("topk-13", make(), dataclasses.replace(PROBLEM, topk=13), set()),
    ("topk-14", make(), dataclasses.replace(PROBLEM, topk=14), {"few-candidates"}),
    # 336 anchor points
    (
        "topk-400",
        make(),
        dataclasses.replace(PROBLEM, topk=400),
        {"few-anchors", "few-candidates"},
    ),
    ("topk2-400", make(), dataclasses.replace(PROBLEM, topk2=400), {"few-anchors"}),
    ("shared", make([GT0, GT1, [36.5, 36.5, 60.5, 60.5]]), PROBLEM, {"shared-anchor"}),
    (
        "three-deep",
        make([GT0, GT1, shifted(GT0, 0.25), shifted(GT0, 0.5)]),
        PROBLEM,
        {"shared-anchor"},
    ),
    (
        "four-deep",
        make([GT0, GT1, shifted(GT0, 0.25), shifted(GT0, 0.5), shifted(GT0, 0.75)]),
        PROBLEM,
        {"shared-anchor", "crowded-anchor"},
    ),
    ("duplicate", make([GT0, GT1, GT0]), PROBLEM, {"duplicate-box", "shared-anchor"}),
    ("no-rows", make([]), PROBLEM, {"no-gt-rows"}),
    ("trailing", make([GT0, GT1, ZERO], [1, 1, 0], [0, 1, 0]), PROBLEM, {"trailing-padding"}),
    # a zero box with a label: not as the loss pads, and no box either
    ("trailing-labelled", make([GT0, GT1, ZERO], [1, 1, 0], [0, 1, 1]), PROBLEM, set()),
    ("interleaved", make([GT0, ZERO, GT1], [1, 0, 1]), PROBLEM, {"interleaved-padding"}),
    (
        "leading",
        make([ZERO, GT0, GT1], [0, 1, 1]),
        PROBLEM,
        {"interleaved-padding", "leading-padding"},
    ),
    ("stale", make([GT0, GT1, [1, 2, 3, 4]], [1, 1, 0]), PROBLEM, {"stale-padding"}),
    ("all-padding", make([ZERO, ZERO], [0, 0]), PROBLEM, {"all-padding-image"}),
    (
        "all-padding-stale",
        make([GT0, GT1], [0, 0]),
        PROBLEM,
        {"all-padding-image", "stale-padding"},
    ),
    ("pred-is-gt", edited(make(), "pd_bboxes", (0, 7), GT1), PROBLEM, {"pred-equals-gt"}),
    (
        "pred-near-gt",
        edited(make(), "pd_bboxes", (0, 7), [*GT1[:3], 94.625]),
        PROBLEM,
        set(),
    ),
    (
        "tied",
        edited(edited(make(), "pd_bboxes", (0, 8), BOX_7), "pd_scores", (0, 8), make()[0][0, 7]),
        PROBLEM,
        {"tied-predictions"},
    ),
    ("same-box-other-scores", edited(make(), "pd_bboxes", (0, 8), BOX_7), PROBLEM, set()),
    ("zero-scores", edited(make(), "pd_scores", (0,), 0.0), PROBLEM, {"zero-scores"}),
    ("a-zero-score", edited(make(), "pd_scores", (0, 3, 1), 0.0), PROBLEM, {"score-zero"}),
    ("a-one-score", edited(make(), "pd_scores", (0, 3, 1), 1.0), PROBLEM, {"score-one"}),
    ("float16", make(dtype=F16), PROBLEM, {"float16"}),
    ("amp", make(score_dtype=F16), PROBLEM, {"amp"}),
    (
        "huge-float16",
        make([GT0, HUGE], dtype=F16),
        PROBLEM,
        {"float16", "float16-overflow", "outside-input", "larger-than-input"},
    ),
    ("huge-float32", make([GT0, HUGE]), PROBLEM, {"outside-input", "larger-than-input"}),
]


@pytest.mark.parametrize(
    ("batch", "problem", "expected"),
    [pytest.param(b, p, e, id=name) for name, b, p, e in CASES],
)
def test_edge_kinds_of_hand_made_batches(
    batch: TalBatch, problem: TalProblem, expected: set[str]
) -> None:
    assert tal_edge_kinds(problem, batch) == expected


def test_every_edge_kind_has_a_hand_made_batch() -> None:
    named = set().union(*(expected for *_, expected in CASES))
    assert named == set(TAL_EDGE_KINDS)


def test_edge_kinds_refuse_invalid_inputs() -> None:
    with pytest.raises(DiagnosticsError, match=r"gt_labels image 0, row 1: must be in \[0, 2\)"):
        tal_edge_kinds(PROBLEM, make(labels=[0, 2]))
