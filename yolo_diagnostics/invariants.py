"""Invariant checks on any ``build_targets`` output.

Each check is a small function of one call's problem, targets and output, registered in
`INVARIANTS` with an id, a severity and a one-line meaning. Severity ``error`` fails,
``quirk`` fails only under ``strict`` (behaviour YOLOv5 itself has), ``info`` is reported.
The checks need no provenance: each output row is attributed to the target whose centre
``gij + tbox_xy``, wh, image and class it reproduces. Identical targets form one group whose
multiplicity is the number of rows each cell should get. When the output is the reference's
own rows, each its target's group's (`Context.exact`), a check reads what it looks for off
the reference's plan (`attribution_exact`): the same findings, without placing every row.

Three invariants need several calls (``equivariance``, ``reference``, ``device``); they are
registered here for the table and run by the contract.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import Tensor

from .assignment import Assignment, YoloV5Output, rank_in_group
from .attribution import Context
from .findings import any_of, missing_cells, per_level, row_text
from .problem import Problem
from .shapes import shape_violations
from .validate import validate_targets
from .violations import Invariant, Severity, Violation

# collisions: a table of every (image, anchor, cell) slot when it has at most this many slots,
# and at most _DENSE_PER_ROW per row (or _DENSE_FLOOR in all): filling a table mostly left
# empty costs less than sorting the rows, up to about that
_DENSE_SLOTS, _DENSE_PER_ROW, _DENSE_FLOOR = 1 << 22, 64, 1 << 16


INVARIANTS: dict[str, Invariant] = {}


def _register(id: str, severity: Severity, meaning: str):
    def wrap(fn: Callable[[Context], list[Violation]]) -> Callable[[Context], list[Violation]]:
        INVARIANTS[id] = Invariant(id, severity, meaning, fn)
        return fn

    return wrap


def check(
    problem: Problem, targets: Tensor, output: YoloV5Output, *, strict: bool = False
) -> list[Violation]:
    """Run every single-call invariant on one ``build_targets(p, targets)`` output.

    Returns the violations, checks in `INVARIANTS` order. With ``strict=True`` quirk findings
    are returned with severity ``error``. If the output's structure is wrong (``shapes``),
    only those violations are returned: the other checks cannot read it.
    Raises ``ValueError`` on invalid targets.
    """
    validate_targets(problem, targets)
    broken = shape_violations(problem, targets, output)
    if broken or targets.shape[0] == 0:  # no targets and (shapes) no rows: nothing to judge
        return broken
    ctx = Context(problem, targets, Assignment.from_yolov5(output).to(targets.device))
    found = [v for inv in INVARIANTS.values() if inv.run is not None for v in inv.run(ctx)]
    if strict:
        found = [v.with_severity("error") if v.severity == "quirk" else v for v in found]
    return found


INVARIANTS["shapes"] = Invariant(
    "shapes",
    "error",
    "per-level tensors agree in length, dtype, device; nt = 0 gives empty outputs",
)


# --------------------------------------------------------------------------- checks
@_register("bounds", "error", "0 <= b < B, 0 <= a < na, 0 <= gj < ny, 0 <= gi < nx")
def _bounds(ctx: Context) -> list[Violation]:
    if ctx.all_in_bounds:
        return []
    rows = (~ctx.in_bounds).nonzero().flatten()
    p = ctx.problem

    def describe(r: int) -> str:
        return (
            f"{row_text(ctx, r)} outside B={p.batch_size}, na={p.na}, "
            f"ny={int(ctx.size[ctx.table.level[r], 1])}, nx={int(ctx.size[ctx.table.level[r], 0])}"
        )

    return per_level(ctx, "bounds", "error", rows, describe)


@_register(
    "geometry",
    "error",
    "gij + tbox_xy = target centre (grid units); tbox_wh = target wh; anch = anchors[a]",
)
def _geometry(ctx: Context) -> list[Violation]:
    t = ctx.table
    found = []
    if not ctx.all_attributed:
        orphan = (ctx.in_bounds & (ctx.row_group < 0)).nonzero().flatten()
        found += per_level(
            ctx,
            "geometry",
            "error",
            orphan,
            lambda r: (
                f"{row_text(ctx, r)}: gij + tbox_xy and tbox_wh match no target of image "
                f"{int(t.image[r])} with class {int(t.cls[r])}"
            ),
        )
    if ctx.known:  # the reference's rows: anch is anchors[level, a] exactly (compared)
        return found
    # anchors[level, a] of in-bounds rows (out-of-bounds ones cannot be looked up); equal
    # values are close, so only when some differ is closeness computed
    rows = None if ctx.all_in_bounds else ctx.in_bounds.nonzero().flatten()
    flat = torch.add(t.anchor, t.level, alpha=ctx.problem.na)
    flat = flat if rows is None else flat.index_select(0, rows)
    expected = [e.index_select(0, flat).to(t.anch.dtype) for e in ctx.const.anchor_columns]
    anch = [t.anch[:, k] if rows is None else t.anch[:, k].index_select(0, rows) for k in (0, 1)]
    if bool(((anch[0] == expected[0]) & (anch[1] == expected[1])).all()):
        return found
    far = [~((a - e).abs() <= 1e-6 * e.abs()) for a, e in zip(anch, expected)]  # not isclose
    wrong = (far[0] | far[1]).nonzero().flatten()
    if len(wrong):
        wrong = wrong if rows is None else rows.index_select(0, wrong)
        found += per_level(
            ctx,
            "geometry",
            "error",
            wrong,
            lambda r: (
                f"{row_text(ctx, r)}: anch {t.anch[r].tolist()} != anchors[{int(t.level[r])}]"
                f"[{int(t.anchor[r])}] = {ctx.anchors[t.level[r], t.anchor[r]].tolist()} "
                f"(grid units)"
            ),
        )
    return found


@_register(
    "offset-range", "error", "tbox_xy within the head's reach [-g, 1 + g] ((-0.5, 1.5) for g = 0.5)"
)
def _offset_range(ctx: Context) -> list[Violation]:
    g = ctx.problem.g
    x, y = ctx.table.tbox[:, 0], ctx.table.tbox[:, 1]
    # fmin / fmax skip a NaN as the comparisons do: x < -g or y < -g is min(x, y) < -g
    out = (torch.fmin(x, y) < -g) | (torch.fmax(x, y) > 1 + g)
    if not any_of(out):
        return []
    return per_level(
        ctx,
        "offset-range",
        "error",
        out.nonzero().flatten(),
        lambda r: f"{row_text(ctx, r)}: tbox_xy outside [{0 - g:g}, {1 + g:g}]",
    )


@_register(
    "ratio",
    "error",
    "every row has max(r, 1/r) < anchor_t; every (target, anchor) pair under it is assigned",
)
def _ratio(ctx: Context) -> list[Violation]:
    if ctx.exact is not None:  # the reference's rows: kept pairs' (same expression), every centre
        return []
    t, p = ctx.table, ctx.problem
    # max(r, 1/r) over w and h, column by column: the values of YOLOv5's [n, 2] expression
    rw, rh = t.tbox[:, 2] / t.anch[:, 0], t.tbox[:, 3] / t.anch[:, 1]
    found = []
    if not _all_under(rw, rh, p.anchor_t):
        ratio = torch.maximum(torch.maximum(rw, 1 / rw), torch.maximum(rh, 1 / rh))
        over = ~(ratio < p.anchor_t)
        found = per_level(
            ctx,
            "ratio",
            "error",
            over.nonzero().flatten(),
            lambda i: (
                f"{row_text(ctx, i)}: max(r, 1/r) = {float(ratio[i]):.7g} "
                f"is not < anchor_t = {p.anchor_t:g}"
            ),
        )
    short = ctx.counts < ctx.owed
    short[1:] = False  # the centre cells
    return found + missing_cells(
        ctx,
        "ratio",
        "error",
        short,
        "(target, anchor) pair(s) under anchor_t have no row at their centre cell",
    )


def _all_under(rw: Tensor, rh: Tensor, limit: float) -> bool:
    """Whether ``max(r, 1 / r) < limit`` for every element of ``rw`` and ``rh``, from
    their extremes.

    Exact: for positive ``r``, ``1 / r`` (rounded) is largest at the least ``r``; a NaN
    or a ratio that is not positive answers False, and the caller looks row by row.
    """
    if len(rw) == 0:
        return True
    (low_w, high_w), (low_h, high_h) = torch.aminmax(rw), torch.aminmax(rh)
    low, high = torch.minimum(low_w, low_h), torch.maximum(high_w, high_h)
    return bool((low > 0) & (high < limit) & (1 / low < limit))


@_register(
    "neighbours",
    "error",
    "extra cells are 4-neighbours the problem's rule takes (yolov5, yolov5-v4, five-positive, "
    "centre), and none it requires is missing",
)
def _neighbours(ctx: Context) -> list[Violation]:
    if ctx.exact is not None:  # the reference's rows: the rule's cells as published, each
        return []
    rule = f"{ctx.problem.rule} rule (g = {ctx.problem.g:g})"
    pairs = ctx.pairs
    allowed = ctx.of_rows(pairs.y5 | pairs.strict)
    off = (ctx.row_pair >= 0) & ~allowed  # rows of pairs not kept are ratio's
    found = []
    if any_of(off):
        found = per_level(
            ctx,
            "neighbours",
            "error",
            ctx.attributed_where(off),
            lambda r: (
                f"{row_text(ctx, r)} is neither the centre cell nor a neighbour the "
                f"{rule} takes for its target"
            ),
        )
    short = pairs.y5 & pairs.strict & (ctx.counts < ctx.owed)
    short[0] = False  # the centre is the ratio check's
    found += missing_cells(
        ctx,
        "neighbours",
        "error",
        short,
        f"neighbour cell(s) the {rule} takes are missing",
    )
    return sorted(found, key=lambda v: v.level or 0)  # level by level, stable


# Checks that need several calls: the contract runs them.
for _id, _meaning in (
    (
        "equivariance",
        "permuting targets, adding other images' targets, shifting by a "
        "coarsest-stride cell or flipping (strict) change the output only as they should",
    ),
    ("reference", "output equals the reference's as a multiset (same semantics)"),
    (
        "scale",
        "every single-call invariant and the reference hold on training-scale batches "
        "(up to 10 000 targets, 64 images, 1 203 classes, crowded and idle images)",
    ),
    ("device", "CPU and each requested device agree"),
):
    INVARIANTS[_id] = Invariant(_id, "error", _meaning, single_call=False)


@_register(
    "duplicates",
    "quirk",
    "the same (level, image, anchor, gj, gi, target) twice (YOLOv5 at integer grid "
    "coordinates); an error where the problem's rule never writes that row twice",
)
def _duplicates(ctx: Context) -> list[Violation]:
    # Only rows in cells with more rows than targets, or off their pair's cells, can repeat
    # one; among them, the first mult rows of a slot belong to the group's mult targets, the
    # rest repeat them: as often as the rule's published code does (`Pairs.y5_rows`), a quirk.
    if ctx.exact is not None:  # the reference's rows: its second rows into a centre cell
        return _per_level_duplicates(ctx, ctx.exact.repeat_rows[:0], ctx.exact.repeat_rows)
    t = ctx.table
    full = ctx.counts > ctx.owed
    if not any_of(full) and bool(ctx.placed.all()):  # no row in either place
        return []
    repeatable = (ctx.row_kind < 0) | ctx.of_rows(full)
    at = repeatable.nonzero().flatten()  # positions in `attributed`
    rows = ctx.attributed[at]
    keys = ctx.slot_key(t.level[rows], ctx.row_group[rows], t.anchor[rows], t.gj[rows], t.gi[rows])
    order = torch.sort(keys, stable=True).indices
    keys, rows, at = keys[order], rows[order], at[order]
    rank = rank_in_group(keys)
    mult = ctx.mult[ctx.row_group[rows]]
    kind = ctx.row_kind[at]
    if len(ctx.pairs.u):
        written = ctx.pairs.y5_rows[kind.clamp(min=0), ctx.row_pair[at].clamp(min=0)]
    else:  # no pair is kept: every row is off the pairs' cells (kind -1), nothing to read
        written = torch.ones_like(kind)
    allowed = mult * torch.where(kind >= 0, written.clamp(min=1), 1)
    quirk = rows[(rank >= mult) & (rank < allowed)].sort().values
    error = rows[rank >= allowed].sort().values
    return _per_level_duplicates(ctx, error, quirk)


def _per_level_duplicates(ctx: Context, error: Tensor, quirk: Tensor) -> list[Violation]:
    rule = ctx.problem.rule
    return per_level(
        ctx,
        "duplicates",
        "error",
        error,
        lambda r: (
            f"{row_text(ctx, r)} repeats a row of the same target, which the {rule} "
            "rule never writes twice"
        ),
    ) + per_level(
        ctx,
        "duplicates",
        "quirk",
        quirk,
        lambda r: f"{row_text(ctx, r)} repeats a row of the same target",
    )


@_register(
    "missed-neighbour",
    "quirk",
    "a valid neighbour cell left out (YOLOv5 at gx == 1 and where n - gx rounds)",
)
def _missed_neighbour(ctx: Context) -> list[Violation]:
    what = "valid neighbour cell(s) left out"
    if ctx.exact is None:
        pairs = ctx.pairs
        short = pairs.strict & ~pairs.y5 & (ctx.counts < ctx.owed)
        return missing_cells(ctx, "missed-neighbour", "quirk", short, what)
    # the reference's rows: no row in a cell the published code does not take; the pairs of
    # the groups with such a cell, in the order of all pairs
    targets = ctx.exact.left_out_targets()
    if len(targets) == 0:
        return []
    pairs = ctx.kept_pairs(torch.unique(ctx.group.index_select(0, targets)))
    short = pairs.strict & ~pairs.y5
    return missing_cells(ctx, "missed-neighbour", "quirk", short, what, pairs)


@_register(
    "collisions", "info", "different targets competing for one (level, image, anchor, gj, gi) slot"
)
def _collisions(ctx: Context) -> list[Violation]:
    if (len(ctx.table) if ctx.all_attributed else len(ctx.attributed)) == 0:  # none attributed
        return []
    slot, space = _slots(ctx)
    if space > min(_DENSE_SLOTS, max(_DENSE_PER_ROW * len(slot), _DENSE_FLOOR)):
        slot = torch.unique(slot, return_inverse=True)[1]  # a sort, not a sparse table
        space = int(slot.max()) + 1
    if ctx.exact is not None or bool(ctx.placed.all()):
        # a slot is contested when it has more rows than the row's group has in its cell
        one = torch.ones(1, dtype=torch.int32, device=ctx.device)  # int32 tables: half
        in_slot = torch.zeros(space, dtype=torch.int32, device=ctx.device)
        in_slot.scatter_add_(0, slot, one.expand(len(slot)))
        if ctx.exact is not None:  # the reference's rows: as many as targets, but for the
            twice = slot.index_select(0, ctx.exact.repeat_rows)  # second rows into centres
            in_slot.scatter_add_(0, twice, -one.expand(len(twice)))
            single = len(ctx.mult) == len(ctx.group)  # every group one target
            own = 1 if single else ctx.mult.index_select(0, ctx.row_group)
        else:  # every row is in a candidate cell of its pair: `counts` there
            own = ctx.counts.reshape(-1).index_select(0, ctx.cell_at)
        contested = in_slot.index_select(0, slot) > own
    else:  # a slot is contested when the least and the greatest group in it differ
        group = ctx.of_attributed(ctx.row_group).int()  # int32 tables: half the bytes
        least = torch.full((space,), len(ctx.mult), dtype=torch.int32, device=ctx.device)
        greatest = torch.full((space,), -1, dtype=torch.int32, device=ctx.device)
        least.scatter_reduce_(0, slot, group, "amin")
        greatest.scatter_reduce_(0, slot, group, "amax")
        contested = least.index_select(0, slot) != greatest.index_select(0, slot)
    if not any_of(contested):
        return []
    return per_level(
        ctx,
        "collisions",
        "info",
        ctx.attributed_where(contested),
        lambda r: f"{row_text(ctx, r)} shares its slot with another target",
    )


def _slots(ctx: Context) -> tuple[Tensor, int]:
    """Each attributed row's (image, anchor, level, gj, gi) slot as one index, and how many
    slots there are; made in place, one row-long temporary. The rows are level by level:
    each level's offset and grid width are added to its slice, not gathered per row."""
    t, p = ctx.table, ctx.problem
    cells = [ny * nx for ny, nx in ctx.shapes]
    total = sum(cells)
    slot = torch.add(ctx.of_attributed(t.anchor), ctx.of_attributed(t.image), alpha=p.na)
    slot.mul_(total).add_(ctx.of_attributed(t.gi))
    gj, ends = ctx.of_attributed(t.gj), ctx.level_ends
    if not ctx.all_attributed:  # where each level's attributed rows end
        ends = torch.searchsorted(ctx.attributed, ends)
    bounds = [0, *ends.tolist()]
    for (_, nx), first, start, stop in zip(
        ctx.shapes, itertools.accumulate([0, *cells]), bounds, bounds[1:]
    ):
        slot[start:stop].add_(gj[start:stop], alpha=nx).add_(first)
    return slot, p.batch_size * p.na * total


@_register("coverage", "info", "targets with no positive at any level (best possible recall)")
def _coverage(ctx: Context) -> list[Violation]:
    if ctx.exact is not None:  # the reference's rows: a target has rows where it has pairs
        targets = ctx.exact.lost_targets()
    else:
        covered = torch.zeros(len(ctx.mult), dtype=torch.bool, device=ctx.device)
        covered.index_fill_(0, ctx.of_attributed(ctx.row_group), True)
        targets = ctx.members((~covered).nonzero().flatten())
    if len(targets) == 0:
        return []
    nt = len(ctx.group)
    return [
        Violation(
            "coverage",
            "info",
            None,
            (),
            targets,
            f"{len(targets)} of {nt} target(s) have no positive at any level "
            f"(realized recall {1 - len(targets) / nt:.3f}); first: target {int(targets[0])}",
        )
    ]
