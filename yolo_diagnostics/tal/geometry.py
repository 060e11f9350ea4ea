"""The two geometric primitives of the task-aligned assigner: which anchor points lie inside a
GT (after the small-box floor), and the CIoU of a GT with a predicted box.

Both are written so that their floating-point operations are the ones ultralytics 8.4
evaluates (same operands, same association, same dtypes), which is what makes the reference
bit-exact; the formulas themselves are the published ones (CIoU: Zheng et al., AAAI 2020).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .problem import TalProblem

CIOU_EPS = 1e-7
"""ultralytics ``bbox_iou``'s eps: added to both heights, to the union and to the enclosing
diagonal, and to the denominator of the aspect weight."""

INSIDE_EPS = 1e-9
"""The inside test's margin: ultralytics' ``select_candidates_in_gts`` has its own
``eps=1e-9``, not the assigner's ``eps``."""

_ASPECT = 4 / math.pi**2  # CIoU's v = 4/pi^2 * (atan(w2/h2) - atan(w1/h1))^2


def candidate_boxes(problem: TalProblem, gt_bboxes: Tensor, valid: Tensor) -> Tensor:
    """The boxes the inside test uses, ``Tensor[b, n, 4]`` xyxy in ``gt_bboxes.dtype``.

    Without the floor: the GTs themselves. With it: each box goes through centre and size
    (``c = (x1 + x2) / 2``, ``w = x2 - x1``); a side of a valid GT below
    ``problem.stal_below`` becomes ``problem.stal_side``; the box comes back as
    ``c -/+ w / 2``. The round trip applies to every box, so an unfloored edge can move by
    an ulp -- ultralytics does the same, and the test is on the result.
    """
    if not problem.stal:
        return gt_bboxes
    low, high = gt_bboxes[..., :2], gt_bboxes[..., 2:]
    centre = (low + high) / 2
    size = high - low
    floor = (size < problem.stal_below) & valid[..., None]
    size = torch.where(floor, problem.stal_side, size)  # a Python scalar keeps size's dtype
    half = size / 2
    return torch.cat((centre - half, centre + half), -1)


def inside_mask(
    problem: TalProblem, boxes: Tensor, valid: Tensor, anchor_dtype: torch.dtype
) -> Tensor:
    """``Tensor[b, n, na]`` bool: anchor point strictly inside the box of a valid row.

    Strictly: each of ``x - x1``, ``y - y1``, ``x2 - x``, ``y2 - y`` exceeds `INSIDE_EPS`.
    The anchor points form one grid per level, so the test is made on each level's x and y
    axes (``[b, n, nx]`` and ``[b, n, ny]``) and combined by an outer product: the same
    comparisons as on every point, without ``[b, n, na]`` temporaries. ``anchor_dtype`` is
    the dtype of the anchor points the caller passed (it decides the subtraction's dtype).
    """
    b, n = boxes.shape[:2]
    out = torch.empty((b, n, problem.num_anchors), dtype=torch.bool, device=boxes.device)
    x1, y1, x2, y2 = (c[..., None] for c in boxes.unbind(-1))
    eps = INSIDE_EPS
    starts = problem.level_starts
    for level in range(len(problem.strides)):
        xs, ys, _ = problem.level_axes(level, boxes.device, anchor_dtype)
        in_x = ((xs - x1) > eps) & ((x2 - xs) > eps)  # [b, n, nx]
        in_y = ((ys - y1) > eps) & ((y2 - ys) > eps) & valid[..., None]  # [b, n, ny]
        view = out[:, :, starts[level] : starts[level + 1]].view(b, n, len(ys), len(xs))
        torch.logical_and(in_y[..., :, None], in_x[..., None, :], out=view)
    return out


def ciou(gt: Tensor, pred: Tensor, eps: float = CIOU_EPS) -> Tensor:
    """Complete IoU of paired xyxy boxes ``Tensor[N, 4]`` -> ``Tensor[N]`` (may be negative).

    ``iou - rho^2 / c^2 - v * a``: ``rho`` the distance of the centres, ``c`` the diagonal
    of the smallest enclosing box, ``v = 4/pi^2 (atan(w_p/h_p) - atan(w_g/h_g))^2`` and
    ``a = v / (1 - iou + v)``. As in ultralytics, ``eps`` is added to each height, to the
    union, to ``c^2`` and to the denominator of ``a``; the GT is the first box.
    """
    gx1, gy1, gx2, gy2 = gt.unbind(-1)
    px1, py1, px2, py2 = pred.unbind(-1)
    g_w, g_h = gx2 - gx1, gy2 - gy1 + eps
    p_w, p_h = px2 - px1, py2 - py1 + eps
    overlap_w = (torch.minimum(gx2, px2) - torch.maximum(gx1, px1)).clamp_(min=0)
    overlap_h = (torch.minimum(gy2, py2) - torch.maximum(gy1, py1)).clamp_(min=0)
    inter = overlap_w * overlap_h
    iou = inter / (g_w * g_h + p_w * p_h - inter + eps)
    hull_w = torch.maximum(gx2, px2) - torch.minimum(gx1, px1)
    hull_h = torch.maximum(gy2, py2) - torch.minimum(gy1, py1)
    diagonal2 = hull_w.square() + hull_h.square() + eps
    # twice the centre offset, each sum kept in ultralytics' association
    dx = px1 + px2 - gx1 - gx2
    dy = py1 + py2 - gy1 - gy2
    centre2 = (dx.square() + dy.square()) / 4
    v = _ASPECT * ((p_w / p_h).atan() - (g_w / g_h).atan()).square()
    weight = v / (1 - iou + v + eps)
    return iou - (centre2 / diagonal2 + v * weight)
