"""Hypothesis strategies for assignment problems and target sets, biased to where bugs live.

`problems` draws small `Problem`s (3 or 4 levels, published or drawn anchors, square or not);
`targets` draws valid target sets for one. Each box's centre (per axis) and size, and each
row's relation to earlier rows, comes from a named kind, so the edge cases below are drawn on
purpose, not hoped for. `edge_kinds` names the edge classes a target tensor holds, from its
values alone, computed in float32 as YOLOv5 computes them (``gx = x * nx``, ``r = w * nx / a``):

- grid-aligned: an integer gx or gy inside the grid: YOLOv5's x+1 test fires, a duplicate row.
- frac-half: frac(gx) exactly 0.5: the strict ``<`` takes no neighbour on that axis.
- x-zero-or-one: x or y exactly 0 or 1: at 1 the centre cell is clamped, tbox becomes 1.0.
- one-cell-from-border: gx in {1, nx - 1}: a border test (``gx > 1``, ``nx - gx > 1``) at equality.
- gx-one: gx or gy exactly 1: YOLOv5 leaves the valid cell 0 out (``gx > 1`` is false).
- ratio-at-threshold: a wh ratio exactly anchor_t: the strict ``<`` drops the pair.
- ratio-step-below: a ratio under anchor_t, one float step of w or h from being dropped.
- ratio-step-above: a ratio over anchor_t, one float step of w or h from being kept.
- tiny: a side of one pixel or less: usually beyond anchor_t of every anchor, no positive.
- huge: a side of 0.9 of the image or more: only the coarsest anchors can take it.
- extreme-aspect: a pixel aspect ratio of 20 or more either way: w and h disagree on anchors.
- duplicate: an exact copy of a row: last-write-wins objectness (yolov5 #3605).
- shared-cell: distinct boxes of one image in one level-0 cell: competing for one slot.
- empty: no targets: YOLOv5's ``targets[0]`` path, yolort's ``torch.cat([])`` crash (PR #515).
- idle-image: an image of the batch without targets: per-image code must not assume one.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TypeVar

import torch
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy
from torch import Tensor

from .errors import DiagnosticsError
from .problem import PRESETS, AnchorSet, Problem
from .rules import DEFAULT_RULE
from .validate import validate_targets

_T = TypeVar("_T")

EDGE_KINDS: tuple[str, ...] = (
    "grid-aligned",
    "frac-half",
    "x-zero-or-one",
    "one-cell-from-border",
    "gx-one",
    "ratio-at-threshold",
    "ratio-step-below",
    "ratio-step-above",
    "tiny",
    "huge",
    "extreme-aspect",
    "duplicate",
    "shared-cell",
    "empty",
    "idle-image",
)

_F32 = torch.float32
_STRIDES = {3: (8, 16, 32), 4: (8, 16, 32, 64)}
_CELLS = range(2, 13)  # image sides in coarsest cells: small grids, cheap examples
_EXACT_SIDES = (128, 256, 512, 1024)  # powers of two, all divisible by 64
_WINDOW = 8  # float32 steps searched either side of w = a * anchor_t / nx

# Kinds are sampled with repeats as weights; the plain kind comes first, so shrinking ends there.
_GRID_KINDS = ("grid-aligned", "frac-half", "one-cell-from-border", "gx-one")
_CENTRE_KINDS = ("uniform",) * 3 + ("zero-or-one", *_GRID_KINDS)
_SIZE_KINDS = ("moderate",) * 3 + ("ratio", "tiny", "huge", "extreme-aspect")
_ROW_KINDS = ("fresh",) * 3 + ("duplicate", "shared-cell")
_COUNT_KINDS = ("any",) * 7 + ("empty",)

# Defaults of `problems`, as names: a call in an argument default is evaluated once (B008).
_LEVELS = st.sampled_from((3, 4))
_BOOLEANS = st.booleans()
_BATCH_SIZES = st.integers(1, 8)
_NUM_CLASSES = st.integers(1, 80)
# Mostly YOLOv5's 4.0, then the other published values, sometimes any value in [2, 6].
_ANCHOR_T = st.one_of(st.just(4.0), st.just(4.0), st.sampled_from((2.91, 3.0)), st.floats(2, 6))


def _strategy(value: _T | SearchStrategy[_T]) -> SearchStrategy[_T]:
    return value if isinstance(value, SearchStrategy) else st.just(value)


@st.composite
def problems(
    draw: DrawFn,
    *,
    levels: int | SearchStrategy[int] = _LEVELS,
    square: bool | SearchStrategy[bool] = _BOOLEANS,
    batch_size: int | SearchStrategy[int] = _BATCH_SIZES,
    anchor_t: float | SearchStrategy[float] = _ANCHOR_T,
    num_classes: int | SearchStrategy[int] = _NUM_CLASSES,
    rule: str | SearchStrategy[str] = DEFAULT_RULE,
    exact: bool | SearchStrategy[bool] = False,
    sides: SearchStrategy[int] | None = None,
) -> Problem:
    """Small assignment problems: published or drawn anchors, square or not.

    Each argument is a value or a strategy of values.

    Args:
        levels: 3 (strides 8, 16, 32) or 4 (strides 8, 16, 32, 64).
        square: H == W; otherwise H != W, landscape and portrait both drawn.
        batch_size: images per batch.
        anchor_t: the wh-ratio threshold; by default mostly 4.0, else 2.91, 3.0 or in [2, 6].
        num_classes: number of classes.
        rule: the neighbour rule (`rules.RULES`; default ``yolov5``).
        exact: sides are powers of two (128 to 1024), as ``targets(..., exact=True)`` needs,
            and anchor_t a float32 value (the ratio test compares in the targets' dtype: a
            ratio between float32(anchor_t) and anchor_t, 2.0000000000000004 say, is kept
            from float64 targets and dropped from float32 ones); otherwise 2 to 12 coarsest
            cells.
        sides: a strategy of image sides (each divisible by the coarsest stride), in place
            of the above; a non-square problem draws its width again until it differs.
    """
    nl = draw(_strategy(levels))
    if nl not in _STRIDES:
        raise DiagnosticsError(f"problems: levels must be 3 or 4, got {nl!r}")
    strides = _STRIDES[nl]
    exact = draw(_strategy(exact))
    if sides is None:
        choices = _EXACT_SIDES if exact else tuple(k * strides[-1] for k in _CELLS)
        height = draw(st.sampled_from(choices))
        others = st.sampled_from([side for side in choices if side != height])
    else:
        height = draw(sides)
        others = sides.filter(lambda side: side != height)
    width = height if draw(_strategy(square)) else draw(others)
    return Problem(
        img_size=(height, width),
        strides=strides,
        anchors=draw(_published_anchors(nl) | _drawn_anchors(strides)),
        anchor_t=_f32(draw(_strategy(anchor_t))) if exact else draw(_strategy(anchor_t)),
        num_classes=draw(_strategy(num_classes)),
        batch_size=draw(_strategy(batch_size)),
        rule=draw(_strategy(rule)),
    )


def _published_anchors(nl: int) -> SearchStrategy[AnchorSet]:
    return st.sampled_from([anchors for strides, anchors in PRESETS.values() if len(strides) == nl])


@st.composite
def _drawn_anchors(draw: DrawFn, strides: tuple[int, ...]) -> AnchorSet:
    """1 to 4 integer-pixel anchors per level, about 0.5 to 8 strides, aspect 1/4 to 4."""
    na = draw(st.integers(1, 4))
    levels = []
    for stride in strides:
        scale = stride * draw(st.floats(0.5, 8.0))
        level = []
        for _ in range(na):
            aspect = math.sqrt(draw(st.floats(0.25, 4.0)))
            level.append((max(1, round(scale * aspect)), max(1, round(scale / aspect))))
        levels.append(tuple(level))
    # Problem wants mean areas non-decreasing with the stride: give larger levels larger strides.
    return tuple(sorted(levels, key=lambda level: sum(w * h for w, h in level)))


def targets(
    problem: Problem | SearchStrategy[Problem],
    *,
    min_targets: int = 0,
    max_targets: int = 12,
    exact: bool = False,
) -> SearchStrategy[Tensor]:
    """Valid targets ``Tensor[nt, 6]`` (image, class, x, y, w, h), float32 on the CPU.

    Each axis of a centre and each size comes from a drawn kind (uniform, or an edge of the
    module docstring); a row may copy an earlier one or share its level-0 cell; the empty set
    and idle images are drawn on purpose. Examples are small: ``nt <= max_targets``.

    Args:
        problem: the problem the targets are for, or a strategy of problems.
        min_targets: the fewest rows.
        max_targets: the most rows.
        exact: centres and sizes on a 1/8-pixel grid, so ``x * nx``, ``nx - x * nx`` and
            ``1 - x`` are exact in float32; needs power-of-two sides (``problems(exact=True)``).
    """
    if not 0 <= min_targets <= max_targets:
        raise DiagnosticsError(
            f"targets: need 0 <= min_targets <= max_targets, got {min_targets}, {max_targets}"
        )
    if isinstance(problem, SearchStrategy):
        return problem.flatmap(
            lambda p: targets(p, min_targets=min_targets, max_targets=max_targets, exact=exact)
        )
    if exact and any(side & (side - 1) for side in problem.img_size):
        raise DiagnosticsError(
            f"targets: exact=True needs power-of-two image sides, got {problem.img_size}"
        )
    return _target_sets(problem, min_targets, max_targets, exact)


@st.composite
def _target_sets(
    draw: DrawFn, problem: Problem, min_targets: int, max_targets: int, exact: bool
) -> Tensor:
    """Rows of `targets` for one problem, arguments checked."""
    if min_targets == 0 and (max_targets == 0 or draw(st.sampled_from(_COUNT_KINDS)) == "empty"):
        n = 0
    else:
        n = draw(st.integers(max(min_targets, 1), max_targets))
    images: tuple[int, ...] = tuple(range(problem.batch_size))
    if problem.batch_size > 1 and draw(st.booleans()):  # leave some images idle on purpose
        subset = st.sets(st.sampled_from(images), min_size=1, max_size=len(images) - 1)
        images = tuple(sorted(draw(subset)))
    height, width = problem.img_size
    rows: list[list[float]] = []
    for _ in range(n):
        kind = draw(st.sampled_from(_ROW_KINDS)) if rows else "fresh"
        if kind == "duplicate":
            rows.append(list(rows[draw(st.integers(0, len(rows) - 1))]))
            continue
        cls = float(draw(st.integers(0, problem.num_classes - 1)))
        w, h = draw(_sizes(problem, exact))
        if kind == "shared-cell":
            image, x, y = draw(_same_cell(problem, rows[draw(st.integers(0, len(rows) - 1))]))
        else:
            image = float(draw(st.sampled_from(images)))
            x = draw(_coordinates(width, problem.strides, exact))
            y = draw(_coordinates(height, problem.strides, exact))
        rows.append([image, cls, x, y, w, h])
    return torch.tensor(rows, dtype=_F32).reshape(-1, 6)


@st.composite
def _coordinates(draw: DrawFn, side: int, strides: tuple[int, ...], exact: bool) -> float:
    """One centre coordinate (x on a ``side``-pixel-wide input), from a drawn centre kind."""
    points = _grid_points(side, strides)
    kind = draw(st.sampled_from([k for k in _CENTRE_KINDS if k in points or k not in _GRID_KINDS]))
    if kind == "uniform":
        if exact:
            return draw(st.integers(0, 8 * side)) / (8 * side)
        return draw(st.floats(0, 1, width=32))
    if kind == "zero-or-one":
        return draw(st.sampled_from((0.0, 1.0)))
    level = draw(st.sampled_from(points[kind]))  # a level first: finer ones have more points
    return draw(st.sampled_from(level))


@lru_cache(maxsize=256)
def _grid_points(side: int, strides: tuple[int, ...]) -> dict[str, tuple[tuple[float, ...], ...]]:
    """Per grid kind, per level (levels without a point left out), float32 coordinates ``x``
    with ``x * n`` (float32) exactly at the kind's grid coordinates."""
    table: dict[str, tuple[tuple[float, ...], ...]] = {}
    for kind in _GRID_KINDS:
        levels = []
        for stride in strides:
            n = side // stride
            on_grid = _grid_coordinates(n)
            wanted = {
                "grid-aligned": range(1, n),
                "frac-half": [k + 0.5 for k in range(n)],
                "one-cell-from-border": (1, n - 1),
                "gx-one": (1,),
            }[kind]
            xs = tuple(on_grid[v] for v in wanted if v in on_grid)
            if xs:
                levels.append(xs)
        if levels:
            table[kind] = tuple(levels)
    return table


@lru_cache(maxsize=256)
def _grid_coordinates(n: int) -> dict[float, float]:
    """Grid coordinate ``v`` (a multiple of 0.5 in [0, n]) -> float32 ``x`` with
    ``float32(x * n) == v``. For a non-power-of-two n about 8 % of them have no such x (the
    products of neighbouring floats skip v): those are left out."""
    v = torch.arange(2 * n + 1, dtype=torch.float64) / 2
    x = (v / n).to(_F32)
    found = torch.full_like(x, math.nan)
    for c in (x, x.nextafter(torch.ones_like(x)), x.nextafter(torch.zeros_like(x))):
        hit = found.isnan() & ((c * n).double() == v) & (c <= 1)
        found[hit] = c[hit]
    return {a: b for a, b in zip(v.tolist(), found.tolist()) if not math.isnan(b)}


@st.composite
def _same_cell(draw: DrawFn, problem: Problem, row: list[float]) -> tuple[float, float, float]:
    """(image, x, y) in the level-0 cell of ``row``'s centre, an eighth pixel or more inside it
    (so float32 rounding cannot move it to the next cell)."""
    stride = problem.strides[0]
    height, width = problem.img_size
    xy = []
    for value, side in ((row[2], width), (row[3], height)):
        n = side // stride
        cell = min(int(_f32(value) * n), n - 1)
        eighths = 8 * stride * cell + draw(st.integers(1, 8 * stride - 1))
        xy.append(_f32(eighths / (8 * side)))
    return row[0], xy[0], xy[1]


@st.composite
def _sizes(draw: DrawFn, problem: Problem, exact: bool) -> tuple[float, float]:
    """One box's (w, h), from a drawn size kind."""
    height, width = problem.img_size
    at_ratio = _ratio_sizes(problem, exact)
    kind = draw(st.sampled_from([k for k in _SIZE_KINDS if k != "ratio" or at_ratio]))
    if kind == "ratio":
        _, w, h = draw(st.sampled_from(at_ratio))
        return w, h
    if kind == "extreme-aspect":
        w_long = draw(st.booleans())
        long_side, short_side = (width, height) if w_long else (height, width)
        long_px = draw(st.floats(long_side / 4, long_side))
        short_px = long_px / draw(st.floats(24, 100))
        long, short = _normalize(long_px, long_side, exact), _normalize(short_px, short_side, exact)
        return (long, short) if w_long else (short, long)
    w_px = draw(st.floats(*_pixel_range(kind, width)))
    h_px = draw(st.floats(*_pixel_range(kind, height)))
    return _normalize(w_px, width, exact), _normalize(h_px, height, exact)


def _pixel_range(kind: str, side: int) -> tuple[float, float]:
    """Pixel sizes of a size kind: moderate, tiny (a pixel or less) or huge (near the side)."""
    return {"moderate": (2.0, side / 2), "tiny": (1 / 64, 1.0), "huge": (0.95 * side, side)}[kind]


def _normalize(px: float, side: int, exact: bool) -> float:
    """``px / side`` rounded down: to a multiple of 1/8 pixel (at least one) if exact, else to
    float32, so a size drawn at most 1 pixel (or aspect at least 24) stays so."""
    if exact:
        return max(1, math.floor(px * 8)) / (8 * side)
    x = torch.tensor(px / side, dtype=_F32)
    return float(x) if float(x) <= px / side else float(x.nextafter(torch.zeros_like(x)))


def _f32(value: float) -> float:
    return float(torch.tensor(value, dtype=_F32))


@lru_cache(maxsize=256)
def _ratio_sizes(problem: Problem, exact: bool) -> tuple[tuple[str, float, float], ...]:
    """(ratio kind, w, h): a wh ratio at anchor_t, or one float32 step under or over it.

    For every level, anchor, side (w or h) and ratio (anchor_t, 1 / anchor_t), float32 values
    near ``a * ratio / n`` are searched for those `_threshold` marks, the ratio computed as
    YOLOv5 does (``float32(w * n) / a``); the other side is the anchor's own (ratio about 1,
    so it never decides). Values outside (0, 1], and if exact off the 1/8-pixel grid, are left
    out. Most slots hit anchor_t exactly (nearly all for 4.0; three in four for 2.91); below
    and above always exist.
    """
    anchors = problem.anchors_grid()  # [nl, na, 2]
    gain = _gains(problem)[:, None, :, None]  # [nl, 1, 2, 1]
    scale = torch.tensor([problem.anchor_t, 1 / problem.anchor_t], dtype=_F32)
    start = anchors[..., None] * scale / gain  # [nl, na, 2 (w, h), 2 (ratio)]
    up, down = [start], [start]
    for _ in range(_WINDOW):
        up.append(up[-1].nextafter(torch.full_like(start, math.inf)))
        down.append(down[-1].nextafter(torch.zeros_like(start)))
    window = torch.stack(down[:0:-1] + up)  # [2 * _WINDOW + 1, ...], increasing
    m = _max_ratio(window * gain / anchors[..., None])
    # neighbours along the window; the ends get themselves, which decide nothing
    neighbours = torch.stack((torch.cat((m[:1], m[:-1])), torch.cat((m[1:], m[-1:]))))
    own = anchors / _gains(problem)[:, None]  # each anchor's own (w, h), normalized
    sides = torch.tensor(problem.img_size[::-1], dtype=torch.float64)
    out = []
    for kind, mask in _threshold(m, neighbours, problem.anchor_t).items():
        value = window.gather(0, mask.int().argmax(0, keepdim=True))[0]  # first marked
        for level, a, side, ratio in mask.any(0).nonzero().tolist():
            wh = own[level, a].clone()
            wh[side] = value[level, a, side, ratio]
            px = wh.double() * sides
            if (wh > 0).all() and (wh <= 1).all() and (not exact or (px * 8 % 1 == 0).all()):
                out.append((kind, float(wh[0]), float(wh[1])))
    return tuple(out)


def _gains(problem: Problem) -> Tensor:
    """Per level ``(nx, ny)``, ``Tensor[nl, 2]`` float32, YOLOv5's ``gain[2:4]``."""
    return torch.tensor([(nx, ny) for ny, nx in problem.feature_shapes], dtype=_F32)


def _max_ratio(r: Tensor) -> Tensor:
    """YOLOv5's ``torch.max(r, 1 / r)`` for the wh ratio ``r = t_wh / anchor_wh``."""
    return torch.max(r, 1 / r)


def _threshold(m: Tensor, neighbours: Tensor, anchor_t: float) -> dict[str, Tensor]:
    """Where the ratio test ``m < anchor_t`` (in ``m``'s dtype) is decided at its threshold, or
    one float step from it: ``neighbours`` holds ``m`` with w or h one step up or down, stacked
    on a new first dimension."""
    limit = torch.tensor(anchor_t, dtype=m.dtype)
    return {
        "ratio-at-threshold": m == limit,
        "ratio-step-below": (m < limit) & (neighbours >= limit).any(0),
        "ratio-step-above": (m > limit) & (neighbours <= limit).any(0),
    }


def edge_kinds(problem: Problem, targets: Tensor) -> set[str]:
    """The edge classes (see the module docstring, `EDGE_KINDS`) in valid targets ``[nt, 6]``.

    Computed from the values in the targets' dtype promoted to at least float32, as YOLOv5
    computes them; pixel sizes in float64. Raises ``ValueError`` on invalid targets.
    """
    validate_targets(problem, targets)
    dtype = torch.promote_types(targets.dtype, _F32)
    t = targets.detach().to("cpu", dtype)
    if len(t) == 0:
        return {"empty"}
    gain = _gains(problem)  # [nl, 2]
    xy, wh = t[:, 2:4], t[:, 4:6]
    gxy = xy * gain[:, None]  # [nl, nt, 2]
    n = gain[:, None]
    px = wh.double() * torch.tensor(problem.img_size[::-1], dtype=torch.float64)
    aspect = px[:, 0] / px[:, 1]
    rows = t.unique(dim=0)
    cells = torch.minimum((rows[:, 2:4] * gain[0]).long(), gain[0].long() - 1)
    keys = torch.cat((rows[:, :1].long(), cells), 1)  # (image, gi, gj) at level 0
    found = {
        "grid-aligned": (gxy == gxy.floor()) & (gxy > 0) & (gxy < n),
        "frac-half": gxy - gxy.floor() == 0.5,
        "x-zero-or-one": (xy == 0) | (xy == 1),
        "one-cell-from-border": (gxy == 1) | (gxy == n - 1),
        "gx-one": gxy == 1,
        **_ratio_kinds(problem, wh),
        "tiny": px <= 1,
        "huge": wh >= 0.9,
        "extreme-aspect": (aspect >= 20) | (aspect <= 1 / 20),
        "duplicate": torch.tensor(len(rows) < len(t)),
        "shared-cell": torch.tensor(len(keys.unique(dim=0)) < len(rows)),
        "idle-image": torch.tensor(len(t[:, 0].unique()) < problem.batch_size),
    }
    return {kind for kind, hit in found.items() if hit.any()}


def _ratio_kinds(problem: Problem, wh: Tensor) -> dict[str, Tensor]:
    """`_threshold` per (level, anchor, target), on YOLOv5's ``max(r, 1 / r).max(2)``, with
    each of w and h stepped one float up and down for the neighbours."""
    steps = [wh]
    for side in (0, 1):
        for toward in (math.inf, 0.0):
            stepped = wh.clone()
            stepped[:, side] = wh[:, side].nextafter(torch.full_like(wh[:, side], toward))
            steps.append(stepped)
    twh = torch.stack(steps)[:, None] * _gains(problem)[:, None]  # [5, nl, nt, 2]
    r = twh[:, :, None] / problem.anchors_grid()[None, :, :, None]  # [5, nl, na, nt, 2]
    m = _max_ratio(r).amax(-1)
    return _threshold(m[0], m[1:], problem.anchor_t)
