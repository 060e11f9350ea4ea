"""The target of each row of any output, by a tolerance search: `attribute_search`.

A row is attributed to the group whose image and class it has and whose target's centre and
wh (in grid units, as YOLOv5 scales them) it reproduces within ``Context.tol`` of its level
(a few float32 ulps of the grid size); the nearest such group, the smallest on a tie.
Candidates are only the groups of the row's (image, class) whose x lies within twice the
tolerance of the row's: groups are sorted by the float64 key ``4 * id + x`` (x in [0, 1]; 4
keeps the windows of neighbouring ids apart) and found by binary search. Comparing every
row with every target of its (image, class) made the checks quadratic (12 of 14 s at
100 000 targets). Every candidate is then judged on all four coordinates, in float64, so the
result equals comparing the row with every target of its (image, class).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from .assignment import Assignment
from .problem import Problem


class Grids(Protocol):
    """Per level ``size Tensor[nl, 2]`` (nx, ny) and the tolerance ``tol Tensor[nl]``: a
    `Context`, or the problem's `cells.Constants`."""

    size: Tensor
    tol: Tensor


class Context(Protocol):
    """What the search (and `attribution_known`) reads of an `attribution.Context` (which
    imports this module).

    ``group_targets Tensor[U, 6]`` the groups' target rows, sorted by `group_keys`;
    ``size``, ``gain`` and ``tol`` per level; ``group_keys`` made once, on demand;
    ``txywh`` the groups' YOLOv5 products per level.
    """

    problem: Problem
    table: Assignment
    device: torch.device
    shapes: tuple[tuple[int, int], ...]
    group: Tensor
    mult: Tensor
    group_targets: Tensor
    group_keys: Tensor | None
    in_bounds: Tensor
    size: Tensor
    gain: Tensor
    tol: Tensor

    def txywh(self, which: Tensor | None = None) -> Tensor: ...


_BUDGET = 1 << 22  # candidate (row, target) pairs compared per chunk


def group_keys(ctx: Context) -> Tensor:
    """``Tensor[U]`` float64 ``(image * nc + class) * 4 + x`` of the groups, ascending.

    The groups are in lexicographic order of (image, class, x, ...), and the key is
    monotone in (id, x): it needs no sort. Made once per context.
    """
    if ctx.group_keys is None:
        gt, nc = ctx.group_targets, ctx.problem.num_classes
        ctx.group_keys = (gt[:, 0].double() * nc + gt[:, 1].double()) * 4 + gt[:, 2].double()
    return ctx.group_keys


def row_window(grids: Grids, level: Tensor) -> tuple[Tensor, Tensor]:
    """Per row level, the half-width of the candidate window in key units and the grid
    width ``nx``, float64."""
    nx = grids.size[:, 0].index_select(0, level).double()
    return 2 * grids.tol.index_select(0, level) / nx + 1e-9, nx


def attribute_search(
    ctx: Context, table: Assignment | None = None, in_bounds: Tensor | None = None
) -> Tensor:
    """``Tensor[n]`` int64: for each row of ``table`` (default ``ctx.table``), its group, -1
    if none is within tolerance or the row is out of bounds (``in_bounds``, default
    ``ctx.in_bounds``) or its class is."""
    table = ctx.table if table is None else table
    in_bounds = ctx.in_bounds if in_bounds is None else in_bounds
    nc = ctx.problem.num_classes
    gkey = group_keys(ctx)
    level = table.level.clamp(0, len(ctx.shapes) - 1)
    window, nx = row_window(ctx, level)
    rx = (table.gi.double() + table.tbox[:, 0].double()) / nx
    rkey = (table.image.double() * nc + table.cls.double()) * 4 + rx
    tol = ctx.tol.index_select(0, level)
    usable = in_bounds & (table.cls >= 0) & (table.cls < nc)
    lo = torch.searchsorted(gkey, rkey - window)
    # most rows have one candidate: read the next two keys instead of a second search
    edge = rkey + window
    padded = torch.cat((gkey, gkey.new_full((2,), torch.inf)))
    some = usable & (padded.index_select(0, lo) <= edge)  # False for NaN keys
    many = some & (padded.index_select(0, lo + 1) <= edge)
    # every row against its first candidate: no gathers of rows
    first = lo.clamp(max=len(gkey) - 1)
    hit = some & ~many & (_distance(ctx, table, first) <= tol)
    out = torch.where(hit, first, -1)
    crowded = many.nonzero().flatten()
    if len(crowded):
        n = torch.zeros_like(lo)
        n[crowded] = torch.searchsorted(gkey, edge[crowded], right=True) - lo[crowded]
        ends = torch.cumsum(n[crowded], 0)
        start = 0
        while start < len(crowded):
            base = int(ends[start - 1]) if start else 0
            stop = max(start + 1, int(torch.searchsorted(ends, base + _BUDGET, right=True)))
            _chunk(ctx, table, out, crowded[start:stop], lo, n)
            start = stop
    return out


def _distance(ctx: Context, table: Assignment, group: Tensor) -> Tensor:
    """Largest difference, in grid units, between what each row of ``table`` implies (centre
    ``gij + tbox_xy``, wh ``tbox_wh``) and its candidate group's target, float64."""
    centre = torch.stack((table.gi, table.gj), 1) + table.tbox[:, :2]  # in tbox's dtype
    implied = torch.cat((centre, table.tbox[:, 2:]), 1).double()
    gain = ctx.gain.index_select(0, table.level)
    truth = (ctx.group_targets.index_select(0, group)[:, 2:6] * gain).double()
    return (implied - truth).abs().amax(1)


def _chunk(
    ctx: Context, table: Assignment, out: Tensor, rows: Tensor, lo: Tensor, n: Tensor
) -> None:
    """Judge ``rows`` (several candidates each) against all their candidates; write each
    row's nearest group within tolerance (the smallest on a tie) into ``out``."""
    counts = n[rows]
    pair_row = torch.repeat_interleave(rows, counts)
    if len(pair_row) == 0:
        return
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(pair_row), device=ctx.device) - torch.repeat_interleave(first, counts)
    group = lo[pair_row] + rank
    dist = _distance(ctx, table.select(pair_row), group)
    dist = torch.where(dist <= ctx.tol[table.level[pair_row]], dist, torch.inf)
    best = torch.full((len(table),), torch.inf, dtype=torch.float64, device=ctx.device)
    best.scatter_reduce_(0, pair_row, dist, "amin")
    winner = torch.isfinite(dist) & (dist == best[pair_row])
    groups = len(ctx.group_targets)
    pick = torch.full_like(out, groups)
    pick.scatter_reduce_(0, pair_row[winner], group[winner], "amin")
    hit = pick[rows] < groups
    out[rows[hit]] = pick[rows[hit]]
