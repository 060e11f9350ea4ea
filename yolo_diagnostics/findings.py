"""Findings as violations: a check's offending rows or short cells, one violation per level.

`per_level` groups rows by level, names the targets they are attributed to and describes the
first; `missing_cells` does the same for candidate cells that got fewer rows than their
group has targets; `row_text` is a row as a message shows it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .attribution import Context
from .cells import Pairs
from .violations import Severity, Violation


def any_of(mask: Tensor) -> bool:
    """Whether ``mask`` holds anywhere (``count_nonzero``: a third of ``any``'s time on the
    CPU for a long bool tensor)."""
    return bool(torch.count_nonzero(mask))


def per_level(
    ctx: Context, check: str, severity: Severity, rows: Tensor, describe: Callable[[int], str]
) -> list[Violation]:
    """Group offending rows by level into one violation each; ``describe(first_row)``.

    The violation's targets are those the rows are attributed to.
    """
    found: list[Violation] = []
    if len(rows) == 0:
        return found
    # rows ascending, the table level by level: each level's rows are a slice of them
    ends = torch.searchsorted(rows, ctx.level_ends).tolist()
    for level, (start, stop) in enumerate(zip([0, *ends], ends)):
        if start == stop:
            continue
        here = rows[start:stop]
        groups = ctx.row_group.index_select(0, here)
        members = ctx.members(groups if ctx.all_attributed else groups[groups >= 0])
        found.append(
            Violation(
                check,
                severity,
                level,
                here,
                members,
                f"{len(here)} row(s); first: {describe(int(here[0]))}",
            )
        )
    return found


def row_text(ctx: Context, r: int) -> str:
    t = ctx.table
    tb = ", ".join(f"{v:.6g}" for v in t.tbox[r].tolist())
    return (
        f"row {r} (b={int(t.image[r])}, a={int(t.anchor[r])}, gj={int(t.gj[r])}, "
        f"gi={int(t.gi[r])}, cls={int(t.cls[r])}, tbox=[{tb}])"
    )


def missing_cells(
    ctx: Context,
    check_id: str,
    severity: Severity,
    short: Tensor,
    what: str,
    pairs: Pairs | None = None,
) -> list[Violation]:
    """Per level, one violation if cells a rule takes have fewer rows than their group has
    targets: ``short Tensor[5, P]`` marks them among the candidate cells of ``pairs``
    (default `Context.pairs`; a subset in the same order gives the same violations if it
    holds every short cell's group)."""
    pairs = ctx.pairs if pairs is None else pairs
    if not any_of(short):
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
                f"{len(lp)} {what}; first: target {int(ctx.members(u[:1])[0])} at gxy = "
                f"({gxy[0]:.9g}, {gxy[1]:.9g}) anchor {int(pairs.a[lp[0]])} lacks (gj, gi) = "
                f"({int(lc[0, 1])}, {int(lc[0, 0])})",
            )
        )
    return found
