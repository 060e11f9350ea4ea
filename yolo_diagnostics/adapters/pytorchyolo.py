"""PyTorch-YOLOv3's own ``build_targets`` as an assigner factory.

``pytorchyolo`` 1.8.0 on PyPI packages eriklindernoren/PyTorch-YOLOv3. Install it without
its pinned stack (torch < 1.13, numpy < 2, imgaug, tensorboard, ...)::

    pip install --no-deps pytorchyolo==1.8.0
    pip install tqdm

Its rule is ``centre``: the centre cell only, no neighbours (its head decodes xy as a
sigmoid, within its own cell). Problems of another rule are declared `NotApplicable`, and so
are problems with other than 3 anchors per level: ``build_targets`` hard-codes ``na = 3``
(``# TODO`` in its source) and then fails on a shape mismatch or an index out of range.

``pytorchyolo.utils.loss`` imports ``pytorchyolo.utils.utils``, which imports ``imgaug`` at
its top for ``provide_determinism``; imgaug 0.4 does not import on NumPy 2 (it reads
``np.sctypes``), and ``build_targets`` never uses it. While this adapter imports the package,
an ``imgaug`` that cannot be imported is a placeholder whose every use raises ImportError
(`_support.module_stubbed`); it is removed from ``sys.modules`` again afterwards.

``build_targets(p, targets, model)`` reads ``model.yolo_layers``, each layer's ``anchors``
(pixels) and ``stride``; `make_assigner` builds the package's own ``YOLOLayer`` per level from
the problem's pixel anchors (``Darknet`` sets ``stride`` in its forward pass as
``img_size // ny``: the problem's stride) inside the smallest module carrying them. The
wh-ratio threshold is hard-coded to 4 (``< 4  # compare #TODO``): the problem's ``anchor_t``
is not passed, because the package has nowhere to take it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..assignment import YoloV5Output
from ..errors import NotApplicable
from ..problem import Problem
from ._support import missing, module_stubbed, offline_import, require_rule

with offline_import():
    try:
        with module_stubbed("imgaug", "the pytorchyolo adapter runs build_targets only"):
            from pytorchyolo.models import YOLOLayer
            from pytorchyolo.utils.loss import build_targets
    except ImportError as error:
        raise missing("pytorchyolo", error) from error

ANCHORS_PER_LEVEL = 3  # build_targets: na = 3  # TODO


class _Model(nn.Module):
    """What PyTorch-YOLOv3's ``build_targets`` reads of its ``Darknet`` model."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.module_list = nn.ModuleList(layers)
        self.yolo_layers = layers


def make_assigner(
    problem: Problem, device: torch.device | str
) -> Callable[[Sequence[Tensor], Tensor], YoloV5Output]:
    """Assigner factory: ``pytorchyolo.utils.loss.build_targets(p, targets, model)`` on
    ``device``."""
    require_rule(problem, "centre", "pytorchyolo", "build_targets takes the centre cell only")
    if problem.na != ANCHORS_PER_LEVEL:
        raise NotApplicable(
            f"{problem.na} anchors per level: pytorchyolo's build_targets hard-codes "
            f"{ANCHORS_PER_LEVEL} (na = 3  # TODO)"
        )
    device = torch.device(device)
    layers = []
    for level, stride in zip(problem.anchors, problem.strides):
        layer = YOLOLayer([tuple(wh) for wh in level], problem.num_classes, new_coords=False)
        layer.stride = stride  # Darknet.forward: img_size // x.size(2)
        layers.append(layer)
    model = _Model(layers).to(device)

    def pytorchyolo_build_targets(p: Sequence[Tensor], targets: Tensor) -> YoloV5Output:
        return build_targets(list(p), targets.to(device), model)

    pytorchyolo_build_targets.model = model  # type: ignore[attr-defined]  # for inspection
    return pytorchyolo_build_targets
