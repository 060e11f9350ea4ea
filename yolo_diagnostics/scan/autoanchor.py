"""YOLOv5 AutoAnchor's anchor-fit metric (``utils/autoanchor.py: check_anchors``).

``wh`` are the label sizes scaled so that each image's long side is the input size
(``img_size * shapes / shapes.max(1)``), without the random U(0.9, 1.1) jitter YOLOv5 adds;
``r = wh / anchor`` against all ``nl * na`` pixel anchors, ``x = min(r, 1 / r).min(2)``,
``best = x.max(1)``; ``bpr = (best > 1 / anchor_t).mean()`` and
``aat = (x > 1 / anchor_t).sum(1).mean()``. The metric ignores which level a target lands on
and the letterbox rounding; without augmentation it equals the realized recall of
``build_targets`` up to that rounding, since any passing (target, anchor) pair gets its centre
row.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..data.boxes import BoxDataset
from ..problem import Problem


def label_wh(dataset: BoxDataset, long_side: int, rows: np.ndarray | None = None) -> np.ndarray:
    """``float32[M, 2]`` label (w, h) in pixels at ``long_side``: YOLOv5's
    ``l[:, 3:5] * s`` (float32 labels times float64 shapes) then ``.float()``."""
    rows = np.arange(dataset.num_boxes) if rows is None else rows
    shapes = dataset.sizes[:, ::-1].astype(np.float64)  # (w, h), as dataset.shapes
    scaled = long_side * shapes / shapes.max(1, keepdims=True)
    return (dataset.boxes[rows, 2:4] * scaled[dataset.box_image[rows]]).astype(np.float32)


def fit_metric(wh: Tensor, problem: Problem, chunk: int = 1 << 18) -> tuple[Tensor, Tensor]:
    """Per target ``best`` (``float32[M]``, best ``min(r, 1 / r)`` over all anchors) and
    ``above`` (``int64[M]``, anchors with ``min(r, 1 / r) > 1 / anchor_t``)."""
    strides = torch.tensor(problem.strides, dtype=torch.float32, device=wh.device).view(-1, 1, 1)
    anchors = (problem.anchors_grid(wh.device) * strides).view(-1, 2)  # as m.anchors * stride
    best, above = [], []
    for part in wh.split(chunk):
        r = part[:, None] / anchors[None]
        x = torch.min(r, 1 / r).min(2)[0]
        best.append(x.max(1)[0])
        above.append((x > 1 / problem.anchor_t).sum(1))
    if not best:
        return torch.zeros(0, device=wh.device), torch.zeros(0, dtype=torch.int64, device=wh.device)
    return torch.cat(best), torch.cat(above)
