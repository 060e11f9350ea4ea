"""What an output that is the reference's own rows holds, read off the reference's plan.

When the output is row for row the reference's (`attribution_known`) and every row is
attributed to its own target's group (`attribution.Context.exact`), the answers the checks
look for row by row follow from how the reference made the rows:

- each row is in a candidate cell of its kept pair, made by the same ratio and neighbour
  expressions on the same values the checks evaluate (`reference.Plan`), and each cell the
  published code takes holds its group's size in rows: ``ratio`` and ``neighbours`` have
  nothing to find, and the pairs need not be made;
- only where a published test fires onto its clamped centre cell is a cell written twice
  (`cells.Pairs.twice`): those second rows (`ExactRows.repeat_rows`) are YOLOv5's
  duplicates, and the only rows a slot holds beyond its groups' sizes;
- a cell the rule takes as meant but not as published (`ExactRows.left_out_targets`) gets
  no row;
- a target with no kept pair at any level gets no row (`ExactRows.lost_targets`).

All of it is tested per (level, target) of the plan, ``[nl, nt]``, with
`cells.candidate_cells` on the plan's gxy (the product YOLOv5 computes, as the pairs' is);
per row only where a cell is written twice.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from .assignment import Assignment
from .cells import Constants, candidate_cells
from .problem import Problem
from .reference import Known


class ExactRows:
    """The reference's rows of ``table``, whose provenance is ``known``: per (level,
    target) of its plan, ``kept Tensor[nl, nt]`` (some anchor under the ratio rule) and
    ``Tensor[5, nl, nt]`` masks of the cells written twice (``twice``) and left out
    (``left_out``), both of kept (level, target)s only."""

    def __init__(self, problem: Problem, const: Constants, table: Assignment, known: Known) -> None:
        self.table, self.known = table, known
        plan = known.plan
        self.nl, _, self.nt = plan.keep.shape  # [nl, na, nt]
        last = const.last[..., None]  # [2, nl, 1]
        _, y5, strict, twice = candidate_cells(problem, const, plan.gxy, last, plan.tests)
        self.kept = plan.keep.any(1)  # [nl, nt]
        self.twice = twice & self.kept  # [5, nl, nt]
        self.left_out = strict & ~y5 & self.kept

    @functools.cached_property
    def repeat_rows(self) -> Tensor:
        """``Tensor[m]`` int64, ascending: the rows the published code writes into a centre
        cell a second time (after the centre row itself: YOLOv5's order puts kind 0 first)."""
        if not bool(torch.count_nonzero(self.twice)):
            return self.known.target[:0]
        k, m = self.known, self.nl * self.nt
        at = torch.add(k.target, self.table.level, alpha=self.nt).add_(k.kind, alpha=m)
        return self.twice.view(-1).index_select(0, at).nonzero().flatten()

    def left_out_targets(self) -> Tensor:
        """``Tensor[m]`` int64, ascending: targets with a kept cell the rule takes as meant
        but not as published."""
        return self.left_out.any(0).any(0).nonzero().flatten()

    def lost_targets(self) -> Tensor:
        """``Tensor[m]`` int64, ascending: targets with no kept pair at any level."""
        return (~self.kept.any(0)).nonzero().flatten()
