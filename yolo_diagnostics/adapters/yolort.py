"""The ``yolort`` package's own ``SetCriterion.build_targets`` as an assigner factory.

``yolort`` 0.6.3 (zhiqwang/yolort). Install it without its export stack (onnx, ipython, ...),
then the libraries its imports need::

    pip install --no-deps yolort==0.6.3
    pip install pandas matplotlib pyyaml requests tqdm "setuptools<81"

Conversions, both ways:

- ``SetCriterion(strides, anchor_grids, num_classes, anchor_thresh=...)`` takes anchors as
  yolort's ``anchor_grids``: per level ``[w0, h0, w1, h1, ...]`` in pixels; ``anchor_thresh``
  is the problem's ``anchor_t``.
- ``build_targets(targets, head_outputs, anchor_grids)`` takes the targets first and the
  anchors in grid units as a third argument. ``SetCriterion.forward`` computes them as
  ``as_tensor(self.anchor_grids).view(self.num_anchors, -1, 2) / strides.view(-1, 1, 1)``,
  which is ``problem.anchors_grid()`` when there are as many levels as anchors per level and
  raises otherwise (a 4-level P6 head has 3 anchors per level). Here the anchors are
  ``problem.anchors_grid(device)``, so that ``build_targets`` itself is what gets tested.
- It returns ``(target_cls, target_box, indices, anch)``: YOLOv5's ``(tcls, tbox, indices,
  anch)`` with the same meaning, so the output is passed through unchanged.

Like YOLOv5's, the rule is the ``yolov5`` rule, hard-coded (``g = 0.5``): problems of another
rule are declared `NotApplicable`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..assignment import YoloV5Output
from ..problem import Problem
from ._support import missing, offline_import, require_rule

with offline_import():
    try:
        from yolort.models.box_head import SetCriterion
    except ImportError as error:
        raise missing("yolort", error) from error


def make_assigner(
    problem: Problem, device: torch.device | str
) -> Callable[[Sequence[Tensor], Tensor], YoloV5Output]:
    """Assigner factory: ``yolort.models.box_head.SetCriterion.build_targets`` on ``device``.

    Raises `NotApplicable` for a problem of another rule than ``yolov5``, the only one the
    package implements.
    """
    require_rule(problem, "yolov5", "yolort", "SetCriterion.build_targets hard-codes it")
    device = torch.device(device)
    criterion = SetCriterion(
        strides=list(problem.strides),
        anchor_grids=[[c for wh in level for c in wh] for level in problem.anchors],
        num_classes=problem.num_classes,
        anchor_thresh=problem.anchor_t,
    ).to(device)
    anchors = problem.anchors_grid(device)

    def yolort_build_targets(p: Sequence[Tensor], targets: Tensor) -> YoloV5Output:
        return criterion.build_targets(targets.to(device), list(p), anchors)

    yolort_build_targets.criterion = criterion  # type: ignore[attr-defined]  # for inspection
    return yolort_build_targets
