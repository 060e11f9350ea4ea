"""The ``shapes`` check: the structure of a ``build_targets`` output, judged first.

Every other check reads the output as one table (`Assignment.from_yolov5`); this one says,
per level, what keeps it from being read: not a 4-tuple of per-level lists, tensors of the
wrong length, dtype or device, rows for no targets.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .problem import Problem
from .violations import Violation


def shape_violations(problem: Problem, targets: Tensor, output: object) -> list[Violation]:
    """The ``shapes`` check: structure of ``(tcls, tbox, indices, anch)``, run first."""
    problems: list[tuple[int | None, str]] = []
    if not isinstance(output, (tuple, list)) or len(output) != 4:
        return [_shape_violation(None, "expected a 4-tuple (tcls, tbox, indices, anch)")]
    tcls, tbox, indices, anch = output
    for name, part in zip(("tcls", "tbox", "indices", "anch"), output):
        if not isinstance(part, (list, tuple)) or len(part) != problem.nl:
            got = len(part) if isinstance(part, (list, tuple)) else type(part).__name__
            problems.append((None, f"{name}: expected a list of {problem.nl} levels, got {got}"))
    if problems:
        return [_shape_violation(lv, msg) for lv, msg in problems]
    devices, dtypes = set(), {}
    for i in range(problem.nl):
        if not isinstance(indices[i], (list, tuple)) or len(indices[i]) != 4:
            problems.append((i, "indices: expected (b, a, gj, gi)"))
            continue
        parts = {"tcls": tcls[i], "tbox": tbox[i], "anch": anch[i]}
        parts.update(zip(("b", "a", "gj", "gi"), indices[i]))
        if not all(isinstance(t, Tensor) for t in parts.values()):
            bad = [k for k, t in parts.items() if not isinstance(t, Tensor)]
            problems.append((i, f"{', '.join(bad)}: expected tensors"))
            continue
        n = parts["tcls"].shape[0] if parts["tcls"].dim() == 1 else -1
        for name, t in parts.items():
            width = {"tbox": 4, "anch": 2}.get(name)
            expected = [n] if width is None else [n, width]
            if list(t.shape) != expected or n < 0:
                want = "[n]" if width is None else f"[n, {width}]"
                problems.append(
                    (i, f"{name}: shape {list(t.shape)}, expected {want} with n = len(tcls) = {n}")
                )
            floating = name in ("tbox", "anch")
            if t.dtype.is_floating_point != floating or t.dtype == torch.bool:
                kind = "a floating" if floating else "an integer"
                problems.append((i, f"{name}: dtype {t.dtype}, expected {kind} dtype"))
            devices.add(t.device)
            dtypes.setdefault(name, set()).add(t.dtype)
        if targets.shape[0] == 0 and n > 0:
            problems.append((i, f"nt = 0 but the level has {n} rows"))
    if len(devices) > 1:
        problems.append((None, f"tensors on several devices: {sorted(map(str, devices))}"))
    elif devices and devices != {targets.device}:  # the loss indexes its predictions by them
        problems.append((None, f"tensors on {devices.pop()}, expected {targets.device}"))
    for name, kinds in dtypes.items():
        if len(kinds) > 1:
            problems.append(
                (None, f"{name}: dtype differs between levels: {sorted(map(str, kinds))}")
            )
    return [_shape_violation(lv, msg) for lv, msg in problems]


def _shape_violation(level: int | None, message: str) -> Violation:
    return Violation("shapes", "error", level, (), (), message)
