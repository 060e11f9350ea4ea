"""The edge classes a TAL batch holds, named from its values alone.

`tal_edge_kinds` is for Hypothesis ``event()``s and coverage tests of the strategies; each
name below is a place where an assigner can go wrong (see ``TAL_SEMANTICS.md``). GT kinds
look at valid rows (``mask_gt != 0``) only; sides are ``x2 - x1`` and ``y2 - y1`` in the boxes'
dtype, as the floor computes them; the inside test is `geometry.inside_mask`'s, on the
floored boxes, made per level on the anchor axes (no ``[b, n, na]`` mask: the anchors a GT
claims are a product of the columns and rows it spans).

- few-anchors: fewer anchor points than topk (or topk2): ultralytics' ``torch.topk`` raises.
- side-below-stride: a side under strides[0] (8): floored; without the floor often no anchor.
- side-in-threshold-gap: a side in [strides[0], floor side): floored since ultralytics#25912,
  not before (8.1 px stayed 8.1).
- side-at-threshold: a side exactly strides[0], the floor's side or its threshold: the
  strict ``<`` leaves it alone.
- side-near-threshold: a side within 0.25 px of one of those, not on it.
- edge-on-anchor: a (floored) box edge exactly through an anchor centre: ``> eps`` leaves it out.
- outside-input: a box reaching outside the input.
- larger-than-input: a side longer than the input's.
- no-candidate: a GT with no anchor point inside (#4848, #7285, #19514 before the floor).
- few-candidates: a GT with fewer candidates than topk: its top-k takes zero-metric anchors.
- shared-anchor: an anchor point inside two or more GTs of an image: a conflict.
- crowded-anchor: an anchor point inside four or more GTs of an image.
- duplicate-box: the same box twice in an image: equal-CIoU conflicts, decided by row order.
- no-gt-rows: ``n == 0``: ultralytics' early return (float labels and gt indices).
- all-padding-image: an image whose rows are all padding.
- trailing-padding: an image whose real rows are followed by zero rows, as the loss pads.
- interleaved-padding: a padded row before a real row of an image.
- leading-padding: row 0 padded in an image with real rows: all-zero CIoU columns go there.
- stale-padding: a padded row holding a non-zero box.
- pred-equals-gt: a predicted box exactly a GT box of its image (CIoU 1).
- tied-predictions: two anchors of an image with the same box and scores: metric ties.
- zero-scores: an image whose scores are all 0: every metric 0, top-k all zero-fill.
- score-zero: an exact 0 score in an image with non-zero scores.
- score-one: an exact 1 score.
- float16: boxes and scores in float16 (eps 1e-9 rounds to 0 in the normalisation).
- amp: float16 scores with wider boxes, as AMP training passes them.
- float16-overflow: a float16 GT whose area overflows (above 65504): NaN CIoU.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .corpus import TalBatch
from .geometry import INSIDE_EPS, candidate_boxes
from .problem import TalProblem
from .validate import validate_inputs

TAL_EDGE_KINDS: tuple[str, ...] = (
    "few-anchors",
    "side-below-stride",
    "side-in-threshold-gap",
    "side-at-threshold",
    "side-near-threshold",
    "edge-on-anchor",
    "outside-input",
    "larger-than-input",
    "no-candidate",
    "few-candidates",
    "shared-anchor",
    "crowded-anchor",
    "duplicate-box",
    "no-gt-rows",
    "all-padding-image",
    "trailing-padding",
    "interleaved-padding",
    "leading-padding",
    "stale-padding",
    "pred-equals-gt",
    "tied-predictions",
    "zero-scores",
    "score-zero",
    "score-one",
    "float16",
    "amp",
    "float16-overflow",
)

_NEAR = 0.25  # pixels: "near" a threshold
_CROWD = 4  # GTs claiming one anchor point to call it crowded


def tal_edge_kinds(problem: TalProblem, batch: TalBatch) -> set[str]:
    """The edge classes (`TAL_EDGE_KINDS`, the module docstring) of a valid batch.

    Raises `DiagnosticsError` on invalid inputs (`validate_inputs`). Cost: a few passes over
    the inputs and ``[b, n, nx]`` axis masks; about two seconds for 64 images of 34 000
    anchor points, 80 classes and 300 GT rows on one core.
    """
    validate_inputs(problem, *batch)
    batch = TalBatch(*(t.detach().cpu() for t in batch))
    found = _dtype_kinds(batch) | _prediction_kinds(batch)
    if problem.num_anchors < max(problem.topk, problem.topk2 or 0):
        found.add("few-anchors")
    if batch.gt_bboxes.shape[1] == 0:
        return found | {"no-gt-rows"}
    valid = batch.mask_gt[..., 0] != 0
    found |= _padding_kinds(batch, valid)
    found |= _side_kinds(problem, batch.gt_bboxes, valid)
    found |= _candidate_kinds(problem, batch, valid)
    return found


def _kinds(found: dict[str, Tensor | bool]) -> set[str]:
    return {kind for kind, hit in found.items() if bool(hit)}


def _dtype_kinds(batch: TalBatch) -> set[str]:
    half = torch.float16
    boxes = batch.gt_bboxes
    wh = boxes[..., 2:] - boxes[..., :2]
    valid = batch.mask_gt[..., 0] != 0
    return _kinds(
        {
            "float16": batch.pd_scores.dtype == half and boxes.dtype == half,
            "amp": batch.pd_scores.dtype == half and boxes.dtype != half,
            "float16-overflow": boxes.dtype == half and (wh.prod(-1).isinf() & valid).any(),
        }
    )


def _prediction_kinds(batch: TalBatch) -> set[str]:
    # probabilities in [0, 1] (validated): extremes say it without [b, na, nc] temporaries
    scores = batch.pd_scores.flatten(1)
    low, high = scores.amin(1), scores.amax(1)
    tied = equal_gt = False
    for i in range(len(batch.pd_scores)):
        boxes = batch.pd_bboxes[i].double()
        real = batch.gt_bboxes[i][batch.mask_gt[i, :, 0] != 0].double()
        tied = tied or _tied(boxes, batch.pd_scores[i])
        equal_gt = equal_gt or _shares_a_row(real, boxes)
    return _kinds(
        {
            "zero-scores": (high == 0).any(),
            "score-zero": ((low == 0) & (high > 0)).any(),
            "score-one": (high == 1).any(),
            "tied-predictions": tied,
            "pred-equals-gt": equal_gt,
        }
    )


def _row_keys(rows: Tensor) -> Tensor:
    """``Tensor[m]`` int64 hashes of the rows of ``rows`` ``[m, k]``: equal rows (0.0 and -0.0
    alike) have equal keys; different rows collide about once in 2**64. One pass, where
    ``unique(dim=0)`` sorts rows column by column."""
    bits = (rows.double() + 0.0).view(torch.int64)  # + 0.0 turns -0.0 into 0.0
    gen = torch.Generator().manual_seed(rows.shape[1])
    odd = torch.randint(-(2**62), 2**62, (rows.shape[1],), generator=gen) * 2 + 1
    return (bits * odd).sum(1)  # wraps modulo 2**64; an odd factor loses no bit of a column


def _has_equal_rows(rows: Tensor) -> bool:
    """Whether two rows of ``rows`` ``[m, k]`` are equal: equal keys sort together, and
    rows with one key are equal but for a collision, so neighbours tell."""
    keys, order = _row_keys(rows).sort()
    same = (keys[1:] == keys[:-1]).nonzero().flatten()
    return bool((rows[order[same]] == rows[order[same + 1]]).all(1).any())


def _tied(boxes: Tensor, scores: Tensor) -> bool:
    """Whether two anchors predict the same box ``[na, 4]`` and scores ``[na, nc]``; the
    scores are looked at only where boxes repeat."""
    _, inverse, counts = _row_keys(boxes).unique(return_inverse=True, return_counts=True)
    repeated = (counts[inverse] > 1).nonzero().flatten()
    rows = torch.cat((boxes[repeated], scores[repeated].double()), 1)
    return len(repeated) > 1 and _has_equal_rows(rows)


def _shares_a_row(a: Tensor, b: Tensor) -> bool:
    """Whether a row of ``a`` ``[m, k]`` equals a row of ``b`` ``[p, k]``."""
    if not len(a) or not len(b):
        return False
    keys, order = _row_keys(b).sort()
    query = _row_keys(a)
    at = torch.searchsorted(keys, query).clamp(max=len(keys) - 1)
    hit = keys[at] == query
    return bool((a[hit] == b[order[at[hit]]]).all(1).any())


def _padding_kinds(batch: TalBatch, valid: Tensor) -> set[str]:
    n = valid.shape[1]
    row = torch.arange(n)
    has_real = valid.any(1)
    last_real = torch.where(valid, row, -1).amax(1)
    first_pad = torch.where(valid, n, row).amin(1)
    empty_box = (batch.gt_bboxes == 0).all(-1)
    zero_row = empty_box & (batch.gt_labels[..., 0] == 0)
    trailing = has_real & (first_pad < n) & (first_pad > last_real) & (zero_row | valid).all(1)
    return _kinds(
        {
            "all-padding-image": (~has_real).any(),
            "trailing-padding": trailing.any(),
            "interleaved-padding": (first_pad < last_real).any(),
            "leading-padding": (~valid[:, 0] & has_real).any(),
            "stale-padding": (~valid & ~empty_box).any(),
        }
    )


def _thresholds(problem: TalProblem) -> list[float]:
    return sorted({float(problem.strides[0]), problem.stal_side, problem.stal_below})


def _side_kinds(problem: TalProblem, boxes: Tensor, valid: Tensor) -> set[str]:
    real = boxes[valid]  # [m, 4]
    wh = real[:, 2:] - real[:, :2]  # in the boxes' dtype, as the floor computes it
    at = torch.zeros_like(wh, dtype=torch.bool)
    near = torch.zeros_like(at)
    for t in _thresholds(problem):
        at |= wh == t
        near |= ((wh.double() - t).abs() <= _NEAR) & (wh != t)
    s0, floor = float(problem.strides[0]), problem.stal_side
    height, width = problem.img_size
    size = torch.tensor([width, height], dtype=torch.float64)
    return _kinds(
        {
            "side-below-stride": (wh < s0).any(),
            "side-in-threshold-gap": ((wh >= s0) & (wh < floor)).any(),
            "side-at-threshold": at.any(),
            "side-near-threshold": near.any(),
            "outside-input": ((real[:, :2] < 0) | (real[:, 2:].double() > size)).any(),
            "larger-than-input": (wh.double() > size).any(),
        }
    )


def _candidate_kinds(problem: TalProblem, batch: TalBatch, valid: Tensor) -> set[str]:
    """Kinds of the inside test, level by level on the anchor axes: a GT's candidates are
    the product of the anchor columns and rows strictly inside it, and the GTs claiming an
    anchor a product of the same masks summed over GTs (a matrix product)."""
    boxes = candidate_boxes(problem, batch.gt_bboxes, valid)
    x1, y1, x2, y2 = (c[..., None] for c in boxes.unbind(-1))  # [b, n, 1]
    count = torch.zeros(valid.shape, dtype=torch.int64)
    most, on_edge = 0, False
    for level in range(len(problem.strides)):
        xs, ys, _ = problem.level_axes(level, dtype=batch.anc_points.dtype)
        in_x = ((xs - x1) > INSIDE_EPS) & ((x2 - xs) > INSIDE_EPS)  # [b, n, nx]
        in_y = ((ys - y1) > INSIDE_EPS) & ((y2 - ys) > INSIDE_EPS) & valid[..., None]
        count += in_x.sum(-1) * in_y.sum(-1)
        claims = torch.bmm(in_y.transpose(1, 2).float(), in_x.float())  # [b, ny, nx], exact
        most = max(most, int(claims.max()) if claims.numel() else 0)
        # an edge through an anchor: on its column with one of its rows in the closed span
        on_x, on_y = ((x1 == xs) | (x2 == xs)).any(-1), ((y1 == ys) | (y2 == ys)).any(-1)
        span_x = ((xs >= x1) & (xs <= x2)).any(-1)
        span_y = ((ys >= y1) & (ys <= y2)).any(-1)
        on_edge = on_edge or bool((((on_x & span_y) | (on_y & span_x)) & valid).any())
    count = count[valid]
    real = [batch.gt_bboxes[i][valid[i]] for i in range(len(valid))]
    return _kinds(
        {
            "no-candidate": (count == 0).any(),
            "few-candidates": ((count > 0) & (count < problem.topk)).any(),
            "shared-anchor": most >= 2,
            "crowded-anchor": most >= _CROWD,
            "duplicate-box": any(_has_equal_rows(r) for r in real),
            "edge-on-anchor": on_edge,
        }
    )
