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

The neighbour bias ``g`` comes from the problem: 0.5 is YOLOv5's 3-positive rule, 1.0 the
5-positive rule of YOLOv7's ``find_5_positive``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor

from .assignment import Assignment, YoloV5Output
from .problem import Problem
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
    ``(ny, nx)``) defaults to the problem's. Raises ``ValueError`` on invalid targets.
    """
    if semantics not in SEMANTICS:
        raise ValueError(f"semantics: expected one of {SEMANTICS}, got {semantics!r}")
    validate_targets(problem, targets)
    shapes = problem.feature_shapes if feature_shapes is None else tuple(feature_shapes)
    anchors = problem.anchors_grid(targets.device)
    levels = [
        _assign_level(problem, targets, anchors[i], i, ny, nx, semantics)
        for i, (ny, nx) in enumerate(shapes)
    ]
    return Assignment(
        **{
            name: torch.cat([getattr(level, name) for level in levels])
            for name in (
                "level",
                "image",
                "anchor",
                "gj",
                "gi",
                "cls",
                "tbox",
                "anch",
                "target",
                "offset",
            )
        },
        num_levels=len(shapes),
    )


def _assign_level(
    problem: Problem,
    targets: Tensor,
    anchors: Tensor,
    level: int,
    ny: int,
    nx: int,
    semantics: str,
) -> Assignment:
    """One level: ratio filter, then centre and neighbour cells, in YOLOv5's row order."""
    device = targets.device
    g = problem.g
    gain = torch.tensor([nx, ny, nx, ny], dtype=torch.float32, device=device)
    txywh = targets[:, 2:6] * gain  # the dtype promotion of YOLOv5's `targets * gain`

    r = txywh[None, :, 2:4] / anchors[:, None]  # wh ratio, [na, nt, 2]
    keep = torch.max(r, 1 / r).max(2)[0] < problem.anchor_t
    a, t = keep.nonzero(as_tuple=True)  # anchor-major, like t[j] on targets.repeat(na, 1, 1)
    gxy, gwh = txywh[t, 0:2], txywh[t, 2:4]

    if semantics == "yolov5":
        gxi = gain[[0, 1]] - gxy  # inverse, float32 gain as in YOLOv5
        j, k = ((gxy % 1 < g) & (gxy > 1)).T
        l, m = ((gxi % 1 < g) & (gxi > 1)).T
    else:
        size = torch.tensor([nx, ny], device=device)
        c = torch.minimum(gxy.floor().long(), size - 1)
        u = gxy - c
        j, k = ((u < g) & (c >= 1)).T
        l, m = ((u > 1 - g) & (c <= size - 2)).T
    kind, row = torch.stack((torch.ones_like(j), j, k, l, m)).nonzero(as_tuple=True)
    off = torch.tensor(_OFF, dtype=torch.float32, device=device) * g
    gxy, gwh, a, t = gxy[row], gwh[row], a[row], t[row]

    if semantics == "yolov5":
        gij = (gxy - off[kind]).long()  # .long() truncates toward zero, as in YOLOv5
    else:
        gij = c[row] - torch.tensor(_OFF, device=device)[kind]
    gi, gj = gij.T
    gj.clamp_(0, ny - 1)  # in place: tbox below uses the clamped cell, as YOLOv5's clamp_
    gi.clamp_(0, nx - 1)
    return Assignment(
        level=torch.full_like(a, level),
        image=targets[t, 0].long(),
        anchor=a,
        gj=gj,
        gi=gi,
        cls=targets[t, 1].long(),
        tbox=torch.cat((gxy - gij, gwh), 1),
        anch=anchors[a],
        target=t,
        offset=kind,
        num_levels=problem.nl,
    )


def build_targets(
    problem: Problem, p: Sequence[Tensor], targets: Tensor, *, semantics: Semantics = "yolov5"
) -> YoloV5Output:
    """``ComputeLoss.build_targets(p, targets)``: ``p`` per level ``(B, na, ny, nx, no)``.

    Only ``p[i].shape`` is read. Returns ``(tcls, tbox, indices, anch)``.
    """
    _check_feature_maps(problem, p)
    shapes = [(int(pi.shape[2]), int(pi.shape[3])) for pi in p]
    return assign(problem, targets, semantics=semantics, feature_shapes=shapes).to_yolov5()


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
        raise ValueError(f"p: expected {problem.nl} levels, got {len(p)}")
    for i, (pi, (ny, nx)) in enumerate(zip(p, problem.feature_shapes)):
        if pi.dim() != 5 or pi.shape[1] != problem.na:
            raise ValueError(
                f"p[{i}]: expected shape (B, {problem.na}, ny, nx, no), got {list(pi.shape)}"
            )
        if (pi.shape[2], pi.shape[3]) != (ny, nx):
            raise ValueError(
                f"p[{i}]: grid {tuple(pi.shape[2:4])} does not match the problem's "
                f"(ny, nx) = {(ny, nx)} at stride {problem.strides[i]}"
            )
