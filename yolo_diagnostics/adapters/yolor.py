"""YOLOR's own ``build_targets`` as an assigner factory.

``yolor`` 0.0.6 on PyPI packages WongKinYiu/yolor as the ``yolor`` module. Install it
without its training stack, then the libraries its imports need::

    pip install --no-deps yolor==0.0.6
    pip install matplotlib scipy pyyaml tqdm

Its rule is ``yolov5-v4`` (YOLOv5 v3/v4's neighbour test: the far side on ``gxy % 1 > 1 - g``
and ``gxy < n - 1``); problems of another rule are declared `NotApplicable`.

As published, ``yolor/utils/loss.py`` imports ``ylor.utils.general`` and
``ylor.utils.torch_utils``: a module ``ylor`` that exists nowhere (the package's own module
is ``yolor``), so ``import yolor.utils.loss`` raises ``ModuleNotFoundError``. The package is
not edited: while this adapter imports it, ``ylor``, ``ylor.utils``, ``ylor.utils.general``
and ``ylor.utils.torch_utils`` are aliases of the ``yolor`` modules of those names in
``sys.modules``, removed again once the import is done (`_support.modules_aliased`).

``build_targets(p, targets, model)`` reads of the model: ``yolo_layers`` (indices into
``module_list``), each such layer's ``anchor_vec`` (anchors in grid units) and
``hyp["anchor_t"]``. `make_assigner` builds the package's own ``YOLOLayer`` per level from the
problem's pixel anchors and stride (``anchor_vec = anchors / stride``, as ``YOLOLayer``
computes it) inside the smallest module carrying those three.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..assignment import YoloV5Output
from ..problem import Problem
from ._support import missing, modules_aliased, offline_import, require_rule

_YLOR = {
    "ylor": "yolor",
    "ylor.utils": "yolor.utils",
    "ylor.utils.general": "yolor.utils.general",
    "ylor.utils.torch_utils": "yolor.utils.torch_utils",
}

with offline_import():
    try:
        with modules_aliased(_YLOR):
            from yolor.models.models import YOLOLayer
            from yolor.utils.loss import build_targets
    except ImportError as error:
        raise missing("yolor", error) from error


class _Model(nn.Module):
    """What YOLOR's ``build_targets`` reads of its ``Darknet`` model."""

    def __init__(self, layers: list[nn.Module], anchor_t: float) -> None:
        super().__init__()
        self.module_list = nn.ModuleList(layers)
        self.yolo_layers = list(range(len(layers)))
        self.hyp = {"anchor_t": anchor_t}


def make_assigner(
    problem: Problem, device: torch.device | str
) -> Callable[[Sequence[Tensor], Tensor], YoloV5Output]:
    """Assigner factory: ``yolor.utils.loss.build_targets(p, targets, model)`` on ``device``."""
    require_rule(problem, "yolov5-v4", "yolor", "build_targets hard-codes g = 0.5 and its test")
    device = torch.device(device)
    layers = []
    for index, (level, stride) in enumerate(zip(problem.anchors, problem.strides)):
        layer = YOLOLayer(
            anchors=[list(wh) for wh in level],
            nc=problem.num_classes,
            img_size=problem.img_size,
            yolo_index=index,
            layers=list(range(problem.nl)),
            stride=stride,
        )
        layer.create_grids(device=device)  # moves anchor_vec to the device, as its forward does
        layers.append(layer)
    model = _Model(layers, problem.anchor_t)

    def yolor_build_targets(p: Sequence[Tensor], targets: Tensor) -> YoloV5Output:
        return build_targets(list(p), targets.to(device), model)

    yolor_build_targets.model = model  # type: ignore[attr-defined]  # for inspection
    return yolor_build_targets
