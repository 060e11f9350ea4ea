"""The YOLOv7 repository's own target builders as assigner factories.

``yolov7detect`` 1.0.1 on PyPI packages WongKinYiu/yolov7 as the ``yolov7`` module. Install
it without its training stack, then the libraries its imports need::

    pip install --no-deps yolov7detect==1.0.1
    pip install pandas matplotlib seaborn scipy pyyaml requests tqdm

Three factories, one per target builder of ``yolov7/utils/loss.py``:

- `make_assigner`: ``ComputeLoss.build_targets`` (P5 training without OTA), rule ``yolov5``;
- `make_find3`: ``ComputeLossOTA.find_3_positive``, the candidates of YOLOv7's default OTA
  loss, rule ``yolov5``;
- `make_find5`: ``ComputeLossAuxOTA.find_5_positive``, the auxiliary heads' candidates of
  the P6 models (``train_aux.py``), rule ``five-positive`` (g = 1).

Each builds its loss the way ``train.py`` does, on the smallest real model that carries what
the loss's ``__init__`` reads: the package's ``Detect`` head (``IAuxDetect`` for the
auxiliary loss) from the problem's pixel anchors, put through the package's own
``Model.__init__`` steps (``check_anchor_order``, then ``anchors /= stride``), inside a
module with ``hyp`` (the keys the losses read, valued as in YOLOv7's
``hyp.scratch.p5.yaml``, ``anchor_t`` the problem's) and ``gr = 1.0``.

``find_3_positive`` and ``find_5_positive`` return only ``(indices, anch)``. Each row's
target is recovered without re-implementing the rule: the targets are passed with their row
number in the image column, so the image index ``b`` of every output row names the target it
came from; image and class are then read from that target, and ``tbox`` is ``gxy - gij`` and
``gwh`` with ``gxy, gwh = target[2:6] * (nx, ny, nx, ny)`` in float32 and ``gij`` the
returned (clamped) cell: the very expressions of ``ComputeLoss.build_targets``.

Problems of another rule are declared `NotApplicable`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..assignment import YoloV5Output
from ..problem import Problem
from ._support import missing, offline_import, require_rule

with offline_import():
    try:
        from yolov7.models.yolo import Detect, IAuxDetect
        from yolov7.utils.autoanchor import check_anchor_order
        from yolov7.utils.loss import ComputeLoss, ComputeLossAuxOTA, ComputeLossOTA
    except ImportError as error:
        raise missing("yolov7", error) from error

# What the losses' __init__ read of YOLOv7's data/hyp.scratch.p5.yaml (not in the package).
HYP = {"cls_pw": 1.0, "obj_pw": 1.0, "fl_gamma": 0.0, "label_smoothing": 0.0}

BuildTargets = Callable[[Sequence[Tensor], Tensor], YoloV5Output]


def make_assigner(problem: Problem, device: torch.device | str) -> BuildTargets:
    """Assigner factory: ``yolov7.utils.loss.ComputeLoss(model).build_targets`` on ``device``."""
    require_rule(problem, "yolov5", "yolov7", "ComputeLoss.build_targets hard-codes g = 0.5")
    device = torch.device(device)
    loss = ComputeLoss(_model(problem, Detect).to(device))

    def yolov7_build_targets(p: Sequence[Tensor], targets: Tensor) -> YoloV5Output:
        return loss.build_targets(p, targets.to(device))

    yolov7_build_targets.loss = loss  # type: ignore[attr-defined]  # for inspection
    return yolov7_build_targets


def make_find3(problem: Problem, device: torch.device | str) -> BuildTargets:
    """Assigner factory: ``ComputeLossOTA(model).find_3_positive`` on ``device``, its rows
    completed with image, class and tbox."""
    require_rule(problem, "yolov5", "yolov7", "find_3_positive hard-codes g = 0.5")
    device = torch.device(device)
    loss = ComputeLossOTA(_model(problem, Detect).to(device))
    return _completed(loss.find_3_positive, loss, device, "yolov7_find_3_positive")


def make_find5(problem: Problem, device: torch.device | str) -> BuildTargets:
    """Assigner factory: ``ComputeLossAuxOTA(model).find_5_positive`` on ``device``, its rows
    completed with image, class and tbox."""
    require_rule(problem, "five-positive", "yolov7", "find_5_positive hard-codes g = 1.0")
    device = torch.device(device)
    loss = ComputeLossAuxOTA(_model(problem, IAuxDetect).to(device))
    return _completed(loss.find_5_positive, loss, device, "yolov7_find_5_positive")


def _completed(
    find: Callable[[Sequence[Tensor], Tensor], tuple[list, list]],
    loss: object,
    device: torch.device,
    name: str,
) -> BuildTargets:
    """``build_targets(p, targets)`` around a ``find_*_positive(p, targets)``: the targets go
    in with their row number as the image index, which comes back as ``b``."""

    def build_targets(p: Sequence[Tensor], targets: Tensor) -> YoloV5Output:
        targets = targets.to(device)
        numbered = targets.clone()
        numbered[:, 0] = torch.arange(len(targets), device=device, dtype=targets.dtype)
        indices, anch = find(p, numbered)
        tcls, tbox, out = [], [], []
        for (row, a, gj, gi), pi in zip(indices, p):
            t = targets[row]
            ny, nx = pi.shape[2], pi.shape[3]
            grid = t[:, 2:6] * torch.tensor([nx, ny, nx, ny], device=device)  # float32 gain
            gij = torch.stack((gi, gj), 1)
            tbox.append(torch.cat((grid[:, :2] - gij, grid[:, 2:]), 1))
            tcls.append(t[:, 1].long())
            out.append((t[:, 0].long(), a, gj, gi))
        return tcls, tbox, out, anch

    build_targets.__name__ = name
    build_targets.loss = loss  # type: ignore[attr-defined]  # for inspection
    return build_targets


class _Model(nn.Module):
    """What YOLOv7's losses read of a model: ``model[-1]`` (the head), ``hyp``, ``gr`` and a
    parameter to take the device from."""

    def __init__(self, head: nn.Module, hyp: dict[str, float]) -> None:
        super().__init__()
        self.model = nn.Sequential(head)
        self.hyp = hyp
        self.gr = 1.0  # train.py: iou loss ratio (obj_loss = 1.0 or iou)


def _model(problem: Problem, head_type: type[nn.Module]) -> nn.Module:
    """A head of ``head_type`` set up as ``yolov7.models.yolo.Model.__init__`` sets it up."""
    anchors = [[c for wh in level for c in wh] for level in problem.anchors]  # YAML layout
    channels = (1,) * problem.nl * (2 if head_type is IAuxDetect else 1)  # lead (+ aux) heads
    head = head_type(nc=problem.num_classes, anchors=anchors, ch=channels)
    # Model measures the strides with a forward pass: 256 / feature height, float32
    head.stride = torch.tensor([float(s) for s in problem.strides])
    check_anchor_order(head)
    head.anchors /= head.stride.view(-1, 1, 1)
    return _Model(head, {**HYP, "anchor_t": problem.anchor_t})
