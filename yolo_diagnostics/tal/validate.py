"""Validation of the assigner's inputs: one error naming the first offending image, row and field.

ultralytics' ``TaskAlignedAssigner`` trusts its inputs: a NaN score or box propagates into
the metric and silently loses or wins anchors, a label >= nc indexes out of range deep inside
``scatter_``, a mask of 2 counts a row twice. A diagnostics suite refuses them first. The
fast path is a handful of reductions and one transfer to the host; only when it fails are
the values searched for the first offender (images, then rows, then fields, in order).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import DiagnosticsError
from .problem import TalProblem

BOX_FIELDS = ("x1", "y1", "x2", "y2")
INPUTS = ("pd_scores", "pd_bboxes", "anc_points", "gt_labels", "gt_bboxes", "mask_gt")


def validate_inputs(
    problem: TalProblem,
    pd_scores: object,
    pd_bboxes: object,
    anc_points: object,
    gt_labels: object,
    gt_bboxes: object,
    mask_gt: object,
) -> None:
    """Check the six inputs of ``TaskAlignedAssigner.forward`` against ``problem``.

    Shapes: ``pd_scores`` ``[b, na, nc]`` in [0, 1]; ``pd_bboxes`` ``[b, na, 4]`` xyxy pixels
    with ``x2 >= x1``, ``y2 >= y1``; ``anc_points`` ``[na, 2]`` equal to
    ``problem.anchor_points()``; ``gt_labels`` ``[b, n, 1]`` integer ids in ``[0, nc)``;
    ``gt_bboxes`` ``[b, n, 4]`` finite, ``x2 >= x1`` and ``y2 >= y1`` on valid rows;
    ``mask_gt`` ``[b, n, 1]`` of 0 and 1. ``b = problem.batch_size``, ``na =
    problem.num_anchors``, ``nc = problem.num_classes``; every input on one device. Padding
    rows (mask 0) must be finite and carry a valid label (the assigner gathers row 0's).
    Raises `DiagnosticsError`.
    """
    tensors = dict(zip(INPUTS, (pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt)))
    for name, value in tensors.items():
        _check_tensor(name, value)
    ts: dict[str, Tensor] = tensors  # type: ignore[assignment]
    _check_shapes(problem, ts)
    _check_dtypes(ts)
    devices = {name: t.device for name, t in ts.items()}
    if len(set(devices.values())) > 1:
        where = ", ".join(f"{name} on {device}" for name, device in devices.items())
        raise DiagnosticsError(f"inputs: expected one device, got {where}")
    if not _in_range(problem, ts):
        _find_first(problem, ts)


def _check_tensor(name: str, value: object) -> None:
    if not isinstance(value, Tensor):
        raise DiagnosticsError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if value.layout != torch.strided or value.is_meta:
        where = "on the meta device" if value.is_meta else f"with layout {value.layout}"
        raise DiagnosticsError(f"{name}: expected a dense tensor holding values, got one {where}")


def _check_shapes(problem: TalProblem, ts: dict[str, Tensor]) -> None:
    b, na, nc = problem.batch_size, problem.num_anchors, problem.num_classes
    n = ts["gt_bboxes"].shape[1] if ts["gt_bboxes"].dim() == 3 else None
    expected = {
        "pd_scores": ((b, na, nc), "(b, na, nc)"),
        "pd_bboxes": ((b, na, 4), "(b, na, 4)"),
        "anc_points": ((na, 2), "(na, 2)"),
        "gt_bboxes": ((b, n, 4), "(b, n, 4)"),
        "gt_labels": ((b, n, 1), "(b, n, 1)"),
        "mask_gt": ((b, n, 1), "(b, n, 1)"),
    }
    for name in INPUTS:
        shape, meaning = expected[name]
        if tuple(ts[name].shape) != shape:
            raise DiagnosticsError(
                f"{name}: expected shape {meaning} = {list(shape)} (batch_size {b}, "
                f"{na} anchor points, {nc} classes), got {list(ts[name].shape)}"
            )


def _check_dtypes(ts: dict[str, Tensor]) -> None:
    for name in ("pd_scores", "pd_bboxes", "anc_points", "gt_bboxes"):
        if not ts[name].dtype.is_floating_point:
            raise DiagnosticsError(f"{name}: expected a floating dtype, got {ts[name].dtype}")
    for name in ("gt_labels", "mask_gt"):
        dtype = ts[name].dtype
        if dtype.is_complex or (dtype == torch.bool and name == "gt_labels"):
            raise DiagnosticsError(f"{name}: expected a real number dtype, got {dtype}")


def _in_range(problem: TalProblem, ts: dict[str, Tensor]) -> bool:
    """Whether every rule holds, from extremes that must all be >= 0: one transfer.

    ``amin``/``amax`` propagate NaN and show an infinity, and a NaN extreme fails ``>= 0``,
    so the finiteness needs no ``isfinite`` pass over ``[b, na, nc]`` scores.
    """
    scores, boxes, gt = ts["pd_scores"], ts["pd_bboxes"], ts["gt_bboxes"]
    anchors = problem.anchor_points(scores.device, torch.float64)
    extremes = [
        scores.amin().double(),
        1 - scores.amax().double(),
        _sides(boxes).amin().double(),
        -(ts["anc_points"].double() != anchors).any().double(),
        *_finite(boxes),
    ]
    if gt.shape[1]:  # no reductions over an empty GT table
        labels, mask = ts["gt_labels"].double(), ts["mask_gt"].double()
        valid = mask[..., :1] > 0
        extremes += [
            torch.where(valid, _sides(gt), 0).amin().double(),
            labels.amin(),
            problem.num_classes - 1 - labels.amax(),
            -(labels - labels.floor()).abs().amax(),
            -((mask != 0) & (mask != 1)).any().double(),
            *_finite(gt),
        ]
    return all(v >= 0 for v in torch.stack(extremes).tolist())


def _finite(t: Tensor) -> list[Tensor]:
    """Two values >= 0 exactly when every element of ``t`` is finite."""
    big = torch.finfo(torch.float64).max
    return [big + t.amin().double(), big - t.amax().double()]


def _sides(boxes: Tensor) -> Tensor:
    """``Tensor[..., 2]``: x2 - x1 and y2 - y1."""
    return boxes[..., 2:] - boxes[..., :2]


def _find_first(problem: TalProblem, ts: dict[str, Tensor]) -> None:
    """Raise for the first offending value, input by input in `INPUTS` order."""
    nc = problem.num_classes
    scores = ts["pd_scores"].double()
    _first("pd_scores", ~torch.isfinite(scores), "must be finite", scores, "anchor", "class")
    out = (scores < 0) | (scores > 1)
    _first("pd_scores", out, "must be a probability in [0, 1]", scores, "anchor", "class")
    _check_boxes("pd_bboxes", ts["pd_bboxes"].double(), None, "anchor")
    anchors = ts["anc_points"].double()
    expected = problem.anchor_points(anchors.device, torch.float64)
    bad = ~(anchors == expected)
    if bad.any():
        i, j = (int(v) for v in bad.nonzero()[0])
        raise DiagnosticsError(
            f"anc_points anchor {i}, field {'xy'[j]!r}: expected {expected[i, j].item()!r} "
            f"(the cell centres (i + 0.5) * stride of the problem's strides "
            f"{problem.strides} at {problem.img_size[0]}x{problem.img_size[1]}), "
            f"got {anchors[i, j].item()!r}"
        )
    labels = ts["gt_labels"].double()
    _first("gt_labels", ~torch.isfinite(labels), "must be finite", labels, "row")
    _first("gt_labels", labels != labels.floor(), "must be an integer class id", labels, "row")
    _first("gt_labels", (labels < 0) | (labels >= nc), f"must be in [0, {nc})", labels, "row")
    mask = ts["mask_gt"].double()
    _first("mask_gt", (mask != 0) & (mask != 1), "must be 0 or 1", mask, "row")
    _check_boxes("gt_bboxes", ts["gt_bboxes"].double(), mask[..., 0] > 0, "row")
    raise AssertionError("validate_inputs: the fast path failed but no offender was found")


def _check_boxes(name: str, boxes: Tensor, valid: Tensor | None, row: str) -> None:
    """Finite everywhere; ``x2 >= x1`` and ``y2 >= y1`` on ``valid`` rows (all when None)."""
    _first(name, ~torch.isfinite(boxes), "must be finite", boxes, row, BOX_FIELDS)
    flipped = boxes[..., 2:] < boxes[..., :2]
    if valid is not None:
        flipped &= valid[..., None]
    if flipped.any():
        b, r, j = (int(v) for v in flipped.nonzero()[0])
        low, high = BOX_FIELDS[j], BOX_FIELDS[j + 2]
        raise DiagnosticsError(
            f"{name} image {b}, {row} {r}, field {high!r}: must be >= {low} = "
            f"{boxes[b, r, j].item()!r}, got {boxes[b, r, j + 2].item()!r}"
        )


def _first(
    name: str,
    bad: Tensor,
    message: str,
    values: Tensor,
    row: str,
    column: str | tuple[str, ...] | None = None,
) -> None:
    """Raise naming the first True of ``bad`` ``[b, rows, columns]``, if any.

    ``column``: a name for an index ("class 3"), field names ("field 'x1'"), or None for a
    single column.
    """
    if not bad.any():
        return
    b, r, c = (int(v) for v in bad.nonzero()[0])
    where = f"image {b}, {row} {r}"
    if isinstance(column, str):
        where += f", {column} {c}"
    elif column is not None:
        where += f", field {column[c]!r}"
    raise DiagnosticsError(f"{name} {where}: {message}, got {values[b, r, c].item()!r}")
