"""Validation of targets: one clear error naming the first offending row and field.

YOLOv5 silently drops targets with w = 0 or h = 0 (the wh ratio is inf) and NaN targets, and
clamps out-of-image centres into a wrong cell. A diagnostics suite must not: bad input is
refused before any assignment is computed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .errors import DiagnosticsError
from .problem import Problem

FIELDS = ("image", "class", "x", "y", "w", "h")
_REDUCIBLE = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def validate_targets(problem: Problem, targets: object) -> Tensor:
    """Check targets ``Tensor[nt, 6]`` = (image, class, x, y, w, h) and return them unchanged.

    Raises ``ValueError`` naming the first offending row and field when the tensor has the
    wrong type, shape or dtype, holds NaN/inf, a w or h that is not positive, an x or y
    outside ``[0, 1]``, an image id outside ``[0, batch_size)`` or a class outside
    ``[0, num_classes)``; image and class ids must be integers.
    """
    if not isinstance(targets, Tensor):
        raise DiagnosticsError(
            f"targets: expected a torch.Tensor [nt, 6], got {type(targets).__name__}"
        )
    if targets.layout != torch.strided or targets.is_meta:
        where = "on the meta device" if targets.is_meta else f"with layout {targets.layout}"
        raise DiagnosticsError(f"targets: expected a dense tensor holding values, got one {where}")
    if targets.dim() != 2 or targets.shape[1] != 6:
        raise DiagnosticsError(
            f"targets: expected shape [nt, 6] (image, class, x, y, w, h), got {list(targets.shape)}"
        )
    if not targets.dtype.is_floating_point:
        raise DiagnosticsError(f"targets: expected a floating dtype, got {targets.dtype}")
    if targets.shape[0] == 0:
        return targets
    t = targets.detach()
    if t.dtype not in _REDUCIBLE:  # float8: no amin/amax kernels; float64 holds it exactly
        t = t.to(torch.float64)
    if _in_range(problem, t):
        return targets
    t = t.to(torch.float64)
    bad = torch.zeros_like(t, dtype=torch.bool)  # first failing (row, field) wins
    reason = torch.zeros_like(t, dtype=torch.int64)
    rules = (
        (~torch.isfinite(t), "must be finite"),
        (t[:, [0, 1]] != t[:, [0, 1]].floor(), "must be an integer id"),
        (
            (t[:, [0]] < 0) | (t[:, [0]] >= problem.batch_size),
            f"must be in [0, {problem.batch_size})",
        ),
        (
            (t[:, [1]] < 0) | (t[:, [1]] >= problem.num_classes),
            f"must be in [0, {problem.num_classes})",
        ),
        ((t[:, 2:4] < 0) | (t[:, 2:4] > 1), "must be in [0, 1] (normalized to the network input)"),
        (t[:, 4:6] <= 0, "must be > 0"),
    )
    columns = ((0, 6), (0, 2), (0, 1), (1, 2), (2, 4), (4, 6))
    for k, ((mask, _), (lo, hi)) in enumerate(zip(rules, columns), start=1):
        fresh = mask & ~bad[:, lo:hi]
        reason[:, lo:hi][fresh] = k
        bad[:, lo:hi] |= mask
    if not bad.any():
        return targets
    row, col = (int(i) for i in bad.nonzero()[0])
    message = rules[int(reason[row, col]) - 1][1]
    raise DiagnosticsError(
        f"targets row {row}, field {FIELDS[col]!r}: {message}, got {targets[row, col].item()!r}"
    )


def _in_range(problem: Problem, t: Tensor) -> bool:
    """Whether every rule holds, from per-column extremes: three reductions and one transfer.

    ``amin``/``amax`` propagate NaN and show an infinity, so finite extremes mean finite
    values. The extremes are elements of ``t``, compared exactly as Python floats.
    """
    columns = t.T.contiguous()  # [6, nt]: reductions along a row, not across a dim of 6
    ids = columns[:2]
    stats = torch.cat((columns.amin(1), columns.amax(1), (ids - ids.floor()).abs().amax(1)))
    lo, hi, frac = stats[:6].tolist(), stats[6:12].tolist(), stats[12:].tolist()
    return (
        all(math.isfinite(v) for v in lo + hi + frac)
        and frac == [0.0, 0.0]
        and lo[0] >= 0
        and hi[0] < problem.batch_size
        and lo[1] >= 0
        and hi[1] < problem.num_classes
        and min(lo[2:4]) >= 0
        and max(hi[2:4]) <= 1
        and min(lo[4:6]) > 0
    )
