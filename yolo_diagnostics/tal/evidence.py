"""What the TAL invariants read (`yolo_diagnostics.tal.invariants`): one output's positives
and, for them only, the candidate test, CIoU, metric and normalised score recomputed from the
inputs -- no provenance, no reference run.

Shapes: ``b`` images, ``na`` anchor points, ``n`` GT rows, ``nc`` classes; ``P`` positives
(foreground anchors whose ``target_gt_idx`` names a GT row, ``0 <= g < n``). Dense tensors
are ``[b, na]`` at most (``target_scores`` ``[b, na, nc]`` is reduced, never copied); the
recomputation is ``[P]``; nothing is ``[b, n, na]``. The one wider table, every GT row at
the few anchors that row 0 owns without being their candidate (`TalEvidence.row0_tie`), is
built in chunks of `CHUNK` pairs.

**Tolerance of the recomputed score** (`TalEvidence.tolerance`). The CIoU and the metric are
recomputed in the dtype the assigner uses (the inputs' promoted dtype), with the operations
of `geometry.ciou` -- those of ultralytics, float16 overflows included -- so ultralytics and
the reference match up to an ulp of ``atan``/``pow``. Another correct implementation (another
CIoU formula, another kernel) differs by rounding: the bound allows its CIoU to be off by
``K = 16`` ulps of 1 (``dU = 16 eps``; CIoU's three terms are at most 1), which the metric
``s**alpha * u**beta`` turns into ``beta * dU / u`` relative, for the anchor and for its GT's
best-metric anchor, plus ``dU / max_ciou`` and ``4 eps`` relative for the products and the
division; and, for metrics below the normal range, 4 subnormal steps divided by
``max_align + eps``. In float32 that is about ``2e-5 / u`` relative -- a missing factor, a
maximum over the wrong set or an unnormalised metric is off by percents; in float16
(``eps ~ 1e-3``) the check is coarse, by necessity.
"""

from __future__ import annotations

import bisect
from functools import cached_property

import torch
from torch import Tensor

from .assignment import TalOutput
from .corpus import TalBatch
from .geometry import INSIDE_EPS, candidate_boxes, ciou
from .problem import TalProblem
from .sparse import group_count, group_max, group_min

CHUNK = 1 << 20
"""The most (anchor, GT row) pairs `TalEvidence.row0_tie` tests at once."""

CIOU_ULPS = 16
"""A correct implementation's CIoU may differ from `geometry.ciou`'s by this many ulps of 1."""


class TalEvidence:
    """One output of ``TaskAlignedAssigner.forward`` read against its inputs.

    Built only after the output's structure passed the ``shapes`` check. Attributes:
        problem, inputs, output: the problem, the six inputs (`TalBatch`), the output.
        labels ``[b, na]``, boxes ``[b, na, 4]``, scores ``[b, na, nc]``, fg ``[b, na]`` bool:
            the output as returned.
        gt_idx ``[b, na]`` int64: ``target_gt_idx``; ``index_ok`` ``[b, na]``: it is an
            integer in ``[0, n)`` (foreground) or ``[-1, max(n, 1))`` (background).
        valid ``[b, n]`` bool: ``mask_gt != 0``.
        image, anchor, gt, row ``[P]``: the positives, by (image, anchor); ``row = image * n
            + gt``.
        finite ``[b]`` bool: the image's ``target_scores`` are all finite (the checks that
            read scores skip the others); ``nonzero`` ``[b, na]``: non-zero score columns
            (0 in the other images);
            ``value`` ``[P]`` float64: a positive's score row summed.
    """

    def __init__(self, problem: TalProblem, inputs: TalBatch, output: TalOutput) -> None:
        self.problem, self.inputs, self.output = problem, inputs, output
        labels, boxes, scores, fg, gt_idx = output
        self.labels, self.boxes, self.scores, self.fg = labels, boxes, scores, fg
        self.b, self.na, self.nc = scores.shape
        self.n = inputs.gt_bboxes.shape[1]
        self.valid = inputs.mask_gt[..., 0] != 0
        self.gt_idx, integral = _as_index(gt_idx)
        low = torch.where(fg, 0, -1)
        high = self.n if self.n else 1  # n == 0: ultralytics' background index 0 is no row
        self.index_ok = (
            integral & (self.gt_idx >= low) & (self.gt_idx < torch.where(fg, self.n, high))
        )
        self.image, self.anchor = (fg & self.index_ok).nonzero(as_tuple=True)
        self.gt = self.gt_idx[self.image, self.anchor]
        self.row = self.image * self.n + self.gt
        # row extremes: two reductions, no [b, na, nc] temporary; they propagate NaN and
        # show an infinity, and a row is non-zero where either is
        top, bottom = scores.amax(-1), scores.amin(-1)
        self.finite = (torch.isfinite(top) & torch.isfinite(bottom)).all(1)
        self.nonzero = torch.zeros_like(fg, dtype=torch.int64)
        rows = (((top != 0) | (bottom != 0)) & self.finite[:, None]).nonzero(as_tuple=True)
        self.nonzero[rows] = torch.count_nonzero(scores[rows], -1)
        self.value = scores[self.image, self.anchor].sum(-1, dtype=torch.float64)

    # ----------------------------------------------------------------- places
    def where(self, image: int, anchor: int | None = None, gt: int | None = None) -> str:
        """``image 2, anchor 8017 (level 1, cell (gj, gi) = (40, 17)), GT row 3``."""
        text = f"image {image}"
        if anchor is not None:
            starts = self.problem.level_starts
            level = bisect.bisect_right(starts, anchor) - 1
            nx = self.problem.feature_shapes[level][1]
            gj, gi = divmod(anchor - starts[level], nx)
            text += f", anchor {anchor} (level {level}, cell (gj, gi) = ({gj}, {gi}))"
        if gt is not None:
            text += f", GT row {gt}"
        return text

    def gt_box(self, image: int, gt: int) -> str:
        return _box(self.inputs.gt_bboxes[image, gt])

    def gt_label(self, image: int, gt: int) -> int:
        return int(self.inputs.gt_labels[image, gt, 0])

    # ----------------------------------------------------------------- recomputation
    @cached_property
    def floored(self) -> Tensor:
        """``[b, n, 4]``: the boxes of the candidate test (small-box floor on valid rows)."""
        return candidate_boxes(self.problem, self.inputs.gt_bboxes, self.valid)

    @cached_property
    def candidate(self) -> Tensor:
        """``[P]`` bool: the positive's anchor is a candidate of its (valid) owner."""
        inside = _inside(self.inputs.anc_points[self.anchor], self.floored[self.image, self.gt])
        return inside & self.valid[self.image, self.gt]

    @cached_property
    def metrics(self) -> tuple[Tensor, Tensor]:
        """``(ciou, align)`` ``[P]`` of each positive's pair, as the assigner computes them:
        CIoU clamped at 0 and stored in ``pd_bboxes``' dtype, ``align`` from the CIoU before
        that cast; both 0 where the anchor is no candidate of its owner (ultralytics computes
        metrics for candidate pairs only, so a non-candidate winner has metric 0)."""
        x = self.inputs
        overlap = ciou(x.gt_bboxes[self.image, self.gt], x.pd_bboxes[self.image, self.anchor])
        overlap = torch.where(self.candidate, overlap.clamp(min=0), 0)
        score = x.pd_scores[self.image, self.anchor, x.gt_labels[self.image, self.gt, 0].long()]
        align = score.pow(self.problem.alpha) * overlap.pow(self.problem.beta)
        return overlap.to(x.pd_bboxes.dtype), torch.where(self.candidate, align, 0)

    @cached_property
    def expected(self) -> Tensor:
        """``[P]`` float64: ``align * max_ciou / (max_align + eps)``, maxima over the GT
        row's positives, in the metric's dtype and ultralytics' order of operations."""
        overlap, align = self.metrics
        top_u, top_a = self._maxima
        return (align * top_u[self.row] / (top_a[self.row] + self.problem.eps)).double()

    @cached_property
    def tolerance(self) -> Tensor:
        """``[P]`` float64: how far a correct score may be from `expected` (module docstring)."""
        overlap, align = self.metrics
        top_u, top_a = (t.double() for t in self._maxima)
        info = torch.finfo(align.dtype)
        out_eps = torch.finfo(self.scores.dtype).eps
        d_u = CIOU_ULPS * info.eps
        tiny = info.smallest_normal
        u = overlap.double().clamp(min=tiny)
        # the CIoU of the GT's best-metric positive: the smallest among ties, to be safe
        best = align == self._maxima[1][self.row]
        u_best = group_min(overlap.double()[best], self.row[best], self.b * self.n, 1.0)
        beta = self.problem.beta
        relative = (
            beta * d_u / u
            + beta * d_u / u_best.clamp(min=tiny)[self.row]
            + d_u / top_u.clamp(min=tiny)[self.row]
            + 4 * max(info.eps, out_eps)
        )
        subnormal = 4 * tiny * info.eps * top_u[self.row] / (top_a[self.row] + self.problem.eps)
        return self.expected.abs() * relative + subnormal + torch.finfo(torch.float64).tiny

    @cached_property
    def _maxima(self) -> tuple[Tensor, Tensor]:
        """``[b * n]`` each: the largest CIoU and metric among each GT row's positives."""
        overlap, align = self.metrics
        rows = self.b * self.n
        return group_max(overlap, self.row, rows, 0.0), group_max(align, self.row, rows, 0.0)

    @cached_property
    def row0_tie(self) -> Tensor:
        """``[P]`` bool: ultralytics' all-zero conflict. The positive belongs to row 0 without
        being its candidate (row 0 padded, or the anchor outside its floored box), while at
        least two valid rows have the anchor as a candidate and none has a CIoU above the
        recomputation's error (`CIOU_ULPS` ulps): ``argmax`` over rows then picks row 0."""
        out = torch.zeros_like(self.candidate)
        suspect = ((self.gt == 0) & ~self.candidate).nonzero().flatten()
        if not len(suspect):
            return out
        x = self.inputs
        zero = (
            CIOU_ULPS * torch.finfo(torch.promote_types(x.gt_bboxes.dtype, x.pd_bboxes.dtype)).eps
        )
        step = max(1, CHUNK // max(self.n, 1))
        for part in suspect.split(step):  # a Python loop over chunks of pairs, not anchors
            image, anchor = self.image[part], self.anchor[part]
            points = x.anc_points[anchor][:, None]  # [S, 1, 2]
            inside = _inside(points, self.floored[image]) & self.valid[image]  # [S, n]
            s, g = inside.nonzero(as_tuple=True)
            overlap = ciou(x.gt_bboxes[image[s], g], x.pd_bboxes[image[s], anchor[s]]).clamp(min=0)
            count = group_count(s, len(part))
            best = group_max(overlap, s, len(part), 0.0)
            out[part] = (count >= 2) & (best <= zero)
        return out


def _as_index(gt_idx: Tensor) -> tuple[Tensor, Tensor]:
    """``target_gt_idx`` as int64, and where it holds an integer (ultralytics' ``n == 0``
    early return gives it in a float dtype)."""
    if not gt_idx.dtype.is_floating_point:
        return gt_idx.long(), torch.ones_like(gt_idx, dtype=torch.bool)
    integral = torch.isfinite(gt_idx) & (gt_idx == gt_idx.round())
    return torch.where(integral, gt_idx, 0).long(), integral


def _inside(points: Tensor, boxes: Tensor) -> Tensor:
    """Points ``[..., 2]`` strictly inside boxes ``[..., 4]`` (broadcast), by the candidate
    test's own comparisons: ``x - x1``, ``y - y1``, ``x2 - x``, ``y2 - y`` all above
    `INSIDE_EPS`, in the dtypes `geometry.inside_mask` uses."""
    low = (points - boxes[..., :2]) > INSIDE_EPS
    high = (boxes[..., 2:] - points) > INSIDE_EPS
    return low.all(-1) & high.all(-1)


def _box(box: Tensor) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in box.tolist()) + "]"
