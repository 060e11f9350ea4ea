"""What the TAL invariants return (`yolo_diagnostics.tal.invariants`): `TalViolation`, the
``shapes`` check of the output's structure, and the helpers that turn offending entries into
one violation per image (a count and the first place)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .corpus import TalBatch
from .evidence import TalEvidence
from .problem import TalProblem

Severity = Literal["error", "quirk", "info"]
NAMES = ("target_labels", "target_bboxes", "target_scores", "fg_mask", "target_gt_idx")


@dataclass(frozen=True)
class TalViolation:
    """One finding: which check, how severe, where, and a one-line message (a count and the
    first place). ``anchors``: flat anchor indices in ``image``; ``gts``: GT rows there."""

    check: str
    severity: Severity
    message: str
    image: int | None = None
    anchors: tuple[int, ...] = ()
    gts: tuple[int, ...] = ()

    @property
    def fails(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        return f"[{self.severity}] {self.check}: {self.message}"


def shape_violations(problem: TalProblem, inputs: TalBatch, output: object) -> list[TalViolation]:
    """The ``shapes`` check: five tensors ``[b, na]`` int64, ``[b, na, 4]`` and ``[b, na,
    nc]`` floating, ``[b, na]`` bool, ``[b, na]`` int64, on the inputs' device. With
    ``n == 0`` the labels and GT indices may be floating (the ``empty-dtypes`` quirk)."""
    if not isinstance(output, (tuple, list)) or len(output) != 5:
        return [_shape(f"expected the 5 tensors {NAMES}, got {type(output).__name__}")]
    bad = [name for name, t in zip(NAMES, output) if not isinstance(t, Tensor)]
    if bad:
        return [_shape(f"{', '.join(bad)}: expected torch.Tensor")]
    b, na, nc = inputs.pd_scores.shape
    device = inputs.pd_scores.device
    empty = inputs.gt_bboxes.shape[1] == 0
    found = []
    for name, t, shape, kind in zip(
        NAMES,
        output,
        ((b, na), (b, na, 4), (b, na, nc), (b, na), (b, na)),
        ("int64", "floating", "floating", "bool", "int64"),
    ):
        if tuple(t.shape) != shape:
            found.append(_shape(f"{name}: expected shape {list(shape)}, got {list(t.shape)}"))
        floating = t.dtype.is_floating_point
        ok = {
            "int64": t.dtype == torch.int64 or (empty and floating),
            "bool": t.dtype == torch.bool,
        }
        if not ok.get(kind, floating):
            found.append(_shape(f"{name}: expected {kind} dtype, got {t.dtype}"))
        if t.device != device:
            found.append(_shape(f"{name}: on {t.device}, the inputs on {device}"))
    return found


def _shape(message: str) -> TalViolation:
    return TalViolation("shapes", "error", message)


def per_image(
    ev: TalEvidence,
    check: str,
    severity: Severity,
    image: Tensor,
    anchor: Tensor | None,
    gt: Tensor | None,
    describe: Callable[[int], str],
    what: str = "anchor(s)",
) -> list[TalViolation]:
    """One violation per image over the offending entries ``[K]``, ordered by image (as
    ``nonzero`` gives them): anchors (``anchor`` given; ``gt`` their GT row, -1 for none)
    or GT rows (``anchor`` None; the violation's anchors are those rows' positives).
    ``describe(k)`` says what is wrong with entry ``k``; the message names each image's
    first entry."""
    if not len(image):
        return []
    gt = torch.full_like(image, -1) if gt is None else gt
    if anchor is None:  # the positives of the offending GT rows, ordered by image
        flagged = torch.zeros(ev.b * ev.n, dtype=torch.bool, device=image.device)
        flagged[image * ev.n + gt] = True
        mine = flagged[ev.row]
        owned_image, owned = ev.image[mine].tolist(), ev.anchor[mine].tolist()
    counts = torch.bincount(image, minlength=ev.b).tolist()
    rows, anchors = gt.tolist(), anchor.tolist() if anchor is not None else None
    found, start, owned_start = [], 0, 0
    for i, count in enumerate(counts):  # a loop over images, on host lists
        if not count:
            continue
        stop, first = start + count, start
        here = rows[start:stop]
        if anchors is not None:
            flat = tuple(anchors[start:stop])
            place = ev.where(i, flat[0], here[0] if here[0] >= 0 else None)
        else:
            owned_stop = owned_start + owned_image[owned_start:].count(i)
            flat = tuple(owned[owned_start:owned_stop])
            owned_start = owned_stop
            place = ev.where(i, None, here[0])
        found.append(
            TalViolation(
                check,
                severity,
                f"{count} {what}; first: {place}: {describe(first)}",
                i,
                flat,
                tuple(sorted({g for g in here if g >= 0})),
            )
        )
        start = stop
    return found


def positives(ev: TalEvidence, mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The positives where ``mask`` ``[P]``: ``(p, image, anchor, gt)``."""
    p = mask.nonzero().flatten()
    return p, ev.image[p], ev.anchor[p], ev.gt[p]


def scored(ev: TalEvidence) -> Tensor:
    """``[P]`` bool: the positive's image has finite scores (the score checks read it)."""
    return ev.finite[ev.image]


def box_text(box: Tensor) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in box.tolist()) + "]"
