"""A mutation catalog for the task-aligned assigner: a clean ultralytics 8.4 statement and
its buggy variants.

`clean` states ``TaskAlignedAssigner.forward`` of ultralytics 8.4.190 from
``TAL_SEMANTICS.md``, dense and vectorised: a ``[b, n, na]`` candidate mask (after the
small-box floor the problem asks for), metrics on the candidate pairs only, ``torch.topk``
per GT row, conflicts to the largest CIoU over all rows (looked at on the contested columns
only), the optional second selection, then targets and the per-GT normalisation as an
``amax`` over rows. It reads only the problem
(strides, ``topk``, ``topk2``, ``alpha``, ``beta``, ``eps``, the floor) and shares no code
with `yolo_diagnostics.tal.reference`, which works on sparse pair lists instead.

`MUTANTS` maps a bug name to an assigner factory ``(problem, device) -> assign``. Every
mutant is `clean` with one deviation, selected by a ``bug == "..."`` branch, so each reads
as a diff from the clean code. `BUGS` says what each bug is and where its class comes from
(issue and pull-request numbers as in TAL_SEMANTICS.md's public bug history).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from yolo_diagnostics.tal.problem import TalProblem

TalOutput = tuple[Tensor, ...]
Assign = Callable[..., TalOutput]
Factory = Callable[[TalProblem, "torch.device | str"], Assign]

INSIDE_EPS = 1e-9  # the candidate test's own margin, not the problem's eps
CIOU_EPS = 1e-7  # bbox_iou's

BUGS: dict[str, str] = {
    "floor-threshold-stride0": (
        "Small-box floor compares each side with strides[0] (8) but replaces it with "
        "strides[1] (16): a 7.9 px side grows to 16 px, an 8.1 px side stays (ultralytics "
        "8.4.0 until #25912)."
    ),
    "no-floor": (
        "No small-box floor: a box thinner than a stride between two anchor centres has no "
        "candidate and no positive (ultralytics before 8.4: #4848, #7285, #19514)."
    ),
    "conflict-among-claimants": (
        "Conflicts decided among the GTs that proposed the anchor only (the fix of "
        "Tencent/YOLO-Master#253) where ultralytics takes the largest CIoU over all rows: "
        "right in itself, a deviation from the ultralytics semantics."
    ),
    "conflict-keeps-losers": (
        "The conflict reset sets the winner's entry but clears no other row (the one-axis "
        "reset of hirotomusiker/CLRerNet#77): a contested anchor stays positive for every "
        "claimant, goes to the first of them, and scores the largest of their metrics."
    ),
    "padding-unmasked": (
        "mask_gt applied to the metric only: the floor, the top-k mask and the positives "
        "see padded rows as boxes, so a padded row proposes zero-metric anchors -- anchor 0 "
        "for an all-zero row, those inside a stale box (PaddleDetection#5710)."
    ),
    "empty-wrong-arity": (
        "The no-GT early return gives four tensors, target_gt_idx left out "
        "(jahongir7174/YOLOv8-pt#17): the caller's five-way unpacking fails on images "
        "without labels."
    ),
    "empty-float-fg": (
        "The no-GT early return builds fg_mask as zeros_like(pd_scores[..., 0]) without "
        "dtype=bool (the no-GT branch's dtypes of PaddleDetection#7956, #6936): a float "
        "foreground mask that indexes nothing."
    ),
    "metric-sum": (
        "Alignment metric written as a sum, score**alpha + ciou**beta, instead of the "
        "product (open-mmlab/mmyolo#995): a high score alone makes an anchor aligned."
    ),
    "iou-not-ciou": (
        "Plain IoU where ultralytics uses CIoU (the CIoU -> IoU swap proposed in "
        "ultralytics#24200 and rejected): centre distance and aspect terms dropped."
    ),
    "iou-reads-xywh": (
        "The IoU calculator left at its xywh default while the boxes are xyxy (a wrong IoU "
        "calculator, open-mmlab/mmyolo#192; ultralytics' bbox_iou defaults to xywh=True)."
    ),
    "winner-value-not-index": (
        "The conflict winner taken from .max(1)[0] -- the values of the (values, indices) "
        "pair -- cast to an index (the namedtuple mix-up of ultralytics#2481, the argmax/max "
        "change of #26234): every conflict below CIoU 1 goes to row 0."
    ),
    "background-label-unset": (
        "Background labels never written: target_labels starts at 0 and only foreground "
        "rows get their GT's label, where ultralytics gathers row 0's label everywhere "
        "(the background label left to the loss, meituan/YOLOv6#499)."
    ),
    "normalise-pre-conflict": (
        "The per-GT maxima of the normalisation taken over the positives before conflicts "
        "(and topk2): a GT that lost its best anchor still divides by that anchor's metric."
    ),
    "inside-closed": (
        "Candidate test on the closed box (>= 0 instead of > eps): an anchor centre exactly "
        "on a GT edge becomes a candidate."
    ),
    "ciou-unclamped": (
        "CIoU not clamped at 0: a negative CIoU raised to beta = 6 is a positive metric, and "
        "a negative CIoU loses a conflict to a row that is no candidate (CIoU 0)."
    ),
    "gt-idx-batch-offset": (
        "target_gt_idx returned with the batch offset b * n still added (the flat index "
        "get_targets builds to gather labels and boxes): wrong in every image but the first."
    ),
    "no-topk2": (
        "The second selection (topk2) never applied: YOLO26's one-to-one head keeps every "
        "post-conflict positive instead of each GT's topk2 best."
    ),
    "per-image-drop-last": (
        "Images assigned one at a time, as the out-of-memory retry of ultralytics#25990 "
        "does, with the loop ending one image early: the last image stays all background."
    ),
}


def _assign(
    problem: TalProblem,
    bug: str | None,
    pd_scores: Tensor,
    pd_bboxes: Tensor,
    anc_points: Tensor,
    gt_labels: Tensor,
    gt_bboxes: Tensor,
    mask_gt: Tensor,
) -> TalOutput:
    """``TaskAlignedAssigner.forward`` of ultralytics 8.4.190, with ``bug`` applied."""
    b, na, nc = pd_scores.shape
    n = gt_bboxes.shape[1]
    if n == 0:
        return _no_gt(pd_scores, pd_bboxes, nc, bug)
    if bug == "per-image-drop-last":
        return _image_by_image(
            problem, pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt
        )
    valid = mask_gt[..., 0] != 0  # [b, n]
    labels = gt_labels[..., 0].long()  # [b, n]

    # 1. candidates: anchor centres strictly inside the (floored) box of a valid row
    floor_rows = torch.ones_like(valid) if bug == "padding-unmasked" else valid
    inside = _inside(anc_points, _floored(problem, gt_bboxes, floor_rows, bug), bug)
    candidate = inside & valid[..., None]  # [b, n, na]

    # 2. metrics of the candidate pairs; zero elsewhere
    image, row, anchor = candidate.nonzero(as_tuple=True)
    score = pd_scores[image, anchor, labels[image, row]]
    if bug == "iou-not-ciou":
        iou = _iou(gt_bboxes[image, row], pd_bboxes[image, anchor])
    elif bug == "iou-reads-xywh":
        iou = _ciou(_xywh_to_xyxy(gt_bboxes[image, row]), _xywh_to_xyxy(pd_bboxes[image, anchor]))
    else:
        iou = _ciou(gt_bboxes[image, row], pd_bboxes[image, anchor])
    if bug != "ciou-unclamped":
        iou = iou.clamp(min=0)
    if bug == "metric-sum":
        metric = score.pow(problem.alpha) + iou.pow(problem.beta)
    else:
        metric = score.pow(problem.alpha) * iou.pow(problem.beta)
    overlaps = pd_bboxes.new_zeros((b, n, na))  # stored in the predictions' dtype
    overlaps[image, row, anchor] = iou.to(overlaps.dtype)
    align = metric.new_zeros((b, n, na))
    align[image, row, anchor] = metric

    # 3-4. each valid row proposes its topk anchors; a padded row's proposals all point at
    # anchor 0, which a count above one then drops
    best = align.topk(problem.topk, dim=-1).indices  # [b, n, topk]
    if bug != "padding-unmasked":
        best = best.masked_fill(~valid[..., None], 0)
    times = torch.zeros((b, n, na), dtype=torch.int8, device=best.device)
    times.scatter_add_(-1, best, torch.ones_like(best, dtype=torch.int8))
    positive = (times == 1) & inside
    if bug != "padding-unmasked":
        positive &= valid[..., None]

    # 5. an anchor several rows claim goes to the largest CIoU over all n rows (first row on
    # ties, a row that never proposed it included); only those columns are looked at
    proposed = positive  # before conflicts: the normalise-pre-conflict maxima's positives
    image, anchor = (positive.sum(1, dtype=torch.int16) > 1).nonzero(as_tuple=True)
    claims = positive[image, :, anchor]  # [K, n]: the contested columns
    contenders = overlaps[image, :, anchor]
    if bug == "conflict-among-claimants":
        contenders = torch.where(claims, contenders, -1.0)
    won = _first_largest(contenders)
    if bug == "winner-value-not-index":
        winner = contenders.amax(-1, keepdim=True).long()  # the values of .max(-1)
        won = torch.zeros_like(claims).scatter_(-1, winner, True)
    if bug == "conflict-keeps-losers":
        won |= claims
    positive = positive.clone()
    positive[image, :, anchor] = won
    if problem.topk2_applies and bug != "no-topk2":  # each row keeps its topk2 best
        kept = (align * positive).topk(problem.topk2, dim=-1).indices
        positive = positive & torch.zeros_like(positive).scatter_(-1, kept, True)

    # 6. targets: the label and box of the owner; background rows gather row 0
    first = _first_row(positive)  # [b, 1, na]: n where no row is positive
    fg = first[:, 0] < n
    gt_idx = torch.where(fg, first[:, 0].long(), 0)  # background: row 0
    target_labels = labels.gather(1, gt_idx)
    if bug == "background-label-unset":
        target_labels = torch.where(fg, target_labels, 0)
    target_bboxes = gt_bboxes.gather(1, gt_idx[..., None].expand(b, na, 4))
    one_hot = torch.zeros((b, na, nc), dtype=torch.int8, device=fg.device)
    one_hot.scatter_(2, target_labels.clamp(min=0)[..., None], 1)
    one_hot *= fg[..., None]

    # 7. per row: align * max CIoU / (max align + eps) over its final positives; the max
    # over rows spreads a row's 0 / 0 (float16, eps rounds to 0) to its whole image
    among = proposed if bug == "normalise-pre-conflict" else positive
    top_align = (align * among).amax(-1, keepdim=True)
    top_iou = (overlaps * among).amax(-1, keepdim=True)
    normalised = (align * positive * top_iou / (top_align + problem.eps)).amax(1)
    target_scores = one_hot * normalised[..., None]
    if bug == "gt-idx-batch-offset":
        gt_idx = gt_idx + torch.arange(b, device=gt_idx.device)[:, None] * n
    return target_labels, target_bboxes, target_scores, fg, gt_idx


def _first_largest(values: Tensor) -> Tensor:
    """``[K, n]`` bool: in each row of ``values`` ``[K, n]``, the first column holding its
    largest value (a NaN being the largest, as ``Tensor.max`` has it), as a one-hot mask."""
    top = values.amax(-1, keepdim=True)
    best = torch.where(top.isnan(), values.isnan(), values == top)
    columns = torch.arange(values.shape[-1], device=values.device)
    return columns == torch.where(best, columns, values.shape[-1]).amin(-1, keepdim=True)


def _first_row(mask: Tensor) -> Tensor:
    """``[b, 1, na]`` int32: the first row where ``mask`` ``[b, n, na]`` holds, n if none.
    ``Tensor.max(1)``'s indices, but through ``amin``: an index-returning reduction over a
    middle dimension costs milliseconds a call on small tensors, a values-only one does not."""
    n = mask.shape[1]
    rows = torch.arange(n, dtype=torch.int32, device=mask.device)[:, None]
    return torch.where(mask, rows, n).amin(1, keepdim=True)


def _floored(problem: TalProblem, boxes: Tensor, rows: Tensor, bug: str | None) -> Tensor:
    """The boxes of the candidate test: on ``rows``, each side below the threshold widened
    to the floor's side about the centre. Every box makes the centre-size round trip, as in
    ultralytics, so an edge can move by an ulp even where nothing is widened."""
    if not problem.stal or bug == "no-floor":
        return boxes
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    size = boxes[..., 2:] - boxes[..., :2]
    below = problem.strides[0] if bug == "floor-threshold-stride0" else problem.stal_below
    short = (size < below) & rows[..., None]
    size = torch.where(short, problem.stal_side, size)
    return torch.cat((centre - size / 2, centre + size / 2), -1)


def _inside(points: Tensor, boxes: Tensor, bug: str | None) -> Tensor:
    """``[b, n, na]`` bool: each point strictly inside each box (by more than eps)."""
    x, y = points[:, 0], points[:, 1]
    x1, y1, x2, y2 = (c[..., None] for c in boxes.unbind(-1))
    inside = (x - x1) > INSIDE_EPS
    for margin in (y - y1, x2 - x, y2 - y):
        inside &= margin > INSIDE_EPS
    if bug == "inside-closed":
        inside = ((x - x1) >= 0) & ((y - y1) >= 0) & ((x2 - x) >= 0) & ((y2 - y) >= 0)
    return inside


def _ciou(gt: Tensor, pred: Tensor) -> Tensor:
    """Complete IoU (Zheng et al. 2020) of paired xyxy boxes ``[N, 4]``, the GT first, with
    bbox_iou's eps on the heights, the union, the hull's diagonal and the aspect weight."""
    eps = CIOU_EPS
    iou, (gx1, gy1, gx2, gy2), (px1, py1, px2, py2), (gw, gh, pw, ph) = _overlap(gt, pred)
    hull_w = torch.maximum(gx2, px2) - torch.minimum(gx1, px1)
    hull_h = torch.maximum(gy2, py2) - torch.minimum(gy1, py1)
    diagonal = hull_w.pow(2) + hull_h.pow(2) + eps
    # squared distance of the centres, from twice each offset
    distance = ((px1 + px2 - gx1 - gx2).pow(2) + (py1 + py2 - gy1 - gy2).pow(2)) / 4
    aspect = (4 / math.pi**2) * ((pw / ph).atan() - (gw / gh).atan()).pow(2)
    weight = aspect / (1 - iou + aspect + eps)  # eps keeps identical boxes 0 / eps, not 0 / 0
    return iou - (distance / diagonal + aspect * weight)


def _iou(gt: Tensor, pred: Tensor) -> Tensor:
    return _overlap(gt, pred)[0]


def _overlap(gt: Tensor, pred: Tensor):
    """IoU of paired xyxy boxes, with the corners and the sizes (heights + eps) it used."""
    eps = CIOU_EPS
    g, p = gt.unbind(-1), pred.unbind(-1)
    gw, gh = g[2] - g[0], g[3] - g[1] + eps
    pw, ph = p[2] - p[0], p[3] - p[1] + eps
    across = (torch.minimum(g[2], p[2]) - torch.maximum(g[0], p[0])).clamp(min=0)
    down = (torch.minimum(g[3], p[3]) - torch.maximum(g[1], p[1])).clamp(min=0)
    common = across * down
    iou = common / (gw * gh + pw * ph - common + eps)
    return iou, g, p, (gw, gh, pw, ph)


def _xywh_to_xyxy(boxes: Tensor) -> Tensor:
    xy, wh = boxes[..., :2], boxes[..., 2:]
    return torch.cat((xy - wh / 2, xy + wh / 2), -1)


def _no_gt(pd_scores: Tensor, pd_bboxes: Tensor, nc: int, bug: str | None) -> TalOutput:
    """No GT rows at all: everything background, labels and GT indices in the scores' float
    dtype (ultralytics' early return)."""
    first = pd_scores[..., 0]
    fg = torch.zeros_like(first, dtype=torch.bool)
    if bug == "empty-float-fg":
        fg = torch.zeros_like(first)
    out = (
        torch.full_like(first, nc),
        torch.zeros_like(pd_bboxes),
        torch.zeros_like(pd_scores),
        fg,
        torch.zeros_like(first),
    )
    return out[:4] if bug == "empty-wrong-arity" else out


def _image_by_image(problem: TalProblem, *inputs: Tensor) -> TalOutput:
    """The per-image path (``per-image-drop-last``): outputs preallocated as background,
    each image assigned alone and written in -- all but the last."""
    pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt = inputs
    b, na, nc = pd_scores.shape
    device = pd_scores.device
    # the scores' dtype is the metric's: score**alpha * ciou**beta, the CIoU in the boxes'
    metric = torch.promote_types(
        pd_scores.dtype, torch.promote_types(gt_bboxes.dtype, pd_bboxes.dtype)
    )
    out = [
        torch.zeros((b, na), dtype=torch.int64, device=device),
        pd_bboxes.new_zeros((b, na, 4)),
        pd_scores.new_zeros((b, na, nc), dtype=metric),
        torch.zeros((b, na), dtype=torch.bool, device=device),
        torch.zeros((b, na), dtype=torch.int64, device=device),
    ]
    for i in range(b - 1):
        one = (t[i : i + 1] for t in (gt_labels, gt_bboxes, mask_gt))
        result = _assign(
            problem, None, pd_scores[i : i + 1], pd_bboxes[i : i + 1], anc_points, *one
        )
        for whole, part in zip(out, result):
            whole[i] = part[0]
    return tuple(out)


def _factory(bug: str | None) -> Factory:
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; known: {', '.join(BUGS)}")

    def make(problem: TalProblem, device: torch.device | str) -> Assign:
        device = torch.device(device)

        @torch.no_grad()
        def assign(*inputs: Tensor) -> TalOutput:
            return _assign(problem, bug, *(t.to(device) for t in inputs))

        assign.__name__ = f"assign[{bug or 'clean'}]"
        return assign

    make.__name__ = (bug or "clean").replace("-", "_")
    make.__doc__ = BUGS[bug] if bug else "ultralytics 8.4.190 TaskAlignedAssigner.forward."
    return make


clean: Factory = _factory(None)
"""The clean assigner factory: ultralytics 8.4.190 semantics."""

MUTANTS: dict[str, Factory] = {name: _factory(name) for name in BUGS}
"""Bug name -> assigner factory; `BUGS` has each one's description and provenance."""
