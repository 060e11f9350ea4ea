"""The assignment figure: `assignment_figure` (`render_assignment` as PNG), one panel per
pyramid level (or level x anchor).

Each panel is drawn by `levels.draw_level` with the GT boxes of `targets` on top; the
panels tile with a `legend` strip below. `layout_size` gives the figure's size in advance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..assignment import Assignment, Diff
from ..errors import DiagnosticsError
from ..invariants import Violation
from ..problem import Problem
from .inputs import background, check_image_index, check_problem, targets_array
from .legend import legend_entries, legend_strip, wrap_legend
from .levels import MAX_LABELS, Table, draw_level
from .panels import encode_png, patterns, tile_panels, with_title, zoom, zoomed
from .style import LEGEND_ROW_H, PAD, TITLE_H
from .targets import draw_targets, left_out


def render_assignment(
    problem: Problem, targets: torch.Tensor | np.ndarray, assignment: Assignment, **options: Any
) -> bytes:
    """`assignment_figure` (same arguments) encoded as PNG bytes."""
    return encode_png(assignment_figure(problem, targets, assignment, **options))


def assignment_figure(
    problem: Problem,
    targets: torch.Tensor | np.ndarray,
    assignment: Assignment,
    *,
    image: np.ndarray | None = None,
    violations: Iterable[Violation] = (),
    diff: Diff | None = None,
    image_index: int = 0,
    per_anchor: bool = False,
    class_names: Sequence[str] | None = None,
    unmatched: Mapping[int, str] | None = None,
    labels: Mapping[int, str] | None = None,
) -> np.ndarray:
    """The anchor assignment of one image, one panel per level; ``uint8[h, w, 3]`` BGR.

    Each panel (``H x W``, at network resolution) shows the level's grid, the GT boxes, the
    assigned cells and the anchor box at each of them:

    - centre cell (the cell holding the target centre): green solid fill and outline;
      neighbour cell: amber hatch and dashed outline. Provenance comes from
      ``assignment.offset``; where it is unknown (-1) the cell holding ``gij + tbox_xy``
      (clamped to the grid) is the centre, any other cell a neighbour.
    - anchor box: light blue, ``anch * stride`` pixels, centred on the **cell centre**
      ``((gi + 0.5) * stride, (gj + 0.5) * stride)``: the centre of the head's reach
      ``(-0.5, 1.5)`` for the offset, i.e. where an untrained head (sigmoid 0.5) decodes it.
      One box per distinct (cell, anchor size).
    - red (fill, 2 px outline and the check ids): rows listed in ``violations[i].rows``
      (indices into ``assignment``), rows whose cell is outside the grid (drawn clamped to
      the border, labelled ``bounds``) and rows with non-finite tbox or anch (labelled
      ``nan``; their anchor is not drawn). Targets in ``violations[i].targets`` get a red
      label under their box.
    - with ``diff`` (expected vs this assignment): ``diff.extra`` rows magenta cross-hatch and
      "+", ``diff.missing`` rows cyan dashed outline and "-".
    - targets in ``unmatched`` (row -> reason; no positive at any level): dashed yellow and
      black, labelled with the reason.

    Args:
        problem: sizes, strides and anchors.
        targets: ``[nt, 6]`` (image, class, x, y, w, h), xywh normalized to the network input.
        assignment: the canonical table of ``n`` rows to draw.
        image: ``uint8[H, W, 3]`` BGR background at network resolution; grey when ``None``.
        violations: findings whose rows and targets are drawn in red.
        diff: a `Diff` of expected vs ``assignment``.
        image_index: only rows and targets of this image are drawn.
        per_anchor: one panel per (level, anchor) instead of per level.
        class_names: label of class ``c`` is ``class_names[c]`` when given, else ``c``.
        unmatched: target rows without a positive, and why.
        labels: text drawn on a target row instead of its class name (and reason).

    Returns:
        Panels of ``(TITLE_H + H) x W`` tiled in ``columns`` columns (2, or ``na`` with
        ``per_anchor``) with `PAD` pixels around and between them, then a legend strip of
        ``rows * LEGEND_ROW_H + PAD`` pixels (see `layout_size`).
    """
    check_problem(problem)
    t = targets_array(targets)
    if not isinstance(assignment, Assignment):
        raise DiagnosticsError(
            f"assignment: expected an Assignment, got {type(assignment).__name__}"
        )
    if diff is not None and not isinstance(diff, Diff):
        raise DiagnosticsError(f"diff: expected a Diff or None, got {type(diff).__name__}")
    scale = zoom(problem)
    base = zoomed(background(problem, image), scale)
    check_image_index(problem, image_index)
    violations = tuple(violations)
    for k, v in enumerate(violations):
        if not isinstance(v, Violation):
            raise DiagnosticsError(f"violations[{k}]: expected a Violation, got {type(v).__name__}")

    table = Table.of(assignment)
    red, notes = _red_rows(table, violations)
    target_checks = _target_checks(violations)
    extra = Table.of(diff.extra) if diff is not None else Table.empty()
    missing = Table.of(diff.missing) if diff is not None else Table.empty()
    mine = _offending_first(
        problem,
        t,
        np.flatnonzero(t[:, 0] == image_index),
        image_index,
        target_checks,
        unmatched or {},
        (extra, missing),
    )
    panel_patterns = patterns(*base.shape[:2])

    bad_level = int(((table.level < 0) | (table.level >= problem.nl)).sum())
    if bad_level:
        notes.append(f"rows at a level outside [0, {problem.nl}), not drawn: {bad_level}")
    anchors: list[int | None] = list(range(problem.na)) if per_anchor else [None]
    if per_anchor:
        bad_anchor = int(((table.anchor < 0) | (table.anchor >= problem.na)).sum())
        if bad_anchor:
            notes.append(f"rows with an anchor outside [0, {problem.na}), not drawn: {bad_anchor}")

    panels = []
    for level in range(problem.nl):
        for a in anchors:
            keep = (table.image == image_index) & (table.level == level)
            keep_extra = (extra.image == image_index) & (extra.level == level)
            keep_missing = (missing.image == image_index) & (missing.level == level)
            if a is not None:
                keep &= table.anchor == a
                keep_extra &= extra.anchor == a
                keep_missing &= missing.anchor == a
            panel = base.copy()
            lines = draw_level(
                panel,
                problem,
                level,
                a,
                table[np.flatnonzero(keep)],
                red,
                extra[np.flatnonzero(keep_extra)] if diff is not None else None,
                missing[np.flatnonzero(keep_missing)] if diff is not None else None,
                panel_patterns,
                scale,
            )
            stride_px = problem.strides[level] * scale
            drawn = draw_targets(
                panel,
                t,
                mine,
                target_checks,
                class_names,
                stride_px,
                unmatched,
                labels,
                most=MAX_OVERLAY_TARGETS,
                most_labels=MAX_LABELS,
            )
            if lines and drawn < len(mine):
                lines = [*lines[:-1], lines[-1] + left_out(drawn, len(mine))]
            panels.append(with_title(panel, lines))
    columns = problem.na if per_anchor else 2
    grid = tile_panels(panels, columns=columns)
    lost = unmatched is not None and any(k in unmatched for k in mine.tolist())
    legend = legend_strip(
        grid.shape[1], with_diff=diff is not None, with_unmatched=lost, notes=notes
    )
    return np.vstack((grid, legend))


def layout_size(
    problem: Problem,
    *,
    per_anchor: bool = False,
    with_diff: bool = False,
    with_unmatched: bool = False,
) -> tuple[int, int]:
    """``(height, width)`` of the image `render_assignment` draws for ``problem``.

    A render whose legend carries a note (rows it could not place: a level or anchor out of
    range, violation rows outside the table) may be taller by legend rows.
    """
    h, w = (side * zoom(problem) for side in problem.img_size)
    n = problem.nl * (problem.na if per_anchor else 1)
    cols = min(problem.na if per_anchor else 2, n)
    rows = math.ceil(n / cols)
    width = cols * w + (cols + 1) * PAD
    height = rows * (TITLE_H + h) + (rows + 1) * PAD
    legend_rows = len(wrap_legend(width, legend_entries(with_diff, with_unmatched)))
    return height + legend_rows * LEGEND_ROW_H + PAD, width


# ----------------------------------------------------------------------------- violations
def _red_rows(
    table: Table, violations: Sequence[Violation]
) -> tuple[dict[int, set[str]], list[str]]:
    """Row index -> check ids that name it; and notes about rows that are not in the table."""
    red: dict[int, set[str]] = {}
    outside = 0
    for v in violations:
        for r in v.rows:
            if 0 <= r < len(table):
                red.setdefault(int(r), set()).add(v.check)
            else:
                outside += 1
    notes = [f"violation rows outside the table, not drawn: {outside}"] if outside else []
    return red, notes


MAX_OVERLAY_TARGETS = 300  # GT boxes per panel, the offending first; the title says the rest
_NEAREST = 200  # differing rows per side whose nearest target is moved to the front


def _offending_first(
    problem: Problem,
    t: np.ndarray,
    mine: np.ndarray,
    image_index: int,
    target_checks: Mapping[int, set[str]],
    unmatched: Mapping[int, str],
    differing: tuple[Table, Table],
) -> np.ndarray:
    """``mine`` (target rows of the image) with the offending ones first, so the GT cap
    (`MAX_OVERLAY_TARGETS`) keeps them: those a violation names, the unmatched ones, and the nearest
    to the centre (``gij + tbox_xy``) of each differing row; the rest after, in order."""
    first = np.isin(mine, np.fromiter({*target_checks, *unmatched}, np.int64))
    if len(mine) > MAX_OVERLAY_TARGETS:  # below the cap every box is drawn anyway
        h, w = problem.img_size
        centres = t[mine, 2:4] * (w, h)  # [m, 2] pixels
        strides = np.array(problem.strides, dtype=np.float64)
        for part in differing:
            rows = part[np.flatnonzero(part.image == image_index)[:_NEAREST]]
            level = rows.level.clip(0, problem.nl - 1)
            xy = (np.stack((rows.gi, rows.gj), 1) + rows.tbox[:, :2]) * strides[level, None]
            xy = xy[np.isfinite(xy).all(1)]
            if len(xy):
                nearest = ((xy[:, None] - centres[None]) ** 2).sum(-1).argmin(1)  # [r]
                first[nearest] = True
    return np.concatenate((mine[first], mine[~first]))


def _target_checks(violations: Sequence[Violation]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for v in violations:
        for t in v.targets:
            out.setdefault(int(t), set()).add(v.check)
    return out
