"""Assigner factories named on the command line as ``module.path:attribute``.

A factory is ``factory(problem, device) -> build_targets`` and ``build_targets(p, targets)``
returns ``(tcls, tbox, indices, anch)`` as ultralytics/yolov5's ``ComputeLoss.build_targets``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .assignment import YoloV5Output
from .errors import DiagnosticsError
from .problem import Problem

BuildTargets = Callable[[Sequence[Tensor], Tensor], YoloV5Output]
Factory = Callable[[Problem, torch.device], BuildTargets]

DEFAULT_ASSIGNER = "yolo_diagnostics.reference:make_assigner"


def load_factory(spec: str) -> Factory:
    """Import ``module.path:attribute`` and return the callable it names.

    Raises ``ValueError`` naming the spec when it is malformed, the module does not import
    (or fails while importing), the attribute is missing or not callable.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise DiagnosticsError(f"assigner {spec!r}: expected 'module.path:factory'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise DiagnosticsError(
            f"assigner {spec!r}: cannot import {module_name!r}: {error}"
        ) from None
    except Exception as error:  # the module's own code failed (SyntaxError, a raise, ...)
        detail = " ".join(f"{type(error).__name__}: {error}".split())
        raise DiagnosticsError(
            f"assigner {spec!r}: cannot import {module_name!r}: {detail}"
        ) from None
    factory = module
    for part in attribute.split("."):
        if not hasattr(factory, part):
            raise DiagnosticsError(
                f"assigner {spec!r}: {module_name!r} has no attribute {attribute!r}"
            )
        factory = getattr(factory, part)
    if not callable(factory):
        raise DiagnosticsError(f"assigner {spec!r}: {attribute!r} is not callable")
    return factory  # type: ignore[return-value]
