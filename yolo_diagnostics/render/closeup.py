"""A close-up of the assignment: a region of the network input, enlarged, every level.

Tiny targets -- the ones most often left without a positive -- are a few pixels on a 640 px
input. The close-up crops a region aligned to the coarsest stride, so every level's grid
lines stay where they are, and draws it as a problem of its own: the panels are zoomed to at
least `MIN_PANEL_SIDE` pixels like any small input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..assignment import Assignment
from ..errors import DiagnosticsError
from ..problem import Problem
from .assignment import assignment_figure
from .inputs import targets_array


def closeup_region(
    problem: Problem, boxes: np.ndarray, margin_cells: int = 1
) -> tuple[int, int, int, int] | None:
    """The region ``(x0, y0, x1, y1)`` in network pixels around ``boxes`` (``[k, 4]``
    x0, y0, x1, y1 in network pixels), grown by ``margin_cells`` coarsest cells and aligned
    to the coarsest stride; ``None`` when there is nothing to show or it would not be closer
    than the whole input (over half of either side)."""
    if len(boxes) == 0:
        return None
    s = problem.strides[-1]
    h, w = problem.img_size
    x0 = max(0, (int(np.floor(boxes[:, 0].min())) // s - margin_cells) * s)
    y0 = max(0, (int(np.floor(boxes[:, 1].min())) // s - margin_cells) * s)
    x1 = min(w, (int(np.ceil(boxes[:, 2].max())) // s + 1 + margin_cells) * s)
    y1 = min(h, (int(np.ceil(boxes[:, 3].max())) // s + 1 + margin_cells) * s)
    if x1 - x0 > w // 2 or y1 - y0 > h // 2:
        return None
    return x0, y0, x1, y1


def closeup_figure(
    problem: Problem,
    targets: torch.Tensor | np.ndarray,
    assignment: Assignment,
    region: tuple[int, int, int, int],
    *,
    image: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    unmatched: Mapping[int, str] | None = None,
    labels: Mapping[int, str] | None = None,
) -> np.ndarray:
    """`assignment_figure` of image 0 within ``region`` (from `closeup_region`); BGR.

    ``targets`` (``[nt, 6]``, normalized to the whole input) are moved into the region
    (those reaching past it are cut at its border when drawn); rows outside it are left out.
    """
    x0, y0, x1, y1 = region
    s = problem.strides[-1]
    if min(x0, y0, x1, y1) < 0 or (x0 | y0 | x1 | y1) % s or x1 <= x0 or y1 <= y0:
        raise DiagnosticsError(
            f"region: expected a non-empty box aligned to stride {s}, got {region}"
        )
    h, w = problem.img_size
    crop = dataclasses.replace(problem, img_size=(y1 - y0, x1 - x0), batch_size=1)
    t = targets_array(targets).copy()
    t[:, 2] = (t[:, 2] * w - x0) / (x1 - x0)
    t[:, 3] = (t[:, 3] * h - y0) / (y1 - y0)
    t[:, 4] *= w / (x1 - x0)
    t[:, 5] *= h / (y1 - y0)
    stride = torch.tensor(problem.strides, device=assignment.device)[assignment.level]
    gi, gj = assignment.gi - x0 // stride, assignment.gj - y0 // stride
    ny, nx = (y1 - y0) // stride, (x1 - x0) // stride
    inside = (assignment.image == 0) & (gi >= 0) & (gi < nx) & (gj >= 0) & (gj < ny)
    rows = dataclasses.replace(assignment, gi=gi, gj=gj).select(inside)
    pixels = None if image is None else np.ascontiguousarray(image[y0:y1, x0:x1])
    return assignment_figure(
        crop,
        t,
        rows,
        image=pixels,
        class_names=class_names,
        unmatched=unmatched,
        labels=labels,
    )
