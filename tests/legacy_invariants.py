"""Frozen: yolo_diagnostics/invariants.py as of commit 7bf815a, before the checks were made
faster, kept unchanged (imports aside) as the oracle of tests/test_check_equivalence.py.

Invariant checks on any ``build_targets`` output.

Each check is a small function of one call's problem, targets and output, registered in
`INVARIANTS` with an id, a severity and a one-line meaning. Severity ``error`` fails,
``quirk`` fails only under ``strict`` (behaviour YOLOv5 itself has), ``info`` is reported.
The checks need no provenance: each output row is attributed to the target whose centre
``gij + tbox_xy``, wh, image and class it reproduces. Identical targets form one group whose
multiplicity is the number of rows each cell should get.

Three invariants need several calls (``equivariance``, ``reference``, ``device``); they are
registered here for the table and run by the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from legacy_attribution import Context
from torch import Tensor

from yolo_diagnostics.assignment import Assignment, YoloV5Output, rank_in_group
from yolo_diagnostics.problem import Problem
from yolo_diagnostics.validate import validate_targets

Severity = Literal["error", "quirk", "info"]

_DENSE_SLOTS = 1 << 22  # collisions: at most this large a table of all (image, anchor, cell)


@dataclass(frozen=True)
class Violation:
    """One finding: which check, how severe, where, and a one-line human message.

    ``rows`` index the canonical table (`Assignment.from_yolov5` order: level by level, in
    output order); ``targets`` index the input targets.
    """

    check: str
    severity: Severity
    level: int | None
    rows: tuple[int, ...]
    targets: tuple[int, ...]
    message: str

    @property
    def fails(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = "" if self.level is None else f" level {self.level}"
        return f"[{self.severity}] {self.check}{where}: {self.message}"


@dataclass(frozen=True)
class Invariant:
    """A registered check. ``single_call`` checks are judged from one output by `check`;
    the others compare several calls and are run by the contract."""

    id: str
    severity: Severity
    meaning: str
    run: Callable[[Context], list[Violation]] | None = field(default=None, repr=False)
    single_call: bool = True


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
    if broken:
        return broken
    ctx = Context(problem, targets, Assignment.from_yolov5(output).to(targets.device))
    found = [v for inv in INVARIANTS.values() if inv.run is not None for v in inv.run(ctx)]
    if strict:
        found = [_escalate(v) for v in found]
    return found


def _escalate(v: Violation) -> Violation:
    if v.severity != "quirk":
        return v
    return Violation(v.check, "error", v.level, v.rows, v.targets, v.message)


# --------------------------------------------------------------------------- shapes
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


INVARIANTS["shapes"] = Invariant(
    "shapes",
    "error",
    "per-level tensors agree in length, dtype, device; nt = 0 gives empty outputs",
)


def _per_level(
    ctx: Context, check: str, severity: Severity, rows: Tensor, describe: Callable[[int], str]
) -> list[Violation]:
    """Group offending rows by level into one violation each; ``describe(first_row)``.

    The violation's targets are those the rows are attributed to.
    """
    found: list[Violation] = []
    if len(rows) == 0:
        return found
    levels = ctx.table.level[rows]
    for level in sorted(set(levels.tolist())):
        here = rows[levels == level]
        groups = ctx.row_group[here]
        members = ctx.members(groups[groups >= 0])
        found.append(
            Violation(
                check,
                severity,
                level,
                tuple(here.tolist()),
                members,
                f"{len(here)} row(s); first: {describe(int(here[0]))}",
            )
        )
    return found


def _row_text(ctx: Context, r: int) -> str:
    t = ctx.table
    tb = ", ".join(f"{v:.6g}" for v in t.tbox[r].tolist())
    return (
        f"row {r} (b={int(t.image[r])}, a={int(t.anchor[r])}, gj={int(t.gj[r])}, "
        f"gi={int(t.gi[r])}, cls={int(t.cls[r])}, tbox=[{tb}])"
    )


def _missing_cells(
    ctx: Context, check_id: str, severity: Severity, take: Tensor, what: str
) -> list[Violation]:
    """Per level, one violation if cells a rule takes have fewer rows than their group has
    targets. ``take`` is ``Tensor[5, n]`` over the candidate cells of `Context.pairs`."""
    pairs = ctx.pairs
    short = take & (ctx.counts < ctx.mult[pairs.u])
    if not short.any():
        return []
    kind, p = short.nonzero(as_tuple=True)
    c = pairs.cells[kind, p]
    found = []
    levels = pairs.level[p]
    for level in sorted(set(levels.tolist())):
        here = levels == level
        lp, lc, u = p[here], c[here], pairs.u[p[here]]
        gxy = ctx.txywh(u[:1])[level, 0, :2].tolist()
        found.append(
            Violation(
                check_id,
                severity,
                level,
                (),
                ctx.members(u),
                f"{len(lp)} {what}; first: target {ctx.members(u[:1])[0]} at gxy = "
                f"({gxy[0]:.9g}, {gxy[1]:.9g}) anchor {int(pairs.a[lp[0]])} lacks (gj, gi) = "
                f"({int(lc[0, 1])}, {int(lc[0, 0])})",
            )
        )
    return found


# --------------------------------------------------------------------------- checks
@_register("bounds", "error", "0 <= b < B, 0 <= a < na, 0 <= gj < ny, 0 <= gi < nx")
def _bounds(ctx: Context) -> list[Violation]:
    rows = (~ctx.in_bounds).nonzero().flatten()
    p = ctx.problem

    def describe(r: int) -> str:
        return (
            f"{_row_text(ctx, r)} outside B={p.batch_size}, na={p.na}, "
            f"ny={int(ctx.size[ctx.table.level[r], 1])}, nx={int(ctx.size[ctx.table.level[r], 0])}"
        )

    return _per_level(ctx, "bounds", "error", rows, describe)


@_register(
    "geometry",
    "error",
    "gij + tbox_xy = target centre (grid units); tbox_wh = target wh; anch = anchors[a]",
)
def _geometry(ctx: Context) -> list[Violation]:
    t = ctx.table
    found = []
    orphan = (ctx.in_bounds & (ctx.row_group < 0)).nonzero().flatten()
    found += _per_level(
        ctx,
        "geometry",
        "error",
        orphan,
        lambda r: (
            f"{_row_text(ctx, r)}: gij + tbox_xy and tbox_wh match no target of image "
            f"{int(t.image[r])} with class {int(t.cls[r])}"
        ),
    )
    rows = ctx.in_bounds.nonzero().flatten()
    expected = ctx.anchors[t.level[rows], t.anchor[rows]].to(t.anch.dtype)
    bad = ~((t.anch[rows] - expected).abs() <= 1e-6 * expected.abs()).all(1)  # isclose
    wrong = rows[bad]
    found += _per_level(
        ctx,
        "geometry",
        "error",
        wrong,
        lambda r: (
            f"{_row_text(ctx, r)}: anch {t.anch[r].tolist()} != anchors[{int(t.level[r])}]"
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
    xy = ctx.table.tbox[:, :2]
    rows = ((xy < -g) | (xy > 1 + g)).any(1).nonzero().flatten()
    return _per_level(
        ctx,
        "offset-range",
        "error",
        rows,
        lambda r: f"{_row_text(ctx, r)}: tbox_xy outside [{0 - g:g}, {1 + g:g}]",
    )


@_register(
    "ratio",
    "error",
    "every row has max(r, 1/r) < anchor_t; every (target, anchor) pair under it is assigned",
)
def _ratio(ctx: Context) -> list[Violation]:
    t, p = ctx.table, ctx.problem
    r = t.tbox[:, 2:4] / t.anch
    ratio = torch.max(r, 1 / r).amax(1)
    over = (~(ratio < p.anchor_t)).nonzero().flatten()
    found = _per_level(
        ctx,
        "ratio",
        "error",
        over,
        lambda i: (
            f"{_row_text(ctx, i)}: max(r, 1/r) = {float(ratio[i]):.7g} "
            f"is not < anchor_t = {p.anchor_t:g}"
        ),
    )
    centre = torch.zeros_like(ctx.pairs.y5)
    centre[0] = True
    return found + _missing_cells(
        ctx,
        "ratio",
        "error",
        centre,
        "(target, anchor) pair(s) under anchor_t have no row at their centre cell",
    )


@_register(
    "neighbours",
    "error",
    "extra cells are 4-neighbours the problem's rule takes (yolov5, yolov5-v4, five-positive, "
    "centre), and none it requires is missing",
)
def _neighbours(ctx: Context) -> list[Violation]:
    rule = f"{ctx.problem.rule} rule (g = {ctx.problem.g:g})"
    pairs, pair = ctx.pairs, ctx.row_pair
    allowed = ctx.of_rows(pairs.y5 | pairs.strict)
    bad = ctx.attributed[(pair >= 0) & ~allowed]  # rows of pairs not kept are ratio's
    found = _per_level(
        ctx,
        "neighbours",
        "error",
        bad,
        lambda r: (
            f"{_row_text(ctx, r)} is neither the centre cell nor a neighbour the "
            f"{rule} takes for its target"
        ),
    )
    required = pairs.y5 & pairs.strict
    required[0] = False  # the centre is the ratio check's
    found += _missing_cells(
        ctx,
        "neighbours",
        "error",
        required,
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
    t = ctx.table
    full = ctx.of_rows(ctx.counts > ctx.mult[ctx.pairs.u])
    at = ((ctx.row_kind < 0) | full).nonzero().flatten()  # positions in `attributed`
    if not len(at):
        return []
    rows = ctx.attributed[at]
    keys = ctx.slot_key(t.level[rows], ctx.row_group[rows], t.anchor[rows], t.gj[rows], t.gi[rows])
    order = torch.sort(keys, stable=True).indices
    keys, rows, at = keys[order], rows[order], at[order]
    rank = rank_in_group(keys)
    mult = ctx.mult[ctx.row_group[rows]]
    kind = ctx.row_kind[at]
    written = ctx.pairs.y5_rows[kind.clamp(min=0), ctx.row_pair[at].clamp(min=0)]
    allowed = mult * torch.where(kind >= 0, written.clamp(min=1), 1)
    quirk = rows[(rank >= mult) & (rank < allowed)].sort().values
    error = rows[rank >= allowed].sort().values
    rule = ctx.problem.rule
    return _per_level(
        ctx,
        "duplicates",
        "error",
        error,
        lambda r: (
            f"{_row_text(ctx, r)} repeats a row of the same target, which the {rule} "
            "rule never writes twice"
        ),
    ) + _per_level(
        ctx,
        "duplicates",
        "quirk",
        quirk,
        lambda r: f"{_row_text(ctx, r)} repeats a row of the same target",
    )


@_register(
    "missed-neighbour",
    "quirk",
    "a valid neighbour cell left out (YOLOv5 at gx == 1 and where n - gx rounds)",
)
def _missed_neighbour(ctx: Context) -> list[Violation]:
    pairs = ctx.pairs
    left_out = pairs.strict & ~pairs.y5
    return _missing_cells(
        ctx, "missed-neighbour", "quirk", left_out, "valid neighbour cell(s) left out"
    )


@_register(
    "collisions", "info", "different targets competing for one (level, image, anchor, gj, gi) slot"
)
def _collisions(ctx: Context) -> list[Violation]:
    t, rows, p = ctx.table, ctx.attributed, ctx.problem
    cells = torch.tensor([0] + [ny * nx for ny, nx in ctx.shapes], device=ctx.device)
    first, total = cells.cumsum(0)[:-1], int(cells.sum())
    level = t.level[rows]
    cell = first[level] + t.gj[rows] * ctx.size[level, 0] + t.gi[rows]
    slot = (t.image[rows] * p.na + t.anchor[rows]) * total + cell
    space = p.batch_size * p.na * total
    if not len(rows):
        return []
    if space > min(_DENSE_SLOTS, 4 * len(rows)):  # a sort, not a table mostly left empty
        slot = torch.unique(slot, return_inverse=True)[1]
        space = int(slot.max()) + 1 if len(slot) else 0
    # a slot is contested when the least and the greatest group in it differ
    group = ctx.row_group[rows]
    least = torch.full((space,), len(ctx.mult), device=ctx.device)
    greatest = torch.full((space,), -1, device=ctx.device)
    least.scatter_reduce_(0, slot, group, "amin")
    greatest.scatter_reduce_(0, slot, group, "amax")
    shared = rows[least[slot] != greatest[slot]]
    return _per_level(
        ctx,
        "collisions",
        "info",
        shared,
        lambda r: f"{_row_text(ctx, r)} shares its slot with another target",
    )


@_register("coverage", "info", "targets with no positive at any level (best possible recall)")
def _coverage(ctx: Context) -> list[Violation]:
    covered = torch.zeros(len(ctx.mult), dtype=torch.bool, device=ctx.device)
    covered[ctx.row_group[ctx.attributed]] = True
    lost = (~covered).nonzero().flatten()
    if len(lost) == 0:
        return []
    targets = ctx.members(lost)
    nt = len(ctx.group)
    return [
        Violation(
            "coverage",
            "info",
            None,
            (),
            targets,
            f"{len(targets)} of {nt} target(s) have no positive at any level "
            f"(realized recall {1 - len(targets) / nt:.3f}); first: target {targets[0]}",
        )
    ]
