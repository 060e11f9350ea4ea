"""Frozen: yolo_diagnostics/attribution.py as of commit 7bf815a, before the checks were made
faster, kept unchanged (imports aside) as the oracle of tests/test_check_equivalence.py.

Which target each row of any ``build_targets`` output comes from, and what it should get.

The invariant checks need no provenance: a row is attributed to the target whose centre
``gij + tbox_xy``, wh, image and class it reproduces within a few float32 ulps. Identical
targets form one *group* whose multiplicity is the number of rows each of its cells should
get. `Context` computes this once per call, in O(n log n) of rows and targets:

- groups by a lexicographic sort of the target rows (``torch.unique(dim=0)`` compares rows
  element by element on the CPU, and took most of the time at 10 000 targets);
- candidates for a row are only the targets of its (image, class) whose x lies within the
  tolerance of the row's x, found by binary search in targets sorted by (image, class, x);
  comparing every row with every target of its (image, class) made the checks quadratic
  (12 of 14 s at 100 000 targets);
- the (group, anchor) pairs under the ratio rule and their five candidate cells, for all
  levels at once.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
from torch import Tensor

from yolo_diagnostics.assignment import Assignment, first_of_run, lexsort
from yolo_diagnostics.problem import Problem
from yolo_diagnostics.rules import published_tests, strict_tests

KINDS = ((0, 0), (-1, 0), (0, -1), (1, 0), (0, 1))  # centre, left, up, right, down as (dx, dy)

_BUDGET = 1 << 22  # candidate (row, target) pairs compared per chunk

# `KINDS` index of the cell at (dx, dy) from the centre, indexed by (dx + 1) * 3 + dy + 1
_KIND_AT = torch.tensor([-1, 1, -1, 2, 0, 4, -1, 3, -1])


class _Constants(NamedTuple):
    anchors: Tensor  # [nl, na, 2] float32, grid units
    size: Tensor  # [nl, 2] int64 (nx, ny)
    gain: Tensor  # [nl, 4] float32 (nx, ny, nx, ny), YOLOv5's gain
    tol: Tensor  # [nl] float64, a few float32 ulps of the largest grid coordinate
    step: Tensor  # [5, 2] int64, `KINDS`


@functools.lru_cache(maxsize=64)
def _constants(problem: Problem, device: str) -> _Constants:
    """A problem's small tensors on one device, made once (tensors made per call are a
    large part of a check's cost at small nt)."""
    size = torch.tensor([(nx, ny) for ny, nx in problem.feature_shapes], device=device)
    return _Constants(
        anchors=problem.anchors_grid(device),
        size=size,
        gain=size.repeat(1, 2).float(),
        tol=64 * torch.finfo(torch.float32).eps * size.amax(1).double(),
        step=torch.tensor(KINDS, device=device),
    )


class Pairs(NamedTuple):
    """All levels' kept (``level``, anchor ``a``, group ``u``) pairs, each ``Tensor[n]``, their
    five candidate ``cells`` ``Tensor[5, n, 2]`` (gi, gj), and ``Tensor[5, n]`` masks of the
    cells the problem's rule takes as published (``y5``, `rules.published_tests`) and as
    meant (``strict``). Kind 0 is the centre cell. ``y5_rows Tensor[5, n]`` int64 counts the
    rows the published code writes into each cell: more than one where a test fires but its
    clamped cell is the centre cell again (YOLOv5's duplicates)."""

    level: Tensor
    a: Tensor
    u: Tensor
    cells: Tensor
    y5: Tensor
    strict: Tensor
    y5_rows: Tensor


class Context:
    """What every check needs, computed once: the table, target groups and row attribution.

    ``group[t]`` is the group of target ``t`` (identical rows share one), ``mult[u]`` its
    size, ``row_group[r]`` the group row ``r`` reproduces (-1 if none or out of bounds),
    ``attributed`` the rows with a group. ``pairs`` are the (level, anchor, group) pairs
    the ratio rule keeps; for each attributed row ``row_pair`` and ``row_kind`` say which
    pair and candidate cell it is (-1: none); ``counts Tensor[5, P]`` how many rows each
    candidate cell of each pair got.
    """

    def __init__(self, problem: Problem, targets: Tensor, table: Assignment) -> None:
        self.problem, self.targets, self.table = problem, targets, table
        self.device = targets.device
        self.shapes = problem.feature_shapes
        const = _constants(problem, str(self.device))
        self.anchors, self.size, self.gain, self.tol, self.step = const
        size = self.size
        self._group_targets(targets)
        self.in_bounds = (
            (table.image >= 0)
            & (table.image < problem.batch_size)
            & (table.anchor >= 0)
            & (table.anchor < problem.na)
            & (table.gj >= 0)
            & (table.gj < size[table.level, 1])
            & (table.gi >= 0)
            & (table.gi < size[table.level, 0])
        )
        self.row_group = self._attribute()
        self.attributed = (self.row_group >= 0).nonzero().flatten()
        self.pairs = self._kept_pairs()
        self.row_pair, self.row_kind = self._place_rows()
        placed = self.row_kind >= 0
        at = self.row_kind * len(self.pairs.u) + self.row_pair
        self.counts = torch.bincount(at[placed], minlength=5 * len(self.pairs.u))
        self.counts = self.counts.view(5, len(self.pairs.u))

    def _group_targets(self, targets: Tensor) -> None:
        keys = targets
        if targets.dtype == torch.float32 and len(targets):
            # valid targets: integer ids, x, y, w, h >= 0, whose float32 bits sort as their
            # values (+ 0.0 makes -0.0 +0.0): three int64 keys, three sorts instead of six
            ids = targets[:, 0].long() * self.problem.num_classes + targets[:, 1].long()
            bits = (targets[:, 2:6] + 0.0).view(torch.int32).long()
            keys = torch.stack(
                (ids, bits[:, 0] << 32 | bits[:, 1], bits[:, 2] << 32 | bits[:, 3]), 1
            )
        order = lexsort(keys)
        start = first_of_run(keys[order])
        sorted_group = torch.cumsum(start, 0) - 1
        self.group = torch.empty_like(sorted_group)
        self.group[order] = sorted_group
        self.group_targets = targets[order[start]]  # [U, 6], sorted lexicographically
        self.mult = torch.bincount(sorted_group, minlength=int(start.sum()))

    def txywh(self, which: Tensor | None = None) -> Tensor:
        """Group targets' xywh in grid units per level, ``Tensor[nl, U, 4]``, as YOLOv5
        computes them (``targets * gain``)."""
        t = self.group_targets if which is None else self.group_targets[which]
        return t[None, :, 2:6] * self.gain[:, None]

    def slot_key(
        self, level: Tensor, group: Tensor, anchor: Tensor | int, gj: Tensor, gi: Tensor
    ) -> Tensor:
        """One int64 per (level, group, anchor, gj, gi); ``group`` < max(U, B * na)."""
        cells = max(ny * nx for ny, nx in self.shapes)
        width = max(nx for _, nx in self.shapes)
        groups = max(len(self.mult), self.problem.batch_size * self.problem.na)
        return ((level * groups + group) * self.problem.na + anchor) * cells + gj * width + gi

    def of_rows(self, cell_mask: Tensor) -> Tensor:
        """``Tensor[5, P]`` bool over the pairs' candidate cells, read at each attributed
        row's own cell: ``Tensor[len(attributed)]``, False for rows off every cell."""
        placed = self.row_kind >= 0
        if len(self.pairs.u) == 0:
            return placed
        return cell_mask[self.row_kind.clamp(min=0), self.row_pair.clamp(min=0)] & placed

    def members(self, groups: Tensor) -> tuple[int, ...]:
        """Target indices of the given groups, ascending."""
        chosen = torch.zeros(len(self.mult), dtype=torch.bool, device=self.device)
        chosen[groups] = True  # a mask, not torch.isin: that was slowest of all at 100k
        return tuple(chosen[self.group].nonzero().flatten().tolist())

    # ----------------------------------------------------------------- attribution
    def _attribute(self) -> Tensor:
        """Per row, the nearest group within tolerance among those of its image and class.

        Groups are sorted by (image, class, x) into one float64 key ``4 * id + x`` (x in
        [0, 1]; 4 keeps the windows of neighbouring ids apart). A row's candidates are the
        groups whose key lies within twice the tolerance of its own; every candidate pair
        is then judged on all four coordinates, so the result equals comparing the row
        with every target of its (image, class).
        """
        table = self.table
        if len(self.group_targets) == 0 or len(table) == 0:
            return torch.full_like(table.level, -1)
        nc = self.problem.num_classes
        gt = self.group_targets
        gkey = (gt[:, 0].double() * nc + gt[:, 1].double()) * 4 + gt[:, 2].double()
        gkey, order = torch.sort(gkey)
        level = table.level.clamp(0, len(self.shapes) - 1)
        nx = self.size[:, 0].index_select(0, level).double()
        rx = (table.gi.double() + table.tbox[:, 0].double()) / nx
        rkey = (table.image.double() * nc + table.cls.double()) * 4 + rx
        tol = self.tol.index_select(0, level)
        window = 2 * tol / nx + 1e-9
        usable = self.in_bounds & (table.cls >= 0) & (table.cls < nc)
        lo = torch.searchsorted(gkey, rkey - window)
        # most rows have one candidate: read the next two keys instead of a second search
        edge = rkey + window
        padded = torch.cat((gkey, gkey.new_full((2,), torch.inf)))
        some = usable & (padded[lo] <= edge)  # False for NaN keys
        many = some & (padded[lo + 1] <= edge)
        # every row against its first candidate: no gathers of rows
        first = order.index_select(0, lo.clamp(max=len(order) - 1))
        hit = some & ~many & (self._distance(None, first) <= tol)
        out = torch.where(hit, first, -1)
        rows = many.nonzero().flatten()
        if len(rows):
            n = torch.zeros_like(lo)
            n[rows] = torch.searchsorted(gkey, edge[rows], right=True) - lo[rows]
            ends = torch.cumsum(n[rows], 0)
            start = 0
            while start < len(rows):
                base = int(ends[start - 1]) if start else 0
                stop = max(start + 1, int(torch.searchsorted(ends, base + _BUDGET, right=True)))
                self._attribute_chunk(out, rows[start:stop], lo, n, order)
                start = stop
        return out

    def _distance(self, rows: Tensor | None, group: Tensor) -> Tensor:
        """Largest difference, in grid units, between what each row (all if ``rows`` is
        None) implies (centre ``gij + tbox_xy``, wh ``tbox_wh``) and its candidate group's
        target, float64."""
        t = self.table if rows is None else self.table.select(rows)
        centre = torch.stack((t.gi, t.gj), 1) + t.tbox[:, :2]  # in tbox's dtype
        implied = torch.cat((centre, t.tbox[:, 2:]), 1).double()
        gain = self.gain.index_select(0, t.level)
        truth = (self.group_targets.index_select(0, group)[:, 2:6] * gain).double()
        return (implied - truth).abs().amax(1)

    def _attribute_chunk(
        self, out: Tensor, rows: Tensor, lo: Tensor, n: Tensor, order: Tensor
    ) -> None:
        table = self.table
        counts = n[rows]
        pair_row = torch.repeat_interleave(rows, counts)
        if len(pair_row) == 0:
            return
        first = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(pair_row), device=self.device) - torch.repeat_interleave(
            first, counts
        )
        group = order[lo[pair_row] + rank]
        level = table.level[pair_row]
        dist = self._distance(pair_row, group)
        dist = torch.where(dist <= self.tol[level], dist, torch.inf)
        best = torch.full((len(table),), torch.inf, dtype=torch.float64, device=self.device)
        best.scatter_reduce_(0, pair_row, dist, "amin")
        winner = torch.isfinite(dist) & (dist == best[pair_row])
        pick = torch.full_like(out, len(self.group_targets))
        pick.scatter_reduce_(0, pair_row[winner], group[winner], "amin")
        hit = pick[rows] < len(self.group_targets)
        out[rows[hit]] = pick[rows[hit]]

    # ----------------------------------------------------------------- what is owed
    def _kept_pairs(self) -> Pairs:
        """Every level's (anchor, group) pairs under the ratio rule (YOLOv5's float
        expression) with their candidate cells."""
        txywh = self.txywh()  # [nl, U, 4]
        r = txywh[:, None, :, 2:4] / self.anchors[:, :, None]  # [nl, na, U, 2]
        keep = torch.max(r, 1 / r).amax(3) < self.problem.anchor_t
        level, a, u = keep.nonzero().unbind(1)
        gxy = txywh.reshape(-1, 4)[level * len(self.mult) + u, :2]
        return Pairs(level, a, u, *self._candidate_cells(level, gxy))

    def _place_rows(self) -> tuple[Tensor, Tensor]:
        """Per attributed row, its kept pair (index into `pairs`, -1 if its (level, group,
        anchor) is not under the ratio rule) and which of the pair's five candidate cells it
        is in (`KINDS` index, -1 if none): rows are counted per (kind, pair) with no sort."""
        t, rows, pairs, na = self.table, self.attributed, self.pairs, self.problem.na
        groups = len(self.mult)
        lookup = torch.full((len(self.shapes) * groups * na,), -1, device=self.device)
        lookup[(pairs.level * groups + pairs.u) * na + pairs.a] = torch.arange(
            len(pairs.u), device=self.device
        )
        pair = lookup[(t.level[rows] * groups + self.row_group[rows]) * na + t.anchor[rows]]
        if len(pairs.u) == 0:
            return pair, pair.clone()
        centre = pairs.cells[0, pair.clamp(min=0)]
        dx, dy = t.gi[rows] - centre[:, 0], t.gj[rows] - centre[:, 1]
        near = (pair >= 0) & (dx.abs() <= 1) & (dy.abs() <= 1)
        kind = _KIND_AT.to(self.device)[((dx + 1) * 3 + dy + 1).clamp(0, 8)]
        return pair, torch.where(near, kind, -1)

    def _candidate_cells(self, level: Tensor, gxy: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per pair, the five cells and whether each rule takes them.

        Returns ``cells Tensor[5, n, 2]`` (gi, gj), ``Tensor[5, n]`` masks for the problem's
        rule as its published code computes it (`rules.published_tests`, after its clamp;
        "y5") and as it is meant (`rules.strict_tests`), and the published code's rows per
        cell (`Pairs.y5_rows`).
        """
        g = self.problem.g
        size = self.size[level]
        centre = torch.minimum(gxy.floor().long(), size - 1)
        step = self.step
        cells = centre[None] + step[:, None]
        ones = torch.ones(len(level), dtype=torch.bool, device=self.device)
        y5_lo, y5_hi = published_tests(self.problem.rule, g, gxy, self.gain[level, :2])
        off = step.float() * g
        y5_cells = torch.minimum((gxy[None] + off[:, None]).long(), size - 1).clamp(min=0)
        fires = torch.stack((ones, y5_lo[:, 0], y5_lo[:, 1], y5_hi[:, 0], y5_hi[:, 1]))
        # YOLOv5 takes a neighbour only where its own cell really is that neighbour; a test
        # that fires onto the (clamped) centre cell writes a second row there
        y5_at = (y5_cells == cells).all(2)
        y5 = fires & y5_at
        y5_rows = y5.long()
        y5_rows[0] += (fires[1:] & (y5_cells[1:] == cells[:1]).all(2)).sum(0)
        st_lo, st_hi = strict_tests(g, gxy - centre, centre, size - 1)
        strict = torch.stack((ones, st_lo[:, 0], st_lo[:, 1], st_hi[:, 0], st_hi[:, 1]))
        return cells, y5, strict, y5_rows
