"""Seeded TAL batches biased to the places where assigners go wrong.

`make_batch` draws the six inputs of ``TaskAlignedAssigner.forward`` for a problem. The
``kind`` picks what is hard about it:

- ``random``: boxes of log-uniform size, predictions scattered around the anchor points;
- ``near-gt``: predictions at or next to a GT box (large metrics, CIoU near 1, exact
  equal-CIoU conflicts where two GTs coincide);
- ``identical``: every anchor of an image predicts the same box -- its first GT's -- and the
  same scores (equal metrics across each GT's candidates: top-k and conflict ties);
- ``zero-scores``: every score 0 (every metric 0: the top-k is all zero-fill);
- ``small``: sides near the floor's threshold and side (7.9, 8, 8.1, 15.9, 16, 16.1) and
  below 8 px;
- ``edges``: box edges exactly through anchor centres (the strict inside test);
- ``large``: boxes larger than the input, reaching outside it.

``padding`` places the rows with ``mask_gt = 0``: ``trailing`` (as ultralytics' loss pads,
zeros), ``interleaved`` (between real rows, some holding leftover boxes), ``none``.
``empty_images`` images get no real row.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import DiagnosticsError
from .problem import TalProblem

KINDS = ("random", "near-gt", "identical", "zero-scores", "small", "edges", "large")
PADDINGS = ("trailing", "interleaved", "none")
SMALL_SIDES = (2.0, 4.0, 7.5, 7.9, 8.0, 8.1, 12.0, 15.9, 16.0, 16.1, 24.0)


class TalBatch(NamedTuple):
    """The six inputs, in ``TaskAlignedAssigner.forward``'s order."""

    pd_scores: Tensor  # [b, na, nc]
    pd_bboxes: Tensor  # [b, na, 4]
    anc_points: Tensor  # [na, 2]
    gt_labels: Tensor  # [b, n, 1]
    gt_bboxes: Tensor  # [b, n, 4]
    mask_gt: Tensor  # [b, n, 1]


def make_batch(
    problem: TalProblem,
    *,
    seed: int,
    kind: str = "random",
    n: int = 8,
    padding: str = "trailing",
    empty_images: int = 0,
    dtype: torch.dtype = torch.float32,
    score_dtype: torch.dtype | None = None,
    device: torch.device | str = "cpu",
) -> TalBatch:
    """One batch of ``problem.batch_size`` images with ``n`` GT rows each.

    ``dtype`` is that of boxes, anchor points, labels and mask; ``score_dtype`` (default
    ``dtype``) that of ``pd_scores`` -- float16 scores with float32 boxes is what AMP
    training passes. Generated on the CPU in float32, then cast and moved.
    """
    if kind not in KINDS or padding not in PADDINGS:
        raise DiagnosticsError(f"make_batch: kind in {KINDS}, padding in {PADDINGS}")
    g = torch.Generator().manual_seed(seed)
    b, na, nc = problem.batch_size, problem.num_anchors, problem.num_classes
    anchors = problem.anchor_points()
    boxes = _gt_boxes(problem, kind, (b, n), g, anchors)
    mask = _mask(padding, (b, n), empty_images, g)
    leftover = torch.rand((b, n, 1), generator=g) < 0.5
    keep = mask[..., None] | (leftover & (padding == "interleaved"))
    boxes = torch.where(keep, boxes, 0.0)  # interleaved padding may keep a stale box
    labels = torch.randint(0, nc, (b, n, 1), generator=g).float()
    labels = torch.where(mask[..., None] | (padding == "interleaved"), labels, 0.0)
    pd_bboxes = _predictions(kind, anchors, boxes, mask, g)
    pd_scores = torch.rand((b, na, nc), generator=g)
    if kind == "identical":
        pd_scores = pd_scores[:, :1].expand(b, na, nc).clone()
    elif kind == "zero-scores":
        pd_scores.zero_()
    else:  # a few exact 0 and 1 scores
        pd_scores[torch.rand(pd_scores.shape, generator=g) < 0.01] = 0.0
        pd_scores[torch.rand(pd_scores.shape, generator=g) < 0.01] = 1.0
    floats = (pd_bboxes, anchors, labels, boxes, mask[..., None].float())
    pd_bboxes, anchors, labels, boxes, mask_gt = (t.to(device, dtype) for t in floats)
    pd_scores = pd_scores.to(device, score_dtype or dtype)
    return TalBatch(pd_scores, pd_bboxes, anchors, labels, boxes, mask_gt)


def _gt_boxes(
    problem: TalProblem, kind: str, shape: tuple[int, int], g: torch.Generator, anchors: Tensor
) -> Tensor:
    """``Tensor[b, n, 4]`` xyxy pixels."""
    h, w = problem.img_size
    size = torch.tensor((w, h), dtype=torch.float32)
    centre = torch.rand((*shape, 2), generator=g) * size
    if kind == "small":
        sides = torch.tensor(SMALL_SIDES)
        wh = sides[torch.randint(0, len(sides), (*shape, 2), generator=g)]
        on_anchor = torch.rand(shape, generator=g) < 0.5  # centred on an anchor point
        picked = anchors[torch.randint(0, len(anchors), shape, generator=g)]
        centre = torch.where(on_anchor[..., None], picked, centre)
    elif kind == "large":
        wh = (0.8 + torch.rand((*shape, 2), generator=g)) * size
    else:
        low, high = torch.log(torch.tensor(2.0)), torch.log(size.min() * 0.6)
        wh = torch.exp(low + torch.rand((*shape, 2), generator=g) * (high - low))
    boxes = torch.cat((centre - wh / 2, centre + wh / 2), -1)
    if kind == "edges":  # snap each edge to an anchor coordinate of a random level
        stride = torch.tensor(problem.strides, dtype=torch.float32)
        s = stride[torch.randint(0, len(stride), (*shape, 1), generator=g)]
        boxes = ((boxes / s - 0.5).round() + 0.5) * s
        boxes[..., 2:] = torch.maximum(boxes[..., 2:], boxes[..., :2] + s)
    return boxes


def _mask(padding: str, shape: tuple[int, int], empty_images: int, g: torch.Generator) -> Tensor:
    """``Tensor[b, n]`` bool: real rows."""
    b, n = shape
    if padding == "none":
        mask = torch.ones(shape, dtype=torch.bool)
    elif padding == "trailing":
        count = torch.randint(1, n + 1, (b, 1), generator=g) if n else torch.zeros(b, 1)
        mask = torch.arange(n)[None] < count
    else:
        mask = torch.rand(shape, generator=g) < 0.6
    mask[:empty_images] = False
    return mask


def _predictions(
    kind: str, anchors: Tensor, boxes: Tensor, mask: Tensor, g: torch.Generator
) -> Tensor:
    """``Tensor[b, na, 4]`` xyxy pixels, ``x2 >= x1``."""
    b, n = mask.shape
    na = anchors.shape[0]
    reach = torch.rand((b, na, 4), generator=g) * 64
    around = torch.cat((anchors - reach[..., :2], anchors + reach[..., 2:]), -1)
    if kind == "identical" and n == 0:  # no GT to copy: one box at every anchor
        return around[:, :1].expand(b, na, 4).clone()
    if kind == "identical":  # the first real GT's box (or one box), at every anchor
        first = mask.float().argmax(1)
        box = boxes[torch.arange(b), first]
        box = torch.where(mask.any(1)[:, None], box, around[:, 0])
        return box[:, None].expand(b, na, 4).clone()
    if kind != "near-gt" or n == 0:
        return around
    pick = torch.randint(0, n, (b, na), generator=g)
    target = boxes.gather(1, pick[..., None].expand(-1, -1, 4))
    jitter = (torch.rand((b, na, 4), generator=g) - 0.5) * 4
    exact = torch.rand((b, na, 1), generator=g) < 0.3
    near = torch.where(exact, target, target + jitter)
    near = torch.cat((near[..., :2], torch.maximum(near[..., 2:], near[..., :2])), -1)
    real = mask.gather(1, pick)[..., None]
    return torch.where(real, near, around)
