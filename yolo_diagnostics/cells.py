"""The five candidate cells of a target at a level, as each rule takes them.

`candidate_cells` tests them for any gxy: those of the kept (level, anchor, group) pairs of
`attribution.Context` (`Pairs`), or of every (level, target) of the reference's plan
(`attribution_exact`). `Constants` are a problem's small tensors, made once per device.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
from torch import Tensor

from .problem import Problem
from .rules import strict_tests

KINDS = ((0, 0), (-1, 0), (0, -1), (1, 0), (0, 1))  # centre, left, up, right, down as (dx, dy)


class Constants(NamedTuple):
    anchors: Tensor  # [nl, na, 2] float32, grid units
    anchor_columns: tuple[Tensor, Tensor]  # [nl * na] float32 w, h: anchors[level, a] at
    # level * na + a (1-D: index_select on a [n, 2] table copies row by row, far slower)
    size: Tensor  # [nl, 2] int64 (nx, ny)
    gain: Tensor  # [nl, 4] float32 (nx, ny, nx, ny), YOLOv5's gain
    tol: Tensor  # [nl] float64, a few float32 ulps of the largest grid coordinate
    kind_at: Tensor  # [25] int64, `KINDS` index of the cell (dx, dy) at (dx + 2) * 5 + dy + 2
    last: Tensor  # [2, nl] int64 (nx - 1; ny - 1), the clamp, axis-major
    grid: Tensor  # [2, nl] float32 (nx; ny), YOLOv5's gain[[2, 3]], axis-major
    off: tuple[float, float]  # -g, +g as float32 values: the published neighbour offsets


@functools.lru_cache(maxsize=64)
def constants(problem: Problem, device: str) -> Constants:
    """A problem's small tensors on one device, made once (tensors made per call are a
    large part of a check's cost at small nt)."""
    size = torch.tensor([(nx, ny) for ny, nx in problem.feature_shapes], device=device)
    anchors = problem.anchors_grid(device)
    kind_at = torch.full((25,), -1, device=device)  # -1: not one of the five cells
    for k, (dx, dy) in enumerate(KINDS):
        kind_at[(dx + 2) * 5 + dy + 2] = k
    g = torch.tensor((-problem.g, problem.g), dtype=torch.float32)  # YOLOv5's float32 off
    return Constants(
        anchors=anchors,
        anchor_columns=(anchors[..., 0].flatten(), anchors[..., 1].flatten()),
        size=size,
        gain=size.repeat(1, 2).float(),
        tol=64 * torch.finfo(torch.float32).eps * size.amax(1).double(),
        kind_at=kind_at,
        last=(size - 1).T.contiguous(),
        grid=size.T.float().contiguous(),
        off=(float(g[0]), float(g[1])),
    )


class Pairs(NamedTuple):
    """Kept (``level``, anchor ``a``, group ``u``) pairs, each ``Tensor[n]``, their ``centre``
    cells ``Tensor[2, n]`` (gi; gj), and ``Tensor[5, n]`` masks of the five candidate
    `cells` the problem's rule takes as published (``y5``, `rules.published_tests`) and as
    meant (``strict``); ``twice`` where a published test fires but its clamped cell is the
    centre cell again, so the centre gets a second row (YOLOv5's duplicates). Kind 0 is
    the centre cell."""

    level: Tensor
    a: Tensor
    u: Tensor
    centre: Tensor
    y5: Tensor
    strict: Tensor
    twice: Tensor

    @property
    def y5_rows(self) -> Tensor:
        """``Tensor[5, n]`` int64, the rows the published code writes into each cell (made
        on demand: only duplicates read it)."""
        rows = self.y5.long()
        rows[0] += self.twice.sum(0)
        return rows

    @property
    def cells(self) -> Tensor:
        """``Tensor[5, n, 2]`` (gi, gj) of the five candidate cells, `KINDS` order; made on
        demand (only findings read them, and the broadcast is slow)."""
        step = torch.tensor(KINDS, device=self.centre.device)
        return self.centre.T[None] + step[:, None]


def candidate_cells(
    problem: Problem,
    const: Constants,
    xy: Tensor,
    last: Tensor,
    published: tuple[Tensor, Tensor],
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per gxy, the centre cell and whether each rule takes each of the five cells.

    ``xy Tensor[2, ...]`` grid coordinates, x then y (axis-major: every op runs along the
    rest, and the two halves are the [5, ...] masks' rows 1-2 and 3-4); ``last`` the grid's
    last index (nx - 1; ny - 1) and ``published`` the rule's ``(lo, hi)`` tests as its
    code writes them (`rules.published_tests`), each broadcastable to ``xy``.

    Returns ``centre Tensor[2, ...]``, ``Tensor[5, ...]`` masks for the problem's rule as
    its published code computes it (after its clamp; "y5") and as it is meant
    (`rules.strict_tests`), and where the published code writes the centre cell a second
    time (`Pairs.twice`).
    """
    centre = torch.minimum(xy.floor().long(), last)
    # YOLOv5's neighbour cell (gxy -+ g).long(), clamped, on the axis it moves along; on
    # the other axis it is the centre cell (gxy >= 0: .long() is floor)
    lo_cell = torch.minimum((xy + const.off[0]).long(), last).clamp_(min=0)
    hi_cell = torch.minimum((xy + const.off[1]).long(), last).clamp_(min=0)
    lo, hi = published
    no = torch.zeros((1, *xy.shape[1:]), dtype=torch.bool, device=xy.device)
    y5 = torch.cat((~no, lo & (lo_cell == centre - 1), hi & (hi_cell == centre + 1)))
    twice = torch.cat((no, lo & (lo_cell == centre), hi & (hi_cell == centre)))
    st_lo, st_hi = strict_tests(problem.g, xy - centre, centre, last)
    return centre, y5, torch.cat((~no, st_lo, st_hi)), twice
