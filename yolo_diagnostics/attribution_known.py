"""The target of each row without a search, when the output is the reference's own.

The yolov5 package and most forks write YOLOv5's rows in YOLOv5's own order, which the
reference (``semantics="yolov5"``) reproduces bit for bit with provenance: `known_targets`
compares the output with it and, when the output is row for row its rows, returns each
row's target and offset kind (`reference.Known`). `attribute_known` turns that into the
groups the tolerance search (`attribution_search`) would find, and is exact, not a guess:

- such a row reproduces its own target exactly. Its tbox is ``gxy - gij`` and the check's
  centre ``gij + tbox_xy``; with ``gij`` within 2 of ``gxy >= 0`` (and 0 or >= 1 where
  ``gxy < 0.5``) the difference is exact in the float dtype (its exponent is no smaller
  than ``gxy``'s), so the sum is ``gxy`` again, the very product ``target * gain`` the search
  compares with: distance 0, within any tolerance;
- so the search picks the row's own group unless another group of the same image and class
  lies in its candidate window at distance 0 too (the smallest group wins a tie). Groups
  whose key ``4 * id + x`` is more than `_separation` from their neighbours' cannot; among
  the others (*crowded*), a tie is two groups with the same (image, class, gxywh) at a
  level (`_tied`). Only then are the crowded groups searched for, one probe row each per
  level, and the rows are not *exact* (each its own target's group's).

Outputs that are not the reference's rows take the search for every row.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from .assignment import Assignment
from .attribution_search import Context, attribute_search, group_keys, row_window
from .cells import constants
from .problem import Problem
from .reference import Known, known_targets_of

_KEY_LIMIT = 1 << 24  # keys below it have float64 ulps under 4e-9, far below any window


def known_targets(problem: Problem, targets: Tensor, table: Assignment) -> Known | None:
    """Each row's target and offset kind (`reference.Known`), when ``table`` is row for row
    the reference's yolov5-semantics assignment of ``targets`` (already valid); else None.

    Column by column (`reference.known_targets_of`): the rows are never made, and a
    difference stops the comparison at its column.
    """
    if 4 * problem.batch_size * problem.num_classes >= _KEY_LIMIT:
        return None
    return known_targets_of(problem, targets, table)


def attribute_known(ctx: Context, target: Tensor) -> tuple[Tensor, bool]:
    """``Tensor[n]`` int64, each row's group as `attribution_search.attribute_search` finds
    it, for rows whose targets are known (`known_targets`); and whether that is every row's
    own target's group (*exact*: no row is taken for another group's)."""
    group = ctx.group.index_select(0, target)
    crowded = _crowded(ctx).nonzero().flatten()
    if not len(crowded) or not _tied(ctx, crowded):
        return group, True
    # A row reproduces its target exactly, so what the search finds for it depends on its
    # group and level alone: search once per crowded group and level, with a probe row at
    # cell (0, 0) whose tbox is the target's gxywh (the same keys and distances as the rows)
    nl = len(ctx.shapes)
    probes = _probes(ctx, crowded.repeat_interleave(nl), torch.arange(nl).repeat(len(crowded)))
    in_bounds = torch.ones(len(probes), dtype=torch.bool, device=ctx.device)
    searched = attribute_search(ctx, probes, in_bounds).view(-1, nl)
    if bool((searched == crowded[:, None]).all()):  # every probe found its own group
        return group, True
    found = torch.arange(len(ctx.mult), device=ctx.device).repeat_interleave(nl)
    found[crowded[:, None] * nl + torch.arange(nl, device=ctx.device)] = searched
    return found.index_select(0, torch.add(ctx.table.level, group, alpha=nl)), False


def _tied(ctx: Context, crowded: Tensor) -> bool:
    """Whether two of the ``crowded`` groups give the same (image, class, gxywh) at some
    level. A row reproduces its own group's gxywh exactly (distance 0), and the search takes
    the nearest group, the smallest on a tie: another group is taken only at distance 0."""
    nl, gt = len(ctx.shapes), ctx.group_targets.index_select(0, crowded)
    txywh = ctx.txywh(crowded) + 0.0  # [nl, c, 4], YOLOv5's products; -0.0 is 0.0
    level = torch.arange(nl, device=ctx.device, dtype=txywh.dtype)[:, None, None]
    ids = gt[None, :, :2].to(txywh.dtype)
    rows = torch.cat((level.expand(-1, len(gt), 1), ids.expand(nl, -1, -1), txywh), 2)
    return len(torch.unique(rows.view(-1, 7), dim=0)) < nl * len(gt)


def _probes(ctx: Context, group: Tensor, level: Tensor) -> Assignment:
    """One row per (group, level): at cell (0, 0) of anchor 0, tbox the group's gxywh."""
    level = level.to(ctx.device)
    gt = ctx.group_targets.index_select(0, group)
    tbox = gt[:, 2:6] * ctx.gain.index_select(0, level)  # YOLOv5's targets * gain
    zero = torch.zeros_like(level)
    ids = gt[:, :2].long()
    return Assignment(
        level=level,
        image=ids[:, 0],
        anchor=zero,
        gj=zero,
        gi=zero,
        cls=ids[:, 1],
        tbox=tbox,
        anch=torch.ones_like(tbox[:, :2]),
        target=zero - 1,
        offset=zero - 1,
        num_levels=len(ctx.shapes),
    )


def _crowded(ctx: Context) -> Tensor:
    """``Tensor[U]`` bool: groups with another group's key within `_separation`."""
    gkey = group_keys(ctx)
    close = (gkey[1:] - gkey[:-1]) <= _separation(ctx.problem, str(ctx.device))
    crowded = torch.zeros(len(gkey), dtype=torch.bool, device=ctx.device)
    crowded[1:] |= close
    crowded[:-1] |= close
    return crowded


@functools.lru_cache(maxsize=64)
def _separation(problem: Problem, device: str) -> float:
    """Keys farther apart than this never share a candidate window: twice the widest
    window, plus a margin far above the gap between a row's key and its own group's (at
    most ``2 ** -24`` of x from the float32 product, and the keys' float64 rounding).
    A problem's constant."""
    window, _ = row_window(constants(problem, device), torch.arange(problem.nl, device=device))
    return 2 * float(window.max()) + 1e-6
