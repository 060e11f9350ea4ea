"""Why a target gets no positive: every (level, anchor) pair fails YOLOv5's ratio test.

Per pair, a side fails when ``max(r, 1 / r) >= anchor_t`` for its ``r = target / anchor``: a
side *below* (``r < 1``: the target is too small for that anchor) or *above* (too large).

- ``too-small``: against every anchor the target fails only by sides below;
- ``too-large``: against every anchor it fails only by sides above;
- ``aspect``: anything else -- too thin for some anchors, too long for others, or one side
  below and the other above the same anchor.

The ratios are YOLOv5's float32 grid-unit expressions, level by level, so a reason is given
exactly for the targets the assignment left without a row.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..problem import Problem

REASONS = ("too-small", "too-large", "aspect")
MATCHED = -1


def unmatched_reasons(problem: Problem, wh: Tensor) -> Tensor:
    """``int64[M]`` index into `REASONS` for targets of normalized size ``wh``
    (``float32[M, 2]``, as given to the assignment) that fail every anchor; `MATCHED` (-1)
    for targets some anchor takes."""
    anchors = problem.anchors_grid(wh.device)
    only_below = torch.ones(len(wh), dtype=torch.bool, device=wh.device)
    only_above = only_below.clone()
    matched = torch.zeros_like(only_below)
    for level, (ny, nx) in enumerate(problem.feature_shapes):
        gain = torch.tensor([nx, ny], dtype=torch.float32, device=wh.device)
        r = (wh * gain)[:, None] / anchors[level][None]  # [M, na, 2], as the reference
        bad = ~(torch.max(r, 1 / r) < problem.anchor_t)
        below, above = (bad & (r < 1)).any(2), (bad & (r >= 1)).any(2)
        matched |= (~bad.any(2)).any(1)
        only_below &= (below & ~above).all(1)
        only_above &= (above & ~below).all(1)
    reason = torch.full_like(matched, REASONS.index("aspect"), dtype=torch.int64)
    reason[only_below] = REASONS.index("too-small")
    reason[only_above] = REASONS.index("too-large")
    reason[matched] = MATCHED
    return reason
