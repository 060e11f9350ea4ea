"""The ``yolov5`` package's own ``ComputeLoss.build_targets`` as an assigner factory.

``yolov5`` 7.0.x on PyPI packages ultralytics/yolov5. Install it without its training stack
(tensorboard, boto3, roboflow, sahi, ...), then the libraries its imports need::

    pip install --no-deps yolov5==7.0.14 ultralytics==8.4.190
    pip install pandas matplotlib seaborn pyyaml requests psutil tqdm "setuptools<81"

(``yolov5.utils.general`` imports ``ultralytics`` -- only its ``check_requirements`` --
and ``pkg_resources``, which setuptools 81 dropped.)

`make_assigner` builds the loss the way ``train.py`` does, on the smallest real model that
carries what ``ComputeLoss.__init__`` reads: the package's ``Detect`` head, built from the
problem's pixel anchors and put through ``DetectionModel``'s own steps (``check_anchor_order``,
then ``anchors /= stride``), inside a ``BaseModel`` with the package's ``hyp.scratch-low.yaml``
hyper-parameters and the problem's ``anchor_t``. Its 1x1 output convolutions take one input
channel: ``build_targets`` reads only the head's ``na``, ``nc``, ``nl`` and ``anchors``.

``build_targets`` hard-codes the ``yolov5`` rule (``g = 0.5``), so problems of another rule are
declared `NotApplicable`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from ..assignment import YoloV5Output
from ..problem import Problem
from ._support import missing, offline_import, require_rule

with offline_import():
    try:
        import yaml
        import yolov5
        from yolov5.models.yolo import BaseModel, Detect, Segment
        from yolov5.utils.autoanchor import check_anchor_order
        from yolov5.utils.loss import ComputeLoss
        from yolov5.utils.segment.loss import ComputeLoss as SegmentLoss
    except ImportError as error:
        raise missing("yolov5", error) from error

HYP = Path(yolov5.__file__).parent / "data" / "hyps" / "hyp.scratch-low.yaml"


def make_assigner(
    problem: Problem, device: torch.device | str
) -> Callable[[Sequence[Tensor], Tensor], YoloV5Output]:
    """Assigner factory: ``yolov5.utils.loss.ComputeLoss(model).build_targets`` on ``device``.

    Raises `NotApplicable` for a problem of another rule than ``yolov5``, the only one the
    package implements.
    """
    require_rule(problem, "yolov5", "yolov5", "ComputeLoss.build_targets hard-codes it")
    device = torch.device(device)
    loss = ComputeLoss(_model(problem).to(device))

    def yolov5_build_targets(p: Sequence[Tensor], targets: Tensor) -> YoloV5Output:
        return loss.build_targets(p, targets.to(device))

    yolov5_build_targets.loss = loss  # type: ignore[attr-defined]  # for inspection
    return yolov5_build_targets


def make_segment_assigner(
    problem: Problem, device: torch.device | str
) -> Callable[[Sequence[Tensor], Tensor], YoloV5Output]:
    """Assigner factory: the segmentation loss's ``build_targets``
    (``yolov5.utils.segment.loss.ComputeLoss(model, overlap=True)``, as ``segment/train.py``
    builds it) on ``device``, on a ``Segment`` head. It returns two more lists, each row's
    mask index and normalized xywh; the first four are YOLOv5's ``(tcls, tbox, indices,
    anch)`` and are what is returned. Rule ``yolov5``, like the detection loss."""
    require_rule(problem, "yolov5", "yolov5", "segment ComputeLoss.build_targets hard-codes it")
    device = torch.device(device)
    loss = SegmentLoss(_model(problem, Segment).to(device), overlap=True)

    def yolov5_segment_build_targets(p: Sequence[Tensor], targets: Tensor) -> YoloV5Output:
        tcls, tbox, indices, anch, _, _ = loss.build_targets(p, targets.to(device))
        return tcls, tbox, indices, anch

    yolov5_segment_build_targets.loss = loss  # type: ignore[attr-defined]  # for inspection
    return yolov5_segment_build_targets


def _model(problem: Problem, head_type: type[Detect] = Detect) -> nn.Module:
    """A ``BaseModel`` whose only layer is a ``Detect`` (or ``Segment``) head set up as
    ``DetectionModel`` does."""
    anchors = [[c for wh in level for c in wh] for level in problem.anchors]  # YAML layout
    head = head_type(nc=problem.num_classes, anchors=anchors, ch=(1,) * problem.nl)
    # DetectionModel measures the strides with a forward pass: 256 / feature height, float32.
    head.stride = torch.tensor([float(s) for s in problem.strides])
    check_anchor_order(head)
    head.anchors /= head.stride.view(-1, 1, 1)
    model = BaseModel()
    model.model = nn.Sequential(head)
    model.stride = head.stride
    model.hyp = {**yaml.safe_load(HYP.read_text()), "anchor_t": problem.anchor_t}
    return model
