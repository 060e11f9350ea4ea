"""The ``ultralytics`` package's own ``TaskAlignedAssigner`` as a TAL assigner factory.

ultralytics 8.4.190 (YOLOv8, YOLO11, YOLO26 training). Install it without its training,
export and cloud stacks, then the libraries ``import ultralytics.utils.tal`` needs::

    pip install --no-deps ultralytics==8.4.190
    pip install numpy opencv-python-headless pillow pyyaml

(found by importing it in a bare environment; torch is this project's own dependency).
It is imported inside `offline_import`: its settings file goes to this project's cache
folder instead of ``~/.config/Ultralytics``, and it makes no DNS look-ups.

`make_assigner` builds the assigner as ``v8DetectionLoss.__init__`` does --
``TaskAlignedAssigner(topk, num_classes, alpha, beta, stride=model.stride.tolist(), topk2)``,
the strides as floats -- plus the problem's ``eps``. 8.4.190 always applies the small-box
floor with threshold ``stride[1]``, so problems that switch it off (``ultralytics-8.3``) or
move its threshold (``ultralytics-pre25912``) are refused: that code is not installed.
ultralytics is AGPL-3.0; this module only imports it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import NotApplicable
from ..tal.assignment import TalOutput
from ..tal.problem import TalProblem
from ._support import missing, offline_import

with offline_import():
    try:
        import ultralytics
        from ultralytics.utils.tal import TaskAlignedAssigner
    except ImportError as error:
        raise missing("ultralytics", error) from error

VERSION = "8.4.190"
"""The release whose assigner the reference reproduces bit for bit."""


def make_assigner(problem: TalProblem, device: torch.device | str) -> Callable[..., TalOutput]:
    """Assigner factory: ``ultralytics.utils.tal.TaskAlignedAssigner.forward`` on ``device``.

    Declares a problem whose floor 8.4.190 does not implement `NotApplicable`.
    """
    if not problem.stal or problem.stal_threshold is not None:
        raise NotApplicable(
            f"TalProblem.stal={problem.stal}, stal_threshold={problem.stal_threshold}: "
            f"ultralytics {ultralytics.__version__} always floors sides below stride[1] "
            "(select_candidates_in_gts); only stal=True, stal_threshold=None matches it"
        )
    device = torch.device(device)
    assigner = TaskAlignedAssigner(
        topk=problem.topk,
        num_classes=problem.num_classes,
        alpha=problem.alpha,
        beta=problem.beta,
        stride=[float(s) for s in problem.strides],
        eps=problem.eps,
        topk2=problem.topk2,
    ).to(device)

    def ultralytics_assign(*inputs: Tensor) -> TalOutput:
        return assigner(*(t.to(device) for t in inputs))

    ultralytics_assign.assigner = assigner  # type: ignore[attr-defined]  # for inspection
    return ultralytics_assign
