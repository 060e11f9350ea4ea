"""A close-up of the assignment: a region of the network input, enlarged, every level.

Tiny targets -- the ones most often left without a positive -- are a few pixels on a 640 px
input, and so is a failing cell of a contract case. The close-up crops a region aligned to
the coarsest stride, so every level's grid lines stay where they are, and draws it as a
problem of its own: the panels are zoomed to at least `MIN_PANEL_SIDE` pixels like any small
input, so cells and their labels are drawn large at the font's own size.

- `closeup_region`: the region around some boxes, or ``None`` when it would not be closer;
- `cell_boxes`: the pixel boxes of a table's grid cells (the cells a failure names);
- `closeup_figure` / `render_closeup`: the figure of the region, with violations and a diff.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..assignment import Assignment, Diff
from ..errors import DiagnosticsError
from ..invariants import Violation
from ..problem import Problem
from .assignment import assignment_figure
from .inputs import targets_array
from .panels import encode_png


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


def cell_boxes(problem: Problem, table: Assignment) -> np.ndarray:
    """``float64[n, 4]`` (x0, y0, x1, y1) network pixels of each row's grid cell at its level;
    cells outside the grid (a bounds bug) are clamped to it, rows at no level are left out."""
    level = table.level.cpu().numpy()
    ok = (level >= 0) & (level < problem.nl)
    stride = np.asarray(problem.strides, np.float64)[level[ok]]
    h, w = problem.img_size
    gi = np.clip(table.gi.cpu().numpy()[ok], 0, w // stride - 1)
    gj = np.clip(table.gj.cpu().numpy()[ok], 0, h // stride - 1)
    return np.column_stack((gi * stride, gj * stride, (gi + 1) * stride, (gj + 1) * stride))


def render_closeup(
    problem: Problem,
    targets: torch.Tensor | np.ndarray,
    assignment: Assignment,
    region: tuple[int, int, int, int],
    **options: Any,
) -> bytes:
    """`closeup_figure` (same arguments) encoded as PNG bytes."""
    return encode_png(closeup_figure(problem, targets, assignment, region, **options))


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
    violations: Iterable[Violation] = (),
    diff: Diff | None = None,
    image_index: int = 0,
) -> np.ndarray:
    """`assignment_figure` of image ``image_index`` within ``region`` (from `closeup_region`);
    BGR.

    ``targets`` (``[nt, 6]``, normalized to the whole input) are moved into the region
    (those reaching past it are cut at its border when drawn); rows outside it are left out,
    and so are the diff's. ``violations`` index ``assignment`` as for `assignment_figure`:
    their rows are renumbered to the rows kept.
    """
    x0, y0, x1, y1 = region
    s = problem.strides[-1]
    if min(x0, y0, x1, y1) < 0 or (x0 | y0 | x1 | y1) % s or x1 <= x0 or y1 <= y0:
        raise DiagnosticsError(
            f"region: expected a non-empty box aligned to stride {s}, got {region}"
        )
    h, w = problem.img_size
    # the batch size stays: image_index names the same image in the crop
    crop = dataclasses.replace(problem, img_size=(y1 - y0, x1 - x0))
    t = targets_array(targets).copy()
    t[:, 2] = (t[:, 2] * w - x0) / (x1 - x0)
    t[:, 3] = (t[:, 3] * h - y0) / (y1 - y0)
    t[:, 4] *= w / (x1 - x0)
    t[:, 5] *= h / (y1 - y0)
    rows, inside = _into(problem, assignment, region, image_index)
    kept = torch.cumsum(inside.long(), 0) - 1  # old row -> new row, where inside
    inside_rows = inside.cpu().numpy()
    kept_rows = kept.cpu().numpy()
    moved = [
        dataclasses.replace(
            v,
            rows=tuple(
                int(kept_rows[r]) for r in v.rows if 0 <= r < len(inside_rows) and inside_rows[r]
            ),
        )
        for v in violations
    ]
    if diff is not None:
        diff = Diff(
            _into(problem, diff.missing, region, image_index)[0],
            _into(problem, diff.extra, region, image_index)[0],
        )
    pixels = None if image is None else np.ascontiguousarray(image[y0:y1, x0:x1])
    return assignment_figure(
        crop,
        t,
        rows,
        image=pixels,
        class_names=class_names,
        unmatched=unmatched,
        labels=labels,
        violations=moved,
        diff=diff,
        image_index=image_index,
    )


def _into(
    problem: Problem, table: Assignment, region: tuple[int, int, int, int], image_index: int
) -> tuple[Assignment, torch.Tensor]:
    """The rows of ``table`` on image ``image_index`` whose cell lies in ``region``, with
    gi, gj counted from the region's corner; and the mask of those rows."""
    x0, y0, x1, y1 = region
    level = table.level.clamp(0, problem.nl - 1)  # rows at no level fall outside below
    stride = torch.tensor(problem.strides, device=table.device)[level]
    gi, gj = table.gi - x0 // stride, table.gj - y0 // stride
    ny, nx = (y1 - y0) // stride, (x1 - x0) // stride
    inside = (table.image == image_index) & (gi >= 0) & (gi < nx) & (gj >= 0) & (gj < ny)
    inside &= (table.level >= 0) & (table.level < problem.nl)
    return dataclasses.replace(table, gi=gi, gj=gj).select(inside), inside
