"""Which target each row of any ``build_targets`` output comes from, and what it should get.

The invariant checks need no provenance: a row is attributed to the target whose centre
``gij + tbox_xy``, wh, image and class it reproduces within a few float32 ulps. Identical
targets form one *group* whose multiplicity is the number of rows each of its cells should
get. `Context` computes this once per call, in O(n log n) of rows and targets:

- groups by a sort of the target rows: one int64 sort on (image, class, x) when that alone
  orders them (no two targets share it), else a lexicographic sort of whole rows;
- the target of each row: `attribution_known` reads it from the reference's provenance when
  the output is row for row the reference's (YOLOv5's own row order), else
  `attribution_search` finds it by a tolerance search; both give the same answer;
- the (group, anchor) pairs under the ratio rule and their five candidate cells
  (`cells`), for all levels at once, and for each row its pair and cell -- made when first
  read: when every row is the reference's own and its target's group's (``exact``), the
  checks read what they need off the reference's plan instead (`attribution_exact`).

Speed: per-row work is a few dozen tensor ops, each an ``index_select`` or an elementwise op
on 1-D columns. ``x[index]`` on a small table, reductions over a last dim of 2 or 4 and
broadcasts with a short inner dim are several times slower on the CPU and are avoided.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from .assignment import Assignment, first_of_run, lexsort
from .attribution_exact import ExactRows
from .attribution_known import attribute_known, known_targets
from .attribution_search import attribute_search
from .cells import Pairs, candidate_cells, constants
from .problem import Problem
from .rules import published_tests


class Context:
    """What every check needs, computed once: the table, target groups and row attribution.

    ``table`` is level by level, as `Assignment.from_yolov5` makes it, and ``targets`` are
    valid. ``group[t]`` is the group of target ``t`` (identical rows share one), ``mult[u]``
    its size, ``row_group[r]`` the group row ``r`` reproduces (-1 if none or out of bounds),
    ``attributed`` the rows with a group (``all_attributed``: every row). ``pairs`` are the
    (level, anchor, group) pairs the ratio rule keeps, ``owed[p]`` the rows each of their
    cells should get (the group's size); for each attributed row ``row_pair`` and
    ``row_kind`` say which pair and candidate cell it is (-1: none); ``counts Tensor[5, P]``
    how many rows each candidate cell of each pair got. ``known`` says whether the rows'
    targets were read from the reference's provenance rather than searched for: the fields
    are the same either way.

    ``exact`` (an `ExactRows`, else None): known, and every row is attributed to its own
    target's group; the checks then read what they look for off the reference's plan. The
    pairs, the per-row placement (``row_pair``, ``row_kind``, ``placed``, ``cell_at``) and
    ``counts`` are made when first read: the checks do not read them then.
    """

    def __init__(self, problem: Problem, targets: Tensor, table: Assignment) -> None:
        self.problem, self.targets, self.table = problem, targets, table
        self.device = targets.device
        self.shapes = problem.feature_shapes
        self.const = const = constants(problem, str(self.device))
        self.anchors, self.size, self.gain, self.tol = (
            const.anchors,
            const.size,
            const.gain,
            const.tol,
        )
        # the table is level by level (`Assignment.from_yolov5`): where each level's rows end
        self.level_ends = torch.bincount(table.level, minlength=len(self.shapes)).cumsum(0)
        self._group_targets(targets)
        self.group_keys: Tensor | None = None  # `attribution_search.group_keys`, made once
        self._attribute_rows()

    def _attribute_rows(self) -> None:
        """``in_bounds``, ``row_group`` and the attributed rows; ``known`` (the rows'
        targets read from the reference, `known_targets`) or searched for."""
        table = self.table
        known = None
        if len(self.mult) and len(table):
            known = known_targets(self.problem, self.targets, table)
        self.known = known is not None
        self.exact: ExactRows | None = None
        if self.known:  # the reference's rows: valid image ids, anchors, clamped cells
            self.in_bounds = torch.ones(len(table), dtype=torch.bool, device=self.device)
            self.all_in_bounds = True
        else:
            self.in_bounds = _in_bounds(table, self.problem, self.size)
            self.all_in_bounds = bool(self.in_bounds.all())
        if len(self.mult) == 0 or len(table) == 0:
            self.row_group = torch.full_like(table.level, -1)
        elif known is not None:
            self.row_group, exact = attribute_known(self, known.target)
            if exact:
                self.exact = ExactRows(self.problem, self.const, table, known)
        else:
            self.row_group = attribute_search(self)
        has = self.row_group >= 0
        self.all_attributed = bool(has.all())
        self._attributed = None if self.all_attributed else has.nonzero().flatten()

    @functools.cached_property
    def pairs(self) -> Pairs:
        """Every level's kept (level, anchor, group) pairs (`kept_pairs`)."""
        return self.kept_pairs()

    @functools.cached_property
    def owed(self) -> Tensor:
        """``Tensor[P]`` int64, the rows each candidate cell of each pair should get."""
        return self.mult.index_select(0, self.pairs.u)

    @functools.cached_property
    def _placement(self) -> tuple[Tensor, Tensor]:
        return self._place_rows()

    @property
    def row_pair(self) -> Tensor:
        """``Tensor[A]`` int64, each attributed row's kept pair (`_place_rows`)."""
        return self._placement[0]

    @property
    def row_kind(self) -> Tensor:
        """``Tensor[A]`` int64, each attributed row's candidate cell (`_place_rows`)."""
        return self._placement[1]

    @functools.cached_property
    def _counted(self) -> tuple[Tensor, Tensor, Tensor]:
        """``placed`` (attributed rows in a candidate cell of their pair), ``cell_at`` (a
        flat index into ``Tensor[5, P]`` tables at each row's own cell, 0 for the unplaced)
        and the rows per cell: one bincount, no sort."""
        n = len(self.pairs.u)
        placed = self.row_kind >= 0
        # kind * P + pair is negative exactly for the unplaced rows (kind -1, pair < P)
        at = torch.add(self.row_pair, self.row_kind, alpha=n)
        cell_at = at.clamp(min=0)
        spare = torch.bincount(at.clamp_(min=-1).add_(1), minlength=5 * n + 1)  # 0: unplaced
        return placed, cell_at, spare[1:].view(5, n)

    @property
    def placed(self) -> Tensor:
        """``Tensor[A]`` bool, attributed rows in a candidate cell of their pair."""
        return self._counted[0]

    @property
    def cell_at(self) -> Tensor:
        """``Tensor[A]`` int64, a flat index into ``Tensor[5, P]`` at each row's cell."""
        return self._counted[1]

    @property
    def counts(self) -> Tensor:
        """``Tensor[5, P]`` int64, the attributed rows in each candidate cell of each pair."""
        return self._counted[2]

    @property
    def attributed(self) -> Tensor:
        """``Tensor[A]`` int64, the rows with a group, ascending (made on demand when it is
        every row)."""
        if self._attributed is None:
            self._attributed = torch.arange(len(self.table), device=self.device)
        return self._attributed

    def attributed_where(self, mask: Tensor) -> Tensor:
        """The ``attributed`` rows where ``mask Tensor[A]`` holds, ascending."""
        if self.all_attributed:
            return mask.nonzero().flatten()
        return self.attributed[mask]

    def _group_targets(self, targets: Tensor) -> None:
        found = _float32_order(targets, self.problem)
        if found is None:  # other dtypes: whole rows, column by column
            order = lexsort(targets)
            start = first_of_run(targets[order])
        else:
            order, start = found
        if start is None:  # every target its own group
            nt = len(order)
            self.group = torch.empty_like(order)
            self.group[order] = torch.arange(nt, device=self.device)
            self.group_targets = targets.index_select(0, order)
            self.mult = torch.ones(nt, dtype=torch.int64, device=self.device)
            return
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

    def of_attributed(self, column: Tensor) -> Tensor:
        """A per-row column of the table read at the ``attributed`` rows (itself when every
        row is attributed: no gather)."""
        return column if self.all_attributed else column.index_select(0, self.attributed)

    def of_rows(self, cell_mask: Tensor) -> Tensor:
        """``Tensor[5, P]`` bool over the pairs' candidate cells, read at each attributed
        row's own cell: ``Tensor[len(attributed)]``, False for rows off every cell."""
        if len(self.pairs.u) == 0:
            return self.placed
        return cell_mask.reshape(-1).index_select(0, self.cell_at) & self.placed

    def members(self, groups: Tensor) -> Tensor:
        """``Tensor[m]`` int64, the target indices of the given groups, ascending."""
        chosen = torch.zeros(len(self.mult), dtype=torch.bool, device=self.device)
        chosen.index_fill_(0, groups, True)  # a mask, not torch.isin: slowest of all at 100k
        return chosen.index_select(0, self.group).nonzero().flatten()

    # ----------------------------------------------------------------- what is owed
    def kept_pairs(self, groups: Tensor | None = None) -> Pairs:
        """Every level's (anchor, group) pairs under the ratio rule (YOLOv5's float
        expression) with their candidate cells; of the given groups only (ascending), in
        the same order, when ``groups`` is given."""
        gt, gain = self.group_targets, self.gain
        if groups is not None:
            gt = gt.index_select(0, groups)
        # max(r, 1 / r) over w and h, one [nl, na, U] plane each: the values of YOLOv5's
        # ``targets * gain`` and [nl, na, U, 2] ratio, without a reduction over a dim of 2
        anchors = self.anchors[..., None]  # [nl, na, 2, 1]
        rw = (gt[:, 4][None] * gain[:, 2:3])[:, None] / anchors[:, :, 0]
        rh = (gt[:, 5][None] * gain[:, 3:4])[:, None] / anchors[:, :, 1]
        worst = torch.maximum(torch.maximum(rw, 1 / rw), torch.maximum(rh, 1 / rh))
        level, a, u = (worst < self.problem.anchor_t).nonzero().unbind(1)
        # gxy of each pair: the product YOLOv5 computes, of the same two factors
        xy = torch.stack(
            [gt[:, 2 + k].index_select(0, u) * gain[:, k].index_select(0, level) for k in (0, 1)]
        )
        const = self.const
        grid, last = const.grid.index_select(1, level), const.last.index_select(1, level)
        published = published_tests(self.problem.rule, self.problem.g, xy, grid)
        cells = candidate_cells(self.problem, const, xy, last, published)
        return Pairs(level, a, u if groups is None else groups.index_select(0, u), *cells)

    def _place_rows(self) -> tuple[Tensor, Tensor]:
        """Per attributed row, its kept pair (index into `pairs`, -1 if its (level, group,
        anchor) is not under the ratio rule) and which of the pair's five candidate cells it
        is in (`KINDS` index, -1 if none): rows are counted per (kind, pair) with no sort."""
        t, pairs, na = self.table, self.pairs, self.problem.na
        groups, n = len(self.mult), len(pairs.u)
        lookup = torch.full((len(self.shapes) * groups * na,), -1, device=self.device)
        lookup[(pairs.level * groups + pairs.u) * na + pairs.a] = torch.arange(
            n, device=self.device
        )
        level, anchor = self.of_attributed(t.level), self.of_attributed(t.anchor)
        group = self.of_attributed(self.row_group)
        pair = lookup.index_select(0, (level * groups + group) * na + anchor)
        if n == 0:
            return pair, pair.clone()
        # each row's offset from its pair's centre cell, plus 2 (the centre minus 2 is read
        # at pair + 1; first, for pair -1, a cell so far off the grid that attributed rows,
        # which are in the grid, are 2 or more away from it)
        corner = torch.cat((pairs.centre.new_full((2, 1), -4), pairs.centre - 2), 1)
        at = pair + 1
        # in place: each n-long buffer made is a fresh allocation (page faults at large n)
        dx = corner[0].index_select(0, at)
        dx = torch.sub(self.of_attributed(t.gi), dx, out=dx)
        dy = corner[1].index_select(0, at)
        dy = torch.sub(self.of_attributed(t.gj), dy, out=dy)
        # `kind_at` at (dx + 2) * 5 + dy + 2, cells two or more away clamped to two away
        at = dy.clamp_(0, 4).add_(dx.clamp_(0, 4), alpha=5)
        return pair, self.const.kind_at.index_select(0, at)


def _in_bounds(table: Assignment, problem: Problem, size: Tensor) -> Tensor:
    """``Tensor[n]`` bool: 0 <= b < B, 0 <= a < na, 0 <= gj < ny, 0 <= gi < nx per row;
    ``size Tensor[nl, 2]`` (nx, ny) per level. An integer is in [0, m] when clamping it
    there leaves it as it is."""
    last = (size - 1).index_select(0, table.level)  # [n, 2] (nx - 1, ny - 1)
    inside = table.image.clamp(0, problem.batch_size - 1) == table.image
    inside &= table.anchor.clamp(0, problem.na - 1) == table.anchor
    inside &= torch.minimum(table.gj.clamp(min=0), last[:, 1]) == table.gj
    inside &= torch.minimum(table.gi.clamp(min=0), last[:, 0]) == table.gi
    return inside


def _float32_order(targets: Tensor, problem: Problem) -> tuple[Tensor, Tensor | None] | None:
    """The stable lexicographic order of valid float32 targets ``Tensor[nt, 6]``, and
    ``Tensor[nt]`` bool where a run of identical ones starts in it (None: every row does);
    None for other dtypes and for ids too many to share 64 bits with x's.

    Valid targets have integer ids and x, y, w, h >= 0, whose float32 bits sort as their
    values (+ 0.0 makes -0.0 +0.0). One int64 sort on (image, class, x) orders them; only
    the rows of runs that share it are sorted again on (y, w, h), in place of the runs.
    """
    nc = problem.num_classes
    if targets.dtype != torch.float32 or problem.batch_size * nc >= 1 << 32:
        return None
    bits = (targets[:, 2:6] + 0.0).view(torch.int32).long()
    ids = targets[:, 0].long() * nc + targets[:, 1].long()
    first, order = torch.sort(ids << 30 | bits[:, 0], stable=True)  # x's bits < 2 ** 30
    tied = first[1:] == first[:-1]
    if not bool(torch.count_nonzero(tied)):
        return order, None
    rest = torch.stack((bits[:, 1] << 32 | bits[:, 2], bits[:, 3]), 1)  # (y, w), h
    in_run = torch.zeros(len(first), dtype=torch.bool, device=first.device)
    in_run[1:] |= tied
    in_run[:-1] |= tied
    at = in_run.nonzero().flatten()
    rows = order[at]
    order[at] = rows[lexsort(torch.cat((first[at, None], rest[rows]), 1))]
    # a run starts where (image, class, x) changes, or within a tie where (y, w, h) does
    start = torch.ones_like(in_run)
    start[1:] = ~tied
    after = tied.nonzero().flatten() + 1
    start[after] = (rest[order[after]] != rest[order[after - 1]]).any(1)
    return order, start
