"""The canonical assignment table and its multiset diff.

Any ``build_targets`` output ``(tcls, tbox, indices, anch)`` becomes one `Assignment`: a row
per positive with its level, image, anchor, cell, class, tbox and anchor wh. Row order is
not part of the contract, so two assignments are compared as multisets (`diff`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from .errors import DiagnosticsError

OFFSET_KINDS = ("centre", "left", "up", "right", "down")
"""Offset kinds in YOLOv5's order: ``off = [[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]] * g``,
``gij = gxy - off``; "left" is the x - 1 cell, "up" the y - 1 cell."""

UNKNOWN = -1

YoloV5Output = tuple[list[Tensor], list[Tensor], list[tuple[Tensor, ...]], list[Tensor]]


@dataclass(frozen=True)
class Assignment:
    """A canonical assignment table of ``n`` rows on one device.

    Attributes:
        level, image, anchor, gj, gi, cls: ``Tensor[n]`` int64.
        tbox: ``Tensor[n, 4]`` floating, (x-offset, y-offset, w, h) in grid units.
        anch: ``Tensor[n, 2]`` floating, anchor (w, h) in grid units.
        target: ``Tensor[n]`` int64, the target row each positive came from, or -1 if unknown.
        offset: ``Tensor[n]`` int64, index into `OFFSET_KINDS`, or -1 if unknown.
        num_levels: number of pyramid levels (levels may be empty).
    """

    level: Tensor
    image: Tensor
    anchor: Tensor
    gj: Tensor
    gi: Tensor
    cls: Tensor
    tbox: Tensor
    anch: Tensor
    target: Tensor
    offset: Tensor
    num_levels: int

    def __len__(self) -> int:
        return int(self.level.shape[0])

    @property
    def device(self) -> torch.device:
        return self.level.device

    @property
    def key(self) -> Tensor:
        """Integer columns ``Tensor[n, 6]``: level, image, anchor, gj, gi, class."""
        return torch.stack((self.level, self.image, self.anchor, self.gj, self.gi, self.cls), 1)

    @property
    def values(self) -> Tensor:
        """Float columns ``Tensor[n, 6]`` in float64: tbox (4) then anch (2)."""
        return torch.cat((self.tbox, self.anch), 1).to(torch.float64)

    def select(self, index: Tensor) -> Assignment:
        """The rows picked by a boolean mask or an index tensor, in that order."""
        return self._map(lambda column: column[index])

    def to(self, device: torch.device | str) -> Assignment:
        if self.device == torch.device(device):  # no copy, no op per column
            return self
        return self._map(lambda column: column.to(device))

    def _map(self, fn: Callable[[Tensor], Tensor]) -> Assignment:
        """The same table with ``fn`` applied to every column."""
        columns = {
            f.name: fn(getattr(self, f.name)) for f in fields(self) if f.name != "num_levels"
        }
        return Assignment(**columns, num_levels=self.num_levels)

    @classmethod
    def from_yolov5(cls, output: YoloV5Output) -> Assignment:
        """Canonicalize ``(tcls, tbox, indices, anch)``; provenance is unknown (-1).

        The output's structure must already be valid (see the ``shapes`` check).
        """
        tcls, tbox, indices, anch = output
        nl = len(tcls)
        if nl == 0:
            raise DiagnosticsError("build_targets output has no levels")
        device = tcls[0].device
        level = torch.cat(
            [torch.full((len(c),), i, dtype=torch.int64, device=device) for i, c in enumerate(tcls)]
        )
        b, a, gj, gi = (torch.cat([_int64(ix[k]) for ix in indices]) for k in range(4))
        # one -1 seen through a stride-0 view, not two columns of them: nothing writes them
        unknown = torch.full((1,), UNKNOWN, device=device).expand(len(level))
        return cls(
            level=level,
            image=b,
            anchor=a,
            gj=gj,
            gi=gi,
            cls=torch.cat([_int64(c) for c in tcls]),
            tbox=_cat_float(tbox, 4, device),
            anch=_cat_float(anch, 2, device),
            target=unknown,
            offset=unknown,
            num_levels=nl,
        )

    def to_yolov5(self) -> YoloV5Output:
        """Back to ``(tcls, tbox, indices, anch)`` lists, one entry per level, in row order."""
        tcls, tbox, indices, anch = [], [], [], []
        for i in range(self.num_levels):
            rows = self.select(self.level == i)
            tcls.append(rows.cls)
            tbox.append(rows.tbox)
            indices.append((rows.image, rows.anchor, rows.gj, rows.gi))
            anch.append(rows.anch)
        return tcls, tbox, indices, anch

    def records(self) -> list[dict[str, object]]:
        """Rows as plain data (for reports and JSON case files)."""
        out = []
        for k, v, t, o in zip(
            self.key.tolist(), self.values.tolist(), self.target.tolist(), self.offset.tolist()
        ):
            row: dict[str, object] = dict(zip(("level", "image", "anchor", "gj", "gi", "cls"), k))
            row["tbox"], row["anch"] = v[:4], v[4:]
            row["target"] = t
            row["offset"] = OFFSET_KINDS[o] if o != UNKNOWN else None
            out.append(row)
        return out


def _int64(column: Tensor) -> Tensor:
    """``column`` as int64 (itself when it is: no op, as most outputs' indices are)."""
    return column if column.dtype == torch.int64 else column.long()


def _cat_float(parts: Sequence[Tensor], width: int, device: torch.device) -> Tensor:
    dtype = torch.float32
    for p in parts:
        dtype = torch.promote_types(dtype, p.dtype)
    if not parts:
        return torch.empty((0, width), dtype=dtype, device=device)
    return torch.cat([p.to(dtype).reshape(-1, width) for p in parts])


@dataclass(frozen=True)
class Diff:
    """Rows of ``expected`` with no partner in ``actual`` (missing) and the reverse (extra)."""

    missing: Assignment
    extra: Assignment

    @property
    def equal(self) -> bool:
        return len(self.missing) == 0 and len(self.extra) == 0

    def summary(self) -> str:
        """Counts, and where the first differing row is: "2 missing, 0 extra rows; first
        missing: level=0, image=1, anchor=2, gj=3, gi=4"."""
        counts = f"{len(self.missing)} missing, {len(self.extra)} extra rows"
        side, table = ("missing", self.missing) if len(self.missing) else ("extra", self.extra)
        if not len(table):
            return counts
        first = table.select(slice(0, 1)).records()[0]
        where = ", ".join(f"{k}={first[k]}" for k in ("level", "image", "anchor", "gj", "gi"))
        return f"{counts}; first {side}: {where}"


def diff(expected: Assignment, actual: Assignment, *, atol: float = 0.0) -> Diff:
    """Multiset difference of two assignments.

    Rows pair up when their integer columns (level, image, anchor, gj, gi, class) are equal
    and every float column (tbox, anch) is within ``atol``; with ``atol = 0`` the comparison
    is bit-exact. Within one integer key rows pair in sorted order, and rows left over are
    re-paired greedily, so a permutation never shows as a difference.
    """
    actual = actual.to(expected.device)
    e_order, a_order = _sorted(expected), _sorted(actual)
    ek, ev = expected.key[e_order], expected.values[e_order]
    ak, av = actual.key[a_order], actual.values[a_order]
    # Rank of each row within its integer key: equal (key, rank) rows are partners.
    e_rank, a_rank = rank_in_group(ek), rank_in_group(ak)
    e_full = torch.cat((ek, e_rank[:, None]), 1)
    a_full = torch.cat((ak, a_rank[:, None]), 1)
    both = torch.cat((e_full, a_full))
    packed = pack_rows(both)
    _, inverse = (
        torch.unique(both, dim=0, return_inverse=True)
        if packed is None
        else torch.unique(packed, return_inverse=True)
    )
    e_id, a_id = inverse[: len(e_full)], inverse[len(e_full) :]
    partner = torch.full((int(inverse.max()) + 1 if len(inverse) else 0,), -1, device=ek.device)
    partner[a_id] = torch.arange(len(a_id), device=ek.device)
    e_partner = partner[e_id]
    has = e_partner >= 0
    close = torch.zeros_like(has)
    close[has] = ((ev[has] - av[e_partner[has]]).abs() <= atol).all(1)
    e_left = (~close).nonzero().flatten().tolist()
    a_matched = torch.zeros(len(ak), dtype=torch.bool, device=ek.device)
    a_matched[e_partner[close]] = True
    e_left, a_left = _greedy(
        ek, ev, ak, av, e_left, (~a_matched).nonzero().flatten().tolist(), atol
    )
    return Diff(
        missing=expected.select(e_order[torch.tensor(e_left, dtype=torch.long, device=ek.device)]),
        extra=actual.select(a_order[torch.tensor(a_left, dtype=torch.long, device=ek.device)]),
    )


def _sorted(table: Assignment) -> Tensor:
    """Row order that sorts by key, then by a hash of the float columns: identical rows of
    one key come out together, in the same order in every table."""
    packed = pack_rows(table.key)
    keys = table.key if packed is None else packed[:, None]
    return lexsort(torch.cat((keys, _hash(table.values)[:, None]), 1))


def lexsort(columns: Tensor) -> Tensor:
    """Row order sorting ``Tensor[n, k]`` lexicographically (column 0 first); stable."""
    order = torch.arange(columns.shape[0], device=columns.device)
    for c in reversed(range(columns.shape[1])):
        order = order[torch.sort(columns[order, c], stable=True).indices]
    return order


def first_of_run(sorted_rows: Tensor) -> Tensor:
    """``Tensor[n]`` bool: where a run of equal rows (or values) starts in sorted order."""
    start = torch.ones(sorted_rows.shape[0], dtype=torch.bool, device=sorted_rows.device)
    change = sorted_rows[1:] != sorted_rows[:-1]
    start[1:] = change.any(1) if change.dim() > 1 else change
    return start


def _hash(values: Tensor) -> Tensor:
    """One int64 per row of float64 ``values`` ``[n, k]``, from their bits: equal rows, equal
    hashes. Within a key, rows are ordered by it; rows that collide may pair wrongly, and
    the greedy pass of `diff` re-pairs those."""
    bits = values.contiguous().view(torch.int64)
    h = torch.zeros(len(values), dtype=torch.int64, device=values.device)
    for c in range(bits.shape[1]):
        h = h * 1_000_003 + bits[:, c]  # wraps around: a hash, not a number
    return h


def pack_rows(rows: Tensor) -> Tensor | None:
    """Integer rows ``Tensor[n, k]`` as one int64 each, in the same lexicographic order
    (mixed radix over each column's range); None where the ranges need more than 62 bits."""
    if rows.shape[0] == 0 or rows.shape[1] == 0:
        return None
    low, high = rows.amin(0), rows.amax(0)  # one transfer for both
    bounds = torch.stack((low, high)).tolist()
    spans = [hi - lo + 1 for lo, hi in zip(*bounds)]
    if math.prod(spans) >= 2**62:
        return None
    packed = torch.zeros(rows.shape[0], dtype=torch.int64, device=rows.device)
    for c, span in enumerate(spans):
        packed = packed * span + (rows[:, c] - low[c])
    return packed


def rank_in_group(sorted_key: Tensor) -> Tensor:
    """For rows sorted by key (``Tensor[n]`` or ``Tensor[n, k]``), each row's position among
    the rows with the same key."""
    start = first_of_run(sorted_key)
    index = torch.arange(sorted_key.shape[0], device=sorted_key.device)
    return index - torch.cummax(torch.where(start, index, 0), 0).values


def _greedy(
    ek: Tensor,
    ev: Tensor,
    ak: Tensor,
    av: Tensor,
    e_left: list[int],
    a_left: list[int],
    atol: float,
) -> tuple[list[int], list[int]]:
    """Pair the rows that rank pairing left over, only among rows with the same key."""
    if not e_left or not a_left:
        return e_left, a_left
    free: dict[tuple[int, ...], list[int]] = {}
    for j, key in zip(a_left, ak[a_left].tolist()):
        free.setdefault(tuple(key), []).append(j)
    missing = []
    for i, key in zip(e_left, ek[e_left].tolist()):
        candidates = free.get(tuple(key), [])
        match = next((j for j in candidates if bool(((ev[i] - av[j]).abs() <= atol).all())), None)
        if match is None:
            missing.append(i)
        else:
            candidates.remove(match)
    return missing, sorted(j for js in free.values() for j in js)
