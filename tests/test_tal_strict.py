"""Each upstream fault on a hand-computed case: what ultralytics 8.4.190 does (the reference's
``ultralytics`` semantics, checked against the package itself) and what ``strict`` does.

The grid: a 32 x 32 input at stride 8, anchor points at x, y in {4, 12, 20, 28}, anchor
``a = 4 * j + i`` at ``(8 i + 4, 8 j + 4)``; two classes. Boxes are xyxy pixels.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import Tensor

from yolo_diagnostics.tal import TalAssignment, TalProblem, assign
from yolo_diagnostics.tal.corpus import TalBatch

GRID = TalProblem(strides=(8,), img_size=(32, 32), num_classes=2, topk=1)
X, Z = 5, 6  # the anchors at (12, 12) and (20, 12)


def make(
    problem: TalProblem,
    rows: list[tuple[list[float], int, int]],
    scores: Tensor,
    preds: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> TalBatch:
    """One image: ``rows`` of (box, label, mask); predictions default to a 4 px box at each
    anchor point (CIoU 0 with anything large)."""
    points = problem.anchor_points()
    if preds is None:
        preds = torch.cat((points - 2, points + 2), 1)
    boxes = torch.tensor([[r[0] for r in rows]]).reshape(1, len(rows), 4)
    labels = torch.tensor([[[float(r[1])] for r in rows]]).reshape(1, len(rows), 1)
    mask = torch.tensor([[[float(r[2])] for r in rows]]).reshape(1, len(rows), 1)
    tensors = (scores[None], preds[None], points, labels, boxes, mask)
    return TalBatch(*(t.to(dtype) for t in tensors))


def run(problem: TalProblem, batch: TalBatch, semantics: str) -> TalAssignment:
    result = assign(
        problem,
        *batch[:2],
        *batch[3:],
        anc_points=batch.anc_points,
        semantics=semantics,  # type: ignore[arg-type]
    )
    if semantics == "ultralytics" and importlib.util.find_spec("ultralytics") is not None:
        from yolo_diagnostics.adapters.ultralytics import make_assigner

        theirs = make_assigner(problem, "cpu")(*batch)  # the fault is upstream's, not ours
        for e, a in zip(theirs, result.outputs):
            assert e.dtype == a.dtype and torch.equal(e.nan_to_num(7), a.nan_to_num(7))
    return result


def owners(result: TalAssignment) -> dict[int, int]:
    """Foreground anchor -> GT row."""
    fg = result.fg_mask[0]
    return dict(zip(fg.nonzero().flatten().tolist(), result.target_gt_idx[0][fg].tolist()))


@pytest.fixture(scope="module")
def conflict() -> TalBatch:
    """topk 1. A = [0, 0, 24, 24] and B = [2, 2, 22, 22] (class 0) both propose X, the only
    anchor with a class-0 score; C = [6, 6, 26, 18] (class 1) covers X and Z.

    X predicts C's box: CIoU(C) ~ 1, CIoU(A) = 0.36 - 16/1252 - 0.0009 = 0.346,
    CIoU(B) = 0.429 - 16/976 - 0.001 = 0.411. Z predicts [8, 6, 26, 18]: CIoU(C) = 0.898.
    C's metrics: X sqrt(0.01) * 1^6 = 0.1 < Z 1 * 0.898^6 = 0.524, so C proposes Z, not X.
    """
    scores = torch.zeros(16, 2)
    scores[X] = torch.tensor([1.0, 0.01])
    scores[Z, 1] = 1.0
    preds = torch.cat((GRID.anchor_points() - 2, GRID.anchor_points() + 2), 1)
    preds[X] = torch.tensor([6.0, 6, 26, 18])
    preds[Z] = torch.tensor([8.0, 6, 26, 18])
    rows = [([0, 0, 24, 24], 0, 1), ([2, 2, 22, 22], 0, 1), ([6, 6, 26, 18], 1, 1)]
    return make(GRID, rows, scores, preds)


def test_ultralytics_lets_a_gt_that_did_not_propose_win_a_conflict(conflict: TalBatch) -> None:
    result = run(GRID, conflict, "ultralytics")
    assert owners(result) == {X: 2, Z: 2}  # C wins X from A and B: 2 positives > topk 1
    pos = result.positives
    assert pos.anchor.tolist() == [X, Z] and pos.gt.tolist() == [2, 2]
    assert pos.rank.tolist() == [-1, 0]  # C never proposed X
    assert pos.proposers.tolist() == [2, 1] and pos.won_conflict.tolist() == [True, False]
    assert result.target_labels[0, X] == 1  # X learns class 1 with A's and B's class-0 score
    ciou = pos.ciou.tolist()
    assert ciou[0] == pytest.approx(1.0, abs=1e-6) and ciou[1] == pytest.approx(0.898, abs=1e-3)
    # C's scores: metric * max CIoU / max metric = 0.1 / 0.524 and 0.524 / 0.524
    assert pos.score.tolist() == pytest.approx([0.1 / 0.898**6, 1.0], rel=2e-3)


def test_strict_decides_a_conflict_among_its_proposers(conflict: TalBatch) -> None:
    result = run(GRID, conflict, "strict")
    assert owners(result) == {X: 1, Z: 2}  # B (0.411) beats A (0.346); C keeps only Z
    pos = result.positives
    assert pos.rank.tolist() == [0, 0] and pos.won_conflict.tolist() == [True, False]
    assert pos.ciou.tolist() == pytest.approx([0.411, 0.898], abs=1e-3)
    # each GT's best positive scores its best CIoU (up to eps)
    assert pos.score.tolist() == pytest.approx(pos.ciou.tolist(), rel=1e-6)


@pytest.mark.parametrize("why", ["zero scores", "negative CIoU"])
def test_ultralytics_makes_zero_metric_positives(why: str) -> None:
    """One GT covering all 16 anchors; topk 3. A zero metric everywhere -- the scores are
    0, or the 4 px predictions lie far from the box's centre (CIoU < 0, clamped to 0)."""
    problem = TalProblem(strides=(8,), img_size=(32, 32), num_classes=2, topk=3)
    scores = torch.zeros(16, 2) if why == "zero scores" else torch.ones(16, 2)
    batch = make(problem, [([0, 0, 32, 32], 0, 1)], scores)
    result = run(problem, batch, "ultralytics")
    assert int(result.fg_mask.sum()) == 3  # torch.topk's pick among 16 equal zeros
    assert bool((result.positives.align == 0).all()) and bool((result.target_scores == 0).all())
    assert bool(result.positives.topk_tie.all())
    strict = run(problem, batch, "strict")
    assert not strict.fg_mask.any()
    assert bool((strict.target_labels == 2).all()) and bool((strict.target_gt_idx == -1).all())


def test_ultralytics_background_rows_carry_row_0() -> None:
    """Row 0 = [0, 0, 16, 16] class 1, row 1 = [16, 16, 32, 32] class 0; anchor 3 at (28, 4)
    is in neither, so it is background."""
    scores = torch.full((16, 2), 0.5)
    preds = torch.cat((GRID.anchor_points() - 6, GRID.anchor_points() + 6), 1)
    batch = make(GRID, [([0, 0, 16, 16], 1, 1), ([16, 16, 32, 32], 0, 1)], scores, preds)
    result = run(GRID, batch, "ultralytics")
    assert not result.fg_mask[0, 3]
    assert result.target_labels[0, 3] == 1 and result.target_gt_idx[0, 3] == 0
    assert result.target_bboxes[0, 3].tolist() == [0, 0, 16, 16]
    strict = run(GRID, batch, "strict")
    assert strict.target_labels[0, 3] == 2 and strict.target_gt_idx[0, 3] == -1
    assert strict.target_bboxes[0, 3].tolist() == [0, 0, 0, 0]
    assert owners(strict) == owners(result)  # the positives themselves agree


def test_ultralytics_gives_an_all_zero_conflict_to_a_padded_row_0() -> None:
    """Row 0 is padding; rows 1 and 2 are the same box over all anchors, with zero scores:
    both propose the same 3 zero-metric anchors, every CIoU there is 0, and ``max`` picks
    row 0 -- the padding -- as owner."""
    problem = TalProblem(strides=(8,), img_size=(32, 32), num_classes=2, topk=3)
    rows = [([0, 0, 0, 0], 0, 0), ([0, 0, 32, 32], 1, 1), ([0, 0, 32, 32], 1, 1)]
    batch = make(problem, rows, torch.zeros(16, 2))
    result = run(problem, batch, "ultralytics")
    assert len(owners(result)) == 3 and set(owners(result).values()) == {0}
    assert bool(result.positives.won_conflict.all()) and bool(result.positives.conflict_tie.all())
    assert bool((result.target_bboxes[result.fg_mask] == 0).all())  # the padding's box
    assert not run(problem, batch, "strict").fg_mask.any()


def test_ultralytics_float16_scores_turn_nan_with_a_padded_row() -> None:
    """float16: eps = 1e-9 rounds to 0, the padded row divides 0 by 0, and the max over
    rows spreads the NaN to every anchor and class of the image."""
    scores = torch.full((16, 2), 0.5)
    preds = torch.cat((GRID.anchor_points() - 6, GRID.anchor_points() + 6), 1)
    rows = [([0, 0, 24, 24], 0, 1), ([0, 0, 0, 0], 0, 0)]
    batch = make(GRID, rows, scores, preds, dtype=torch.float16)
    result = run(GRID, batch, "ultralytics")
    assert bool(result.target_scores.isnan().all())
    assert int(result.fg_mask.sum()) == 1  # the assignment itself is fine
    float32 = run(GRID, make(GRID, rows, scores, preds), "ultralytics")
    assert not float32.target_scores.isnan().any()
    assert torch.equal(float32.fg_mask, result.fg_mask)
    strict = run(GRID, batch, "strict")  # the float32 score (the positive's CIoU, 0.25)
    assert not strict.target_scores.isnan().any()
    assert float(strict.target_scores.max()) == pytest.approx(
        float(float32.target_scores.max()), rel=1e-3
    )


def test_ultralytics_raises_with_fewer_anchors_than_topk_and_strict_caps_it() -> None:
    problem = TalProblem(strides=(8,), img_size=(16, 16), num_classes=2, topk=10)
    scores = torch.full((4, 2), 0.5)
    points = problem.anchor_points()
    batch = make(problem, [([0, 0, 16, 16], 0, 1)], scores, torch.cat((points - 4, points + 4), 1))
    with pytest.raises(ValueError, match=r"TalProblem\.topk: 10 > 4 anchor points"):
        assign(problem, *batch[:2], *batch[3:], anc_points=batch.anc_points)
    strict = assign(problem, *batch[:2], *batch[3:], semantics="strict")
    assert int(strict.fg_mask.sum()) == 4
