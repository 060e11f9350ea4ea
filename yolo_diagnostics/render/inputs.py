"""What both figures accept, checked and converted: the problem, targets, image and index.

A wrong argument raises ValueError naming it and what was expected, before anything is
drawn.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import DiagnosticsError
from ..problem import Problem
from .style import BACKGROUND


def check_problem(problem: object) -> None:
    if not isinstance(problem, Problem):
        raise DiagnosticsError(f"problem: expected a Problem, got {type(problem).__name__}")


def check_image_index(problem: Problem, image_index: object) -> None:
    if isinstance(image_index, bool) or not isinstance(image_index, (int, np.integer)):
        raise DiagnosticsError(f"image_index: expected an int, got {type(image_index).__name__}")
    if not 0 <= image_index < problem.batch_size:
        raise DiagnosticsError(
            f"image_index: must be in [0, {problem.batch_size}) (the problem's batch_size), "
            f"got {image_index}"
        )


def targets_array(targets: object) -> np.ndarray:
    """Targets as ``float64[nt, 6]``; non-finite rows are kept and skipped when drawing."""
    if isinstance(targets, torch.Tensor):
        t = targets.detach().cpu().to(torch.float64).numpy()
    elif isinstance(targets, np.ndarray):
        t = targets.astype(np.float64)
    else:
        raise DiagnosticsError(f"targets: expected a Tensor [nt, 6], got {type(targets).__name__}")
    if t.ndim != 2 or t.shape[1] != 6:
        raise DiagnosticsError(
            f"targets: expected shape [nt, 6] (image, class, x, y, w, h), got {list(t.shape)}"
        )
    return t


def background(problem: Problem, image: np.ndarray | None) -> np.ndarray:
    """A panel's ``uint8[H, W, 3]`` base: ``image`` (checked), or `BACKGROUND` grey."""
    h, w = problem.img_size
    if image is None:
        out = np.empty((h, w, 3), np.uint8)
        out[:] = BACKGROUND
        return out
    if not isinstance(image, np.ndarray):
        raise DiagnosticsError(f"image: expected a numpy array uint8[H, W, 3], got {type(image)}")
    if image.dtype != np.uint8 or image.shape != (h, w, 3):
        raise DiagnosticsError(
            f"image: expected uint8[{h}, {w}, 3] (BGR at the network input size), "
            f"got {image.dtype}{list(image.shape)}"
        )
    return np.ascontiguousarray(image)
