"""The candidate set of the task-aligned assigner, counted for a whole dataset.

An anchor point is a **candidate** of a GT when it lies strictly inside the GT's box after the
small-box floor (`tal.geometry.candidate_boxes`, then the ``> eps`` test of
`tal.geometry.inside_mask`). Only candidates can become positives, whatever the model
predicts: a GT with none is never learned, and a GT with fewer than ``topk`` takes all of them
into its top-k.

A level's anchor points are a grid ``xs x ys``, so the candidates of a box at a level are the
product of an x-interval and a y-interval of the level's axes: `candidate_ranges` finds the
two intervals by `torch.searchsorted` and the counts are products -- never a
``[targets, anchors]`` mask (a million boxes at 640 would make 8.4 billion of them).

Exactness: the test is ``(x - x1) > eps`` and ``(x2 - x) > eps`` in the boxes' dtype, with
``eps = INSIDE_EPS`` (1e-9). Rounding is monotonic, so each side selects a suffix (resp. a
prefix) of the sorted axis; `searchsorted` finds where ``x > x1`` (resp. ``x < x2``) begins,
and one step corrects for ``eps``: an axis value past ``x1`` whose rounded difference is still
``<= eps`` is at most one (axis values are a stride >= 1 px apart), and a value at or before
``x1`` never passes (its difference rounds to ``<= 0``). In float32 -- TAL's own dtype at the
input -- the correction is skipped, as it cannot fire: every anchor coordinate is >= 0.5,
where a positive difference of two float32 values exceeds 1e-9; in float64 it is made.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from ..tal.geometry import INSIDE_EPS, candidate_boxes
from ..tal.problem import TalProblem

AxisRanges = tuple[Tensor, Tensor, Tensor, Tensor]
"""One level's ``(x_lo, x_hi, y_lo, y_hi)``, ``int64[M]`` each: the candidates of box ``m``
are the anchor points with column in ``[x_lo, x_hi)`` and row in ``[y_lo, y_hi)``."""


def input_boxes(xywh: np.ndarray, img_size: tuple[int, int]) -> Tensor:
    """Targets ``float32[M, 4]`` (normalized xywh at the network input, as the anchor scan
    has them) -> ``float32[M, 4]`` xyxy pixels, as ultralytics' ``v8DetectionLoss`` hands
    them to the assigner: ``xywh * (W, H, W, H)``, then ``xy -/+ wh / 2``, in float32."""
    height, width = img_size
    t = torch.from_numpy(np.ascontiguousarray(xywh, dtype=np.float32)).reshape(-1, 4)
    t = t * torch.tensor([width, height, width, height], dtype=torch.float32)
    half = t[:, 2:] / 2
    return torch.cat((t[:, :2] - half, t[:, :2] + half), 1)


def floored_boxes(problem: TalProblem, boxes: Tensor) -> Tensor:
    """The boxes the inside test uses (``Tensor[M, 4]``, the boxes' dtype): ultralytics'
    ``mask_gt`` (``sum > 0``) and `candidate_boxes` with the problem's floor."""
    valid = boxes.sum(-1) > 0
    return candidate_boxes(problem, boxes[None], valid[None])[0]


def candidate_ranges(problem: TalProblem, boxes: Tensor) -> list[AxisRanges]:
    """Per level, the `AxisRanges` of ``boxes`` (``Tensor[M, 4]`` xyxy pixels, any float
    dtype and device) after the problem's floor; an invalid row (``sum <= 0``) has none."""
    valid = boxes.sum(-1) > 0
    tested = floored_boxes(problem, boxes)
    x1, y1, x2, y2 = tested.unbind(-1)
    out = []
    for level in range(len(problem.strides)):
        xs, ys, _ = problem.level_axes(level, boxes.device, boxes.dtype)
        x_lo, x_hi = _inside(xs, x1, x2)
        y_lo, y_hi = _inside(ys, y1, y2)
        y_hi = torch.where(valid, y_hi, y_lo)  # ultralytics' mask_gt: no candidate
        out.append((x_lo, x_hi, y_lo, y_hi))
    return out


def count_candidates(problem: TalProblem, boxes: Tensor) -> Tensor:
    """``int32[M, nl]`` candidates of each box at each level (see `candidate_ranges`)."""
    if len(boxes) == 0:
        return torch.zeros((0, len(problem.strides)), dtype=torch.int32, device=boxes.device)
    counts = [
        ((x_hi - x_lo) * (y_hi - y_lo)).to(torch.int32)
        for x_lo, x_hi, y_lo, y_hi in candidate_ranges(problem, boxes)
    ]
    return torch.stack(counts, 1)


def without_floor(problem: TalProblem) -> TalProblem:
    """``problem`` without the small-box floor (ultralytics 8.3's candidate test)."""
    return replace(problem, stal=False)


def _inside(axis: Tensor, low: Tensor, high: Tensor) -> tuple[Tensor, Tensor]:
    """``[lo, hi)``: the indices of the sorted ``axis`` with ``axis - low > eps`` and
    ``high - axis > eps`` (``hi >= lo``; see the module docstring for why one step of
    correction after `searchsorted` is exact, and needed only where the dtype resolves
    differences of ``eps`` at the axis' smallest value)."""
    lo = torch.searchsorted(axis, low.contiguous(), right=True)  # first axis value > low
    hi = torch.searchsorted(axis, high.contiguous(), right=False)  # first axis value >= high
    if _resolves_eps(axis):
        n, eps = len(axis), INSIDE_EPS
        at = axis[lo.clamp(max=n - 1)]
        lo += ((lo < n) & ~((at - low) > eps)).long()
        before = axis[(hi - 1).clamp(min=0)]
        hi -= ((hi > 0) & ~((high - before) > eps)).long()
    return lo, torch.maximum(hi, lo)


def _resolves_eps(axis: Tensor) -> bool:
    """Whether two values of ``axis.dtype``, one of them an axis value (all are >= the first,
    ``stride / 2``), can differ by a positive amount ``<= INSIDE_EPS``: their difference is
    a multiple of an ulp of at least ``finfo.eps * axis[0] / 4`` (or exceeds ``axis[0] /
    2``). True for float64; never for float32, where ``x > x1`` alone decides."""
    if len(axis) == 0:
        return False
    return torch.finfo(axis.dtype).eps * float(axis[0]) / 4 <= INSIDE_EPS
