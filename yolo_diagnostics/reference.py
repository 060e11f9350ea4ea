"""The reference anchor-target assignment, with provenance.

``semantics="yolov5"`` reproduces ``ComputeLoss.build_targets`` of ultralytics/yolov5 bit for
bit (as a multiset of rows, and in fact in the same row order), quirks included:

- the x + 1 / y + 1 test is made on ``gxi = [nx, ny] - gxy`` in the targets' dtype, so it
  fires at integer grid coordinates, where ``(gxy + g).long()`` is the centre cell again: a
  duplicate row with tbox offset 0;
- the x - 1 / y - 1 test requires ``gxy > 1``, so at ``gx == 1`` the valid cell 0 is not used;
- ``(gxy - offsets).long()`` truncates toward zero, and the indices are clamped in place, so
  tbox is computed from the clamped cell.

``semantics="strict"`` is the rule those lines mean to implement, without the quirks. With
``c = clamp(floor(gxy), 0, n - 1)`` and ``u = gxy - c`` (in ``[0, 1]``, 1 only at x = 1):

- left (x - 1) when ``u < g`` and ``c >= 1`` -- so gx == 1 does use cell 0;
- right (x + 1) when ``u > 1 - g`` and ``c <= n - 2`` -- an exact test on ``u``, so integer
  coordinates give no duplicate and the float rounding of ``n - gx`` plays no part;
- likewise up/down in y. tbox is ``gxy - cell`` as in YOLOv5, so rows both produce are equal.

The neighbour rule comes from the problem (`rules`): ``yolov5`` (g = 0.5, the tests above),
``yolov5-v4`` (g = 0.5, the x + 1 test made on ``gx % 1 > 1 - g`` and ``gx < nx - 1``, as
YOLOR: no duplicate at integer coordinates; the gx == 1 and x = 1 quirks stay),
``five-positive`` (g = 1, YOLOv7's ``find_5_positive``) or ``centre`` (g = 0, no neighbours,
PyTorch-YOLOv3). Under ``strict`` every rule is the exact test on ``u`` with its ``g``.

Host synchronization (CUDA), per call; the code is the same on every device:

- ``validate_targets``: one transfer of 13 per-column extremes, before any level. It stays:
  refusing bad targets with a message naming them needs their values on the host.
- one ``nonzero`` per level: the number of rows of a level is data-dependent. YOLOv5 has it
  too (``t[j]``), plus two more boolean indexings per level (``t.repeat((5, 1, 1))[j]`` and
  the offsets' ``[j]``) and a host-to-device copy of ``torch.tensor(shape)``.
- nothing else: no ``.item()``, ``.cpu()`` or ``.tolist()``; the small per-problem tensors
  (gains, clamps, anchors, offsets) are made once per (problem, grid, device) and cached.
  ``tests/test_reference.py`` counts them with ``torch.cuda.set_sync_debug_mode``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from .assignment import Assignment, YoloV5Output
from .errors import DiagnosticsError
from .problem import Problem
from .rules import published_tests, strict_tests
from .validate import validate_targets

Semantics = Literal["yolov5", "strict"]
SEMANTICS: tuple[str, ...] = ("yolov5", "strict")

# YOLOv5's neighbour offsets (centre, left, up, right, down), scaled by g; gij = gxy - off.
_OFF = ((0, 0), (1, 0), (0, 1), (-1, 0), (0, -1))


def assign(
    problem: Problem,
    targets: Tensor,
    *,
    semantics: Semantics = "yolov5",
    feature_shapes: Sequence[tuple[int, int]] | None = None,
) -> Assignment:
    """Assign targets ``Tensor[nt, 6]`` (image, class, x, y, w, h) to cells, levels and anchors.

    Runs on ``targets.device``. Float columns are computed in
    ``promote_types(targets.dtype, float32)``, as YOLOv5 does. ``feature_shapes`` (per level
    ``(ny, nx)``) defaults to the problem's. Rows come level by level, in YOLOv5's order.
    Raises ``ValueError`` on invalid targets.
    """
    if semantics not in SEMANTICS:
        raise DiagnosticsError(f"semantics: expected one of {SEMANTICS}, got {semantics!r}")
    validate_targets(problem, targets)
    shapes = problem.feature_shapes if feature_shapes is None else tuple(feature_shapes)
    return _assign(problem, targets, semantics, shapes)


class _Constants(NamedTuple):
    """A problem's small tensors on one device, made once: YOLOv5 makes them per call."""

    gain: Tensor  # [nl, 4] float32 (nx, ny, nx, ny)
    last: Tensor  # [nl, 2] int64 (nx - 1, ny - 1): the clamp
    anchors: Tensor  # [nl, na, 2] float32, grid units
    off: Tensor  # [5, 2] float32, _OFF * g
    step: Tensor  # [5, 2] int64, _OFF


@functools.lru_cache(maxsize=64)
def _constants(problem: Problem, shapes: tuple[tuple[int, int], ...], device: str) -> _Constants:
    size = torch.tensor([(nx, ny) for ny, nx in shapes], device=device)
    step = torch.tensor(_OFF, device=device)
    return _Constants(
        gain=size.repeat(1, 2).float(),
        last=size - 1,
        anchors=problem.anchors_grid(device),
        off=step.float() * problem.g,
        step=step,
    )


class Plan(NamedTuple):
    """What every level's rows are made from: the ratio filter and neighbour tests of all
    levels at once."""

    const: _Constants
    txywh: Tensor  # [nl, nt, 4], YOLOv5's `targets * gain`
    gxy: Tensor  # [2, nl, nt], its x; y, axis-major
    keep: Tensor  # [nl, na, nt] bool, the ratio filter
    take: Tensor  # [nl, 5, nt] bool, per offset kind (centre, left, up, right, down)
    tests: tuple[Tensor, Tensor]  # its semantics' (lo, hi) neighbour tests, [2, nl, nt] bool
    centre: Tensor | None  # [nl, nt, 2] int64 clamped centre cells (strict only)

    def rows(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        """Level ``i``'s rows in YOLOv5's order: ``Tensor[n]`` each of offset kind, anchor
        and target (the ``nonzero`` of one ``[5, na, nt]`` mask)."""
        kind, a, t = (self.keep[i, None] & self.take[i, :, None]).nonzero(as_tuple=True)
        return kind, a, t


def _plan(
    problem: Problem, targets: Tensor, semantics: str, shapes: tuple[tuple[int, int], ...]
) -> Plan:
    """The ratio filter and the neighbour tests, for every level at once."""
    const = _constants(problem, shapes, str(targets.device))
    g = problem.g
    txywh = targets[None, :, 2:6] * const.gain[:, None]  # [nl, nt, 4], YOLOv5's `targets * gain`
    # YOLOv5's wh ratio [nl, na, nt, 2] and its max(r, 1 / r).max(2)[0], one [nl, na, nt]
    # plane per column: the same values, without a reduction over a dim of 2
    anchors = const.anchors[..., None]  # [nl, na, 2, 1]
    rw = txywh[:, None, :, 2] / anchors[:, :, 0]
    rh = txywh[:, None, :, 3] / anchors[:, :, 1]
    keep = torch.maximum(torch.maximum(rw, 1 / rw), torch.maximum(rh, 1 / rh)) < problem.anchor_t
    del rw, rh
    # contiguous: elementwise ops on a strided view are far slower
    gxy = txywh[..., :2].permute(2, 0, 1).contiguous()
    centre = None
    if semantics == "yolov5":  # n: float32 (nx; ny)
        lo, hi = published_tests(problem.rule, g, gxy, const.gain[:, :2].T[..., None])
    else:
        last = const.last.T[..., None]  # [2, nl, 1]
        cells = torch.minimum(gxy.floor().long(), last)
        lo, hi = strict_tests(g, gxy - cells, cells, last)
        centre = cells.permute(1, 2, 0).contiguous()  # row by row in `_levels`
    take = torch.stack((torch.ones_like(lo[0]), lo[0], lo[1], hi[0], hi[1]), 1)
    return Plan(const, txywh, gxy, keep, take, (lo, hi), centre)


def _assign(
    problem: Problem, targets: Tensor, semantics: str, shapes: tuple[tuple[int, int], ...]
) -> Assignment:
    """All levels' rows, level by level, with their provenance."""
    levels = list(_levels(problem, targets, semantics, shapes))
    return Assignment(
        **{name: torch.cat([rows[name] for rows in levels]) for name in levels[0]},
        num_levels=len(shapes),
    )


class Known(NamedTuple):
    """Where each row of an output that is the reference's own came from."""

    target: Tensor  # [n] int64, the row's target
    kind: Tensor  # [n] int64, its offset kind (centre, left, up, right, down)
    plan: Plan  # the ratio filter and neighbour tests the rows were made from


def known_targets_of(problem: Problem, targets: Tensor, table: Assignment) -> Known | None:
    """Each row's target and offset kind, when ``table`` is row for row `assign`'s
    yolov5-semantics assignment of ``targets`` (already valid) on the problem's own grids;
    else None.

    Compared column by column without making the rows: every level's (level, offset kind,
    anchor, target) at once, the ``nonzero`` of one ``[nl, 5, na, nt]`` mask in YOLOv5's
    order; each expected column is one 1-D gather and YOLOv5's float expression on it (the
    values `_levels` makes, elementwise), and the first difference stops the comparison.
    """
    plan = _plan(problem, targets, "yolov5", problem.feature_shapes)
    const, txywh = plan.const, plan.txywh
    ints = (table.level, table.image, table.anchor, table.gj, table.gi, table.cls)
    if table.tbox.dtype != txywh.dtype or table.anch.dtype != const.anchors.dtype:
        return None
    if any(column.dtype != torch.int64 for column in ints):
        return None
    level, kind, a, t = (plan.keep[:, None] & plan.take[:, :, None]).nonzero().unbind(1)
    if len(t) != len(table) or not (
        torch.equal(table.level, level) and torch.equal(table.anchor, a)
    ):
        return None
    # the table's own level and anchor columns from here: contiguous, unlike nonzero's
    level, a, t = table.level, table.anchor, t.contiguous()
    if not (
        torch.equal(table.image, targets[:, 0].long().index_select(0, t))
        and torch.equal(table.cls, targets[:, 1].long().index_select(0, t))
    ):
        return None
    columns = txywh.permute(2, 0, 1).reshape(4, -1)  # [4, nl * nt]: x, y, w, h
    at = torch.add(t, level, alpha=len(targets))
    ends = torch.bincount(level, minlength=len(problem.feature_shapes)).cumsum(0).tolist()
    for k, column in ((0, table.gi), (1, table.gj)):  # gij and tbox_xy, axis by axis
        gxy = columns[k].index_select(0, at)
        cell = (gxy - const.off[:, k].index_select(0, kind)).long().clamp_(min=0)  # as `_levels`
        for (ny, nx), start, stop in zip(problem.feature_shapes, [0, *ends], ends):
            cell[start:stop].clamp_(max=(nx, ny)[k] - 1)  # each level's clamp: no new buffer
        if not (torch.equal(column, cell) and torch.equal(table.tbox[:, k], gxy.sub_(cell))):
            return None
    for k in (2, 3):
        if not torch.equal(table.tbox[:, k], columns[k].index_select(0, at)):
            return None
    # anch: anchors[level, a], both float32 columns at once as one int64 (positive finite
    # anchors: equal bits are equal values)
    anchors = const.anchors.view(torch.int64).flatten()  # [nl * na]
    expected = anchors.index_select(0, torch.add(a, level, alpha=problem.na, out=at))
    if not torch.equal(table.anch.contiguous().view(torch.int64).flatten(), expected):
        return None
    return Known(t, kind, plan)


def _levels(
    problem: Problem, targets: Tensor, semantics: str, shapes: tuple[tuple[int, int], ...]
) -> Iterator[dict[str, Tensor]]:
    """Per level, the `Assignment` columns of its rows, in YOLOv5's order.

    The ratio filter and the neighbour tests are computed for every level at once; then per
    level one ``[5, na, nt]`` mask of (offset kind, anchor, target), whose ``nonzero`` lists
    the rows in YOLOv5's order (offset kind, then anchor, then target) with their
    provenance. Going level by level keeps one level's temporaries alive at a time, as
    YOLOv5 does. YOLOv5's float expressions are evaluated on the same operands, so the
    values are bit for bit its own.
    """
    plan = _plan(problem, targets, semantics, shapes)
    const, txywh, centre = plan.const, plan.txywh, plan.centre
    ids = targets[:, :2].long()
    for i in range(len(shapes)):
        kind, a, t = plan.rows(i)
        tbox = txywh[i].index_select(0, t)  # gxy, gwh; gxy becomes gxy - gij below
        gxy = tbox[:, :2]
        if semantics == "yolov5":
            gij = (gxy - const.off.index_select(0, kind)).long()  # truncates toward 0, as YOLOv5
        else:
            assert centre is not None
            gij = centre[i].index_select(0, t) - const.step.index_select(0, kind)
        # clamped before tbox is computed from it, as YOLOv5's in-place clamp_
        gij = torch.minimum(gij.clamp_(min=0), const.last[i])
        gxy -= gij
        b_c = ids.index_select(0, t)
        yield {
            "level": torch.full_like(a, i),
            "image": b_c[:, 0],
            "anchor": a.clone(),  # not a view: the nonzero table is freed
            "gj": gij[:, 1],
            "gi": gij[:, 0],
            "cls": b_c[:, 1],
            "tbox": tbox,
            "anch": const.anchors[i].index_select(0, a),
            "target": t,
            "offset": kind,
        }


def build_targets(
    problem: Problem, p: Sequence[Tensor], targets: Tensor, *, semantics: Semantics = "yolov5"
) -> YoloV5Output:
    """``ComputeLoss.build_targets(p, targets)``: ``p`` per level ``(B, na, ny, nx, no)``.

    Only ``p[i].shape`` is read. Returns ``(tcls, tbox, indices, anch)``; no provenance is
    kept, so the memory is YOLOv5's own outputs' and one level's temporaries.
    """
    _check_feature_maps(problem, p)
    shapes = tuple((int(pi.shape[2]), int(pi.shape[3])) for pi in p)
    if semantics not in SEMANTICS:
        raise DiagnosticsError(f"semantics: expected one of {SEMANTICS}, got {semantics!r}")
    validate_targets(problem, targets)
    tcls, tbox, indices, anch = [], [], [], []
    for rows in _levels(problem, targets, semantics, shapes):
        tcls.append(rows["cls"])
        tbox.append(rows["tbox"])
        indices.append((rows["image"], rows["anchor"], rows["gj"], rows["gi"]))
        anch.append(rows["anch"])
        del rows
    return tcls, tbox, indices, anch


def make_assigner(
    problem: Problem, device: torch.device | str, *, semantics: Semantics = "yolov5"
) -> Callable[[Sequence[Tensor], Tensor], YoloV5Output]:
    """Assigner factory: ``build_targets(p, targets)`` on ``device`` with YOLOv5 semantics."""
    device = torch.device(device)

    def reference_build_targets(p: Sequence[Tensor], targets: Tensor) -> YoloV5Output:
        return build_targets(problem, p, targets.to(device), semantics=semantics)

    return reference_build_targets


def make_strict_assigner(
    problem: Problem, device: torch.device | str
) -> Callable[[Sequence[Tensor], Tensor], YoloV5Output]:
    """Assigner factory for the strict semantics (no duplicates, gx == 1 uses cell 0)."""
    return make_assigner(problem, device, semantics="strict")


def _check_feature_maps(problem: Problem, p: Sequence[Tensor]) -> None:
    if len(p) != problem.nl:
        raise DiagnosticsError(f"p: expected {problem.nl} levels, got {len(p)}")
    for i, (pi, (ny, nx)) in enumerate(zip(p, problem.feature_shapes)):
        if pi.dim() != 5 or pi.shape[1] != problem.na:
            raise DiagnosticsError(
                f"p[{i}]: expected shape (B, {problem.na}, ny, nx, no), got {list(pi.shape)}"
            )
        if (pi.shape[2], pi.shape[3]) != (ny, nx):
            raise DiagnosticsError(
                f"p[{i}]: grid {tuple(pi.shape[2:4])} does not match the problem's "
                f"(ny, nx) = {(ny, nx)} at stride {problem.strides[i]}"
            )
