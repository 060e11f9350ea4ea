"""A second, independent formulation of TAL: one image, one GT, one anchor at a time, with
torchvision's CIoU and a tie order of its choosing; it agrees with the reference through
`compare` (ties accepted, scores within compare's float32 tolerance).

`plain_assign` is deliberately naive -- Python loops, sorted lists, a dict of proposals --
so it shares no code and no vectorization with the reference. Its ``reverse`` flag breaks
every tie the other way: among equal metrics the higher anchor index enters the top-k first,
and a conflict between equal CIoUs goes to the last row. Float32 only (in float16 the
reference's ulps are the point, not the algorithm).
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import Tensor
from torchvision.ops import complete_box_iou

from yolo_diagnostics.tal import TalProblem, assign, compare
from yolo_diagnostics.tal.corpus import KINDS, PADDINGS, make_batch


def plain_assign(
    problem: TalProblem,
    pd_scores: Tensor,
    pd_bboxes: Tensor,
    anc_points: Tensor,
    gt_labels: Tensor,
    gt_bboxes: Tensor,
    mask_gt: Tensor,
    *,
    semantics: str = "ultralytics",
    reverse: bool = False,
) -> tuple[Tensor, ...]:
    """``TaskAlignedAssigner.forward``'s five outputs, written from TAL_SEMANTICS.md."""
    strict = semantics == "strict"
    b, na, nc = pd_scores.shape
    n = gt_bboxes.shape[1]
    labels = torch.full((b, na), nc if strict else 0, dtype=torch.int64)
    boxes = torch.zeros((b, na, 4), dtype=gt_bboxes.dtype)
    scores = torch.zeros((b, na, nc), dtype=pd_scores.dtype)
    fg = torch.zeros((b, na), dtype=torch.bool)
    gt_idx = torch.full((b, na), -1 if strict else 0, dtype=torch.int64)
    k = min(problem.topk, na) if strict else problem.topk
    for i in range(b):
        rows = [g for g in range(n) if mask_gt[i, g, 0] != 0]
        metric = torch.zeros((n, na))
        overlap = torch.zeros((n, na))
        inside = torch.zeros((n, na), dtype=torch.bool)
        for g in rows:
            inside[g] = _inside(problem, gt_bboxes[i, g], anc_points)
            at = inside[g].nonzero().flatten()
            u = complete_box_iou(gt_bboxes[i, g][None], pd_bboxes[i, at])[0].clamp(min=0)
            s = pd_scores[i, at, int(gt_labels[i, g, 0])]
            overlap[g, at] = u
            metric[g, at] = s**problem.alpha * u**problem.beta
        proposals: dict[int, list[int]] = {}
        for g in rows:
            for a in _best(metric[g], k, reverse):
                if inside[g, a] and (metric[g, a] > 0 or not strict):
                    proposals.setdefault(a, []).append(g)
        owner = {}
        for a, props in proposals.items():
            pool = props if strict or len(props) == 1 else list(range(n))
            best = max(float(overlap[g, a]) for g in pool)
            winners = [g for g in pool if float(overlap[g, a]) == best]
            owner[a] = winners[-1] if reverse else winners[0]
        if problem.topk2 is not None and (problem.topk2 < k if strict else problem.topk2 != k):
            for g in set(owner.values()):
                mine = torch.zeros(na)
                for a, o in owner.items():
                    if o == g:
                        mine[a] = metric[g, a]
                keep = set(_best(mine, problem.topk2, reverse))
                owner = {a: o for a, o in owner.items() if o != g or a in keep}
        for g in set(owner.values()):
            mine = [a for a, o in owner.items() if o == g]
            top_u = max(float(overlap[g, a]) for a in mine)
            top_m = max(float(metric[g, a]) for a in mine)
            for a in mine:
                label = int(gt_labels[i, g, 0])
                scores[i, a, label] = float(metric[g, a]) * top_u / (top_m + problem.eps)
        for a, g in owner.items():
            fg[i, a], gt_idx[i, a] = True, g
        for a in range(na):
            g = int(gt_idx[i, a])
            if g >= 0:
                labels[i, a], boxes[i, a] = int(gt_labels[i, g, 0]), gt_bboxes[i, g]
    return labels, boxes, scores, fg, gt_idx


def _inside(problem: TalProblem, box: Tensor, points: Tensor) -> Tensor:
    """Anchor points strictly inside the box, floored as the problem says (centre and size,
    a short side replaced, back to corners -- the round trip ultralytics makes)."""
    if problem.stal:
        centre, size = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
        size = torch.where(size < problem.stal_below, problem.stal_side, size)
        box = torch.cat((centre - size / 2, centre + size / 2))
    low, high = points - box[:2], box[2:] - points
    return (torch.cat((low, high), 1) > 1e-9).all(1)


def _best(values: Tensor, k: int, reverse: bool) -> list[int]:
    """The ``k`` largest entries' indices, equal values in index order (reversed: backwards)."""
    order = list(range(len(values)))
    if reverse:
        order.reverse()
    order.sort(key=lambda a: -float(values[a]))  # Python's sort is stable
    return order[:k]


PROBLEMS = {
    "p5": TalProblem.preset("ultralytics", num_classes=4, batch_size=2, img_size=(96, 128)),
    "one2one": TalProblem.preset("one2one", num_classes=3, batch_size=2, img_size=(64, 96)),
    "8.3": TalProblem.preset("ultralytics-8.3", num_classes=3, batch_size=2, img_size=(64, 96)),
    "pre25912": TalProblem.preset(
        "ultralytics-pre25912", num_classes=3, batch_size=2, img_size=(64, 96)
    ),
}


@pytest.mark.parametrize("reverse", [False, True], ids=["index-order", "reversed"])
@pytest.mark.parametrize("semantics", ["ultralytics", "strict"])
@pytest.mark.parametrize("name", PROBLEMS)
def test_plain_formulation_agrees_with_the_reference(
    name: str, semantics: str, reverse: bool
) -> None:
    problem = PROBLEMS[name]
    accepted = 0
    for kind, padding in itertools.product(KINDS, PADDINGS):
        batch = make_batch(problem, seed=7, kind=kind, n=5, padding=padding, empty_images=1)
        reference = assign(
            problem, *batch[:2], *batch[3:], anc_points=batch.anc_points, semantics=semantics
        )
        theirs = plain_assign(problem, *batch, semantics=semantics, reverse=reverse)
        diff = compare(reference, theirs)
        assert diff.equal, f"{kind}/{padding}: {diff.summary()}"
        accepted += diff.accepted_ties
    if reverse and semantics == "ultralytics":  # the reversed tie order really differs
        assert accepted > 0
