"""Invariant checks on any ``build_targets`` output.

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
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from .assignment import Assignment, YoloV5Output, rank_in_group
from .problem import Problem
from .validate import validate_targets

Severity = Literal["error", "quirk", "info"]

_KINDS = ((0, 0), (-1, 0), (0, -1), (1, 0), (0, 1))  # centre, left, up, right, down as (dx, dy)


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
    run: Callable[[_Context], list[Violation]] | None = field(default=None, repr=False)
    single_call: bool = True


INVARIANTS: dict[str, Invariant] = {}


def _register(id: str, severity: Severity, meaning: str):
    def wrap(fn: Callable[[_Context], list[Violation]]) -> Callable[[_Context], list[Violation]]:
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
    ctx = _Context(problem, targets, Assignment.from_yolov5(output).to(targets.device))
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


# --------------------------------------------------------------------------- context
class _Pairs(NamedTuple):
    """A level's kept (anchor ``a``, group ``u``) pairs, their five candidate ``cells``
    ``Tensor[5, n, 2]`` (gi, gj) and which of them YOLOv5's rule and the strict rule take."""

    a: Tensor
    u: Tensor
    cells: Tensor
    y5: Tensor
    strict: Tensor


class _Context:
    """What every check needs, computed once: the table, target groups and row attribution.

    ``group[t]`` is the group of target ``t`` (identical rows share one), ``mult[u]`` its
    size, ``row_group[r]`` the group row ``r`` reproduces (-1 if none or out of bounds).
    """

    def __init__(self, problem: Problem, targets: Tensor, table: Assignment) -> None:
        self.problem, self.targets, self.table = problem, targets, table
        self.device = targets.device
        self.dtype = torch.promote_types(targets.dtype, torch.float32)
        self.anchors = problem.anchors_grid(self.device)
        unique, self.group, self.mult = torch.unique(
            targets, dim=0, return_inverse=True, return_counts=True
        )
        self.group_targets = unique
        self.shapes = problem.feature_shapes
        ny = torch.tensor([s[0] for s in self.shapes], device=self.device)
        nx = torch.tensor([s[1] for s in self.shapes], device=self.device)
        self.row_ny, self.row_nx = ny[table.level], nx[table.level]
        self.in_bounds = (
            (table.image >= 0)
            & (table.image < problem.batch_size)
            & (table.anchor >= 0)
            & (table.anchor < problem.na)
            & (table.gj >= 0)
            & (table.gj < self.row_ny)
            & (table.gi >= 0)
            & (table.gi < self.row_nx)
        )
        self.row_group = self._attribute()
        # attributed rows and their (level, group, anchor, gj, gi) slot keys
        self.attributed = (self.row_group >= 0).nonzero().flatten()
        rows = self.attributed
        self.slot_keys = _slot_key(
            table.level[rows],
            self.row_group[rows],
            table.anchor[rows],
            table.gj[rows],
            table.gi[rows],
            self,
        )
        self._pairs: dict[int, _Pairs] = {}

    def gain(self, level: int) -> Tensor:
        ny, nx = self.shapes[level]
        return torch.tensor([nx, ny, nx, ny], dtype=torch.float32, device=self.device)

    def txywh(self, level: int, which: Tensor | None = None) -> Tensor:
        """Group targets' xywh in grid units, ``Tensor[U, 4]``, as YOLOv5 computes them."""
        t = self.group_targets if which is None else self.group_targets[which]
        return t[:, 2:6] * self.gain(level)

    def tolerance(self, level: int) -> float:
        """Float tolerance in grid units: a few float32 ulps of the largest grid coordinate."""
        return 64 * torch.finfo(torch.float32).eps * max(self.shapes[level])

    def _attribute(self) -> Tensor:
        """Per row, the nearest group within tolerance among those of its image and class.

        Rows are only compared with targets of their own (image, class), so the work is the
        number of such pairs, not rows x targets.
        """
        table, out = self.table, torch.full_like(self.table.level, -1)
        if len(self.group_targets) == 0:
            return out
        nc = self.problem.num_classes
        gkey = self.group_targets[:, 0].long() * nc + self.group_targets[:, 1].long()
        gkey, order = torch.sort(gkey)
        rkey = table.image * nc + table.cls
        lo = torch.searchsorted(gkey, rkey)
        n = torch.where(self.in_bounds, torch.searchsorted(gkey, rkey, right=True) - lo, 0)
        ends = torch.cumsum(n, 0)
        budget = 1 << 22  # candidate pairs per chunk
        start = 0
        while start < len(n):
            base = int(ends[start - 1]) if start else 0
            stop = max(start + 1, int(torch.searchsorted(ends, base + budget, right=True)))
            self._attribute_chunk(
                out, torch.arange(start, min(stop, len(n)), device=self.device), lo, n, order
            )
            start = stop
        return out

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
        implied = torch.cat(
            (
                torch.stack((table.gi, table.gj), 1)[pair_row] + table.tbox[pair_row, :2],
                table.tbox[pair_row, 2:],
            ),
            1,
        ).double()
        gain = torch.stack([self.gain(i) for i in range(self.problem.nl)])[table.level[pair_row]]
        truth = (self.group_targets[group, 2:6] * gain).double()
        dist = (implied - truth).abs().amax(1)
        tol = torch.tensor(
            [self.tolerance(i) for i in range(self.problem.nl)],
            dtype=torch.float64,
            device=self.device,
        )[table.level[pair_row]]
        dist = torch.where(dist <= tol, dist, torch.inf)
        best = torch.full((len(table),), torch.inf, dtype=torch.float64, device=self.device)
        best.scatter_reduce_(0, pair_row, dist, "amin")
        winner = torch.isfinite(dist) & (dist == best[pair_row])
        pick = torch.full_like(out, len(self.group_targets))
        pick.scatter_reduce_(0, pair_row[winner], group[winner], "amin")
        hit = pick[rows] < len(self.group_targets)
        out[rows[hit]] = pick[rows[hit]]

    def members(self, groups: Tensor) -> tuple[int, ...]:
        """Target indices of the given groups, ascending."""
        hit = torch.isin(self.group, groups)
        return tuple(hit.nonzero().flatten().tolist())

    def pairs(self, level: int) -> _Pairs:
        """The level's (anchor, group) pairs under the ratio rule (YOLOv5's float expression)
        with their candidate cells; computed once per level."""
        if level not in self._pairs:
            twh = self.txywh(level)[:, 2:4]
            r = twh[None] / self.anchors[level][:, None]
            keep = torch.max(r, 1 / r).max(2)[0] < self.problem.anchor_t
            a, u = keep.nonzero(as_tuple=True)
            self._pairs[level] = _Pairs(a, u, *self._candidate_cells(level, u))
        return self._pairs[level]

    def _candidate_cells(self, level: int, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per group in ``u``, the five cells and whether each rule takes them.

        Returns ``cells Tensor[5, n, 2]`` (gi, gj) and ``Tensor[5, n]`` masks for YOLOv5's
        rule (its float expressions, after its clamp) and the strict rule. Kind 0 is the
        centre cell ``clamp(floor(gxy))``.
        """
        ny, nx = self.shapes[level]
        g = self.problem.g
        gxy = self.txywh(level, u)[:, :2]
        size = torch.tensor([nx, ny], device=self.device)
        centre = torch.minimum(gxy.floor().long(), size - 1)
        step = torch.tensor(_KINDS, device=self.device)
        cells = centre[None] + step[:, None]
        gxi = self.gain(level)[:2] - gxy
        ones = torch.ones(len(u), dtype=torch.bool, device=self.device)
        y5_lo, y5_hi = (gxy % 1 < g) & (gxy > 1), (gxi % 1 < g) & (gxi > 1)
        off = torch.tensor(_KINDS, dtype=torch.float32, device=self.device) * g
        y5_cells = torch.minimum((gxy[None] + off[:, None]).long(), size - 1).clamp(min=0)
        # YOLOv5 takes a neighbour only where its own cell really is that neighbour.
        y5_at = (y5_cells == cells).all(2)
        y5 = torch.stack((ones, y5_lo[:, 0], y5_lo[:, 1], y5_hi[:, 0], y5_hi[:, 1])) & y5_at
        frac = gxy - centre
        st_lo, st_hi = (frac < g) & (centre >= 1), (frac > 1 - g) & (centre <= size - 2)
        strict = torch.stack((ones, st_lo[:, 0], st_lo[:, 1], st_hi[:, 0], st_hi[:, 1]))
        return cells, y5, strict


def _slot_key(
    level: Tensor, group: Tensor, anchor: Tensor | int, gj: Tensor, gi: Tensor, ctx: _Context
) -> Tensor:
    """One int64 per (level, group, anchor, gj, gi); ``group`` < max(U, B * na)."""
    cells = max(ny * nx for ny, nx in ctx.shapes)
    width = max(nx for _, nx in ctx.shapes)
    groups = max(len(ctx.mult), ctx.problem.batch_size * ctx.problem.na)
    return ((level * groups + group) * ctx.problem.na + anchor) * cells + gj * width + gi


def _count(keys: Tensor, queries: Tensor) -> Tensor:
    """How often each query occurs in ``keys``."""
    if len(keys) == 0:
        return torch.zeros_like(queries)
    values, counts = torch.unique(keys, return_counts=True)
    pos = torch.searchsorted(values, queries).clamp(max=len(values) - 1)
    return torch.where(values[pos] == queries, counts[pos], 0)


def _per_level(
    ctx: _Context, check: str, severity: Severity, rows: Tensor, describe: Callable[[int], str]
) -> list[Violation]:
    """Group offending rows by level into one violation each; ``describe(first_row)``.

    The violation's targets are those the rows are attributed to.
    """
    found = []
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


def _row_text(ctx: _Context, r: int) -> str:
    t = ctx.table
    tb = ", ".join(f"{v:.6g}" for v in t.tbox[r].tolist())
    return (
        f"row {r} (b={int(t.image[r])}, a={int(t.anchor[r])}, gj={int(t.gj[r])}, "
        f"gi={int(t.gi[r])}, cls={int(t.cls[r])}, tbox=[{tb}])"
    )


def _missing_cells(
    ctx: _Context,
    check_id: str,
    severity: Severity,
    level: int,
    take: Tensor,
    what: str,
) -> list[Violation]:
    """One violation if a cell a rule takes has fewer rows than its group has targets.

    ``take`` is ``Tensor[5, n]`` over the candidate cells of `_Context.pairs`.
    """
    a, u, cells = ctx.pairs(level)[:3]
    kind, p = take.nonzero(as_tuple=True)
    c = cells[kind, p]
    want = _slot_key(torch.full_like(p, level), u[p], a[p], c[:, 1], c[:, 0], ctx)
    short = _count(ctx.slot_keys, want) < ctx.mult[u[p]]
    if not short.any():
        return []
    p, c = p[short], c[short]
    gxy = ctx.txywh(level, u[p[:1]])[0, :2].tolist()
    return [
        Violation(
            check_id,
            severity,
            level,
            (),
            ctx.members(u[p]),
            f"{len(p)} {what}; first: target {ctx.members(u[p[:1]])[0]} at gxy = "
            f"({gxy[0]:.9g}, {gxy[1]:.9g}) anchor {int(a[p[0]])} lacks (gj, gi) = "
            f"({int(c[0, 1])}, {int(c[0, 0])})",
        )
    ]


# --------------------------------------------------------------------------- checks
@_register("bounds", "error", "0 <= b < B, 0 <= a < na, 0 <= gj < ny, 0 <= gi < nx")
def _bounds(ctx: _Context) -> list[Violation]:
    rows = (~ctx.in_bounds).nonzero().flatten()
    p = ctx.problem

    def describe(r: int) -> str:
        return (
            f"{_row_text(ctx, r)} outside B={p.batch_size}, na={p.na}, "
            f"ny={int(ctx.row_ny[r])}, nx={int(ctx.row_nx[r])}"
        )

    return _per_level(ctx, "bounds", "error", rows, describe)


@_register(
    "geometry",
    "error",
    "gij + tbox_xy = target centre (grid units); tbox_wh = target wh; anch = anchors[a]",
)
def _geometry(ctx: _Context) -> list[Violation]:
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
    bad = ~torch.isclose(t.anch[rows], expected, rtol=1e-6, atol=0).all(1)
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
def _offset_range(ctx: _Context) -> list[Violation]:
    g = ctx.problem.g
    xy = ctx.table.tbox[:, :2]
    rows = ((xy < -g) | (xy > 1 + g)).any(1).nonzero().flatten()
    return _per_level(
        ctx,
        "offset-range",
        "error",
        rows,
        lambda r: f"{_row_text(ctx, r)}: tbox_xy outside [{-g:g}, {1 + g:g}]",
    )


@_register(
    "ratio",
    "error",
    "every row has max(r, 1/r) < anchor_t; every (target, anchor) pair under it is assigned",
)
def _ratio(ctx: _Context) -> list[Violation]:
    t, p = ctx.table, ctx.problem
    r = t.tbox[:, 2:4] / t.anch
    ratio = torch.max(r, 1 / r).max(1)[0]
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
    for level in range(p.nl):
        centre = torch.zeros_like(ctx.pairs(level).y5)
        centre[0] = True
        found += _missing_cells(
            ctx,
            "ratio",
            "error",
            level,
            centre,
            "(target, anchor) pair(s) under anchor_t have no row at their centre cell",
        )
    return found


def _neighbour_rows(ctx: _Context, level: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Kept pairs of a level with their candidate cells, and the level's attributed rows
    with the pair each belongs to (-1 if its (group, anchor) pair is not kept)."""
    a, u, cells, y5, strict = ctx.pairs(level)
    t = ctx.table
    rows = ctx.attributed[t.level[ctx.attributed] == level]
    lookup = torch.full((len(ctx.mult), ctx.problem.na), -1, device=ctx.device)
    lookup[u, a] = torch.arange(len(u), device=ctx.device)
    pair = lookup[ctx.row_group[rows], t.anchor[rows]]
    return rows, pair, cells, y5, strict


@_register(
    "neighbours",
    "error",
    "extra cells are 4-neighbours on the side nearer the centre, per the g rule",
)
def _neighbours(ctx: _Context) -> list[Violation]:
    t, g = ctx.table, ctx.problem.g
    found = []
    for level in range(ctx.problem.nl):
        rows, pair, cells, y5, strict = _neighbour_rows(ctx, level)
        rows, pair = rows[pair >= 0], pair[pair >= 0]
        cell = torch.stack((t.gi[rows], t.gj[rows]), 1)
        allowed = (y5 | strict)[:, pair]
        at = (cells[:, pair] == cell[None]).all(2)
        bad = rows[~(allowed & at).any(0)]
        found += _per_level(
            ctx,
            "neighbours",
            "error",
            bad,
            lambda r: (
                f"{_row_text(ctx, r)} is neither the centre cell nor a neighbour the "
                f"g = {g:g} rule takes for its target"
            ),
        )
        required = y5 & strict
        required[0] = False  # the centre is the ratio check's
        found += _missing_cells(
            ctx,
            "neighbours",
            "error",
            level,
            required,
            f"neighbour cell(s) the g = {g:g} rule takes are missing",
        )
    return found


# Checks that need several calls: the contract runs them.
for _id, _meaning in (
    (
        "equivariance",
        "permuting targets, adding other images' targets, shifting by a "
        "coarsest-stride cell or flipping (strict) change the output only as they should",
    ),
    ("reference", "output equals the reference's as a multiset (same semantics)"),
    ("device", "CPU and each requested device agree"),
):
    INVARIANTS[_id] = Invariant(_id, "error", _meaning, single_call=False)


@_register(
    "duplicates",
    "quirk",
    "the same (level, image, anchor, gj, gi, target) twice (YOLOv5 at integer grid coordinates)",
)
def _duplicates(ctx: _Context) -> list[Violation]:
    rows, keys = ctx.attributed, ctx.slot_keys
    order = torch.sort(keys, stable=True).indices
    keys, rows = keys[order], rows[order]
    rank = rank_in_group(keys)
    # the first mult rows of a slot belong to the group's mult targets; the rest repeat them
    extra = rows[rank >= ctx.mult[ctx.row_group[rows]]].sort().values
    return _per_level(
        ctx,
        "duplicates",
        "quirk",
        extra,
        lambda r: f"{_row_text(ctx, r)} repeats a row of the same target",
    )


@_register(
    "missed-neighbour",
    "quirk",
    "a valid neighbour cell left out (YOLOv5 at gx == 1 and where n - gx rounds)",
)
def _missed_neighbour(ctx: _Context) -> list[Violation]:
    found = []
    for level in range(ctx.problem.nl):
        _, _, _, y5, strict = ctx.pairs(level)
        found += _missing_cells(
            ctx,
            "missed-neighbour",
            "quirk",
            level,
            strict & ~y5,
            "valid neighbour cell(s) left out",
        )
    return found


@_register(
    "collisions", "info", "different targets competing for one (level, image, anchor, gj, gi) slot"
)
def _collisions(ctx: _Context) -> list[Violation]:
    t, rows = ctx.table, ctx.attributed
    batch_slot = t.image * ctx.problem.na + t.anchor  # the image in the group's place
    slot = _slot_key(t.level[rows], batch_slot[rows], 0, t.gj[rows], t.gi[rows], ctx)
    pairs = torch.unique(torch.stack((slot, ctx.row_group[rows]), 1), dim=0)
    slots, n_groups = torch.unique(pairs[:, 0], return_counts=True)
    shared = rows[torch.isin(slot, slots[n_groups > 1])]
    return _per_level(
        ctx,
        "collisions",
        "info",
        shared,
        lambda r: f"{_row_text(ctx, r)} shares its slot with another target",
    )


@_register("coverage", "info", "targets with no positive at any level (best possible recall)")
def _coverage(ctx: _Context) -> list[Violation]:
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
