"""Hypothesis strategies at the scale real training runs at.

`strategies.problems` and `strategies.targets` draw small, edge-biased cases; the bugs that
live only in large batches (work done in chunks, narrow integer types, caps on boxes per
image, per-image bookkeeping) never see them. These add the large cases:

- `large_problems`: batches of up to 64 images, up to 1 203 classes (LVIS; Objects365 has
  365, Open Images 600), inputs of 320 to 2 048 px with P5 or P6 heads.
- `crowds`: up to 10 000 targets in one batch, as a mosaic loader gives them: images sorted
  (or not) by index, some idle, some crowded with hundreds of small boxes (SKU-110K,
  CrowdHuman), many piled into the same cells; the edge-biased rows of `targets` on top.

Only a handful of values are drawn (counts, a seed, a few flags); the rows come from a
`torch.Generator` seeded by the draw, as a fixed pool of which the first ``n`` rows are
taken. Shrinking a count therefore removes rows from the end and keeps the rest as they
were, and a failing 10 000-row case shrinks to the fewest rows that still fail.
"""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy
from torch import Tensor

from .errors import DiagnosticsError
from .problem import Problem
from .rules import DEFAULT_RULE
from .strategies import problems, targets

MAX_BATCH = 64
MAX_CLASSES = 1203  # LVIS
MAX_TARGETS = 10_000


@st.composite
def mostly(draw: DrawFn, low: int, high: int, common: tuple[int, ...]) -> int:
    """An integer in ``[low, high]``: one of ``common`` half the time, else any.

    A common value is drawn as the same integer choice as any other, so the shrinker can
    let it go and keep shrinking toward ``low``: a failure found at 10 000 targets ends at
    the fewest that still fail.
    """
    pick = draw(st.none() | st.sampled_from(common))
    return draw(st.integers(low, high) if pick is None else st.integers(pick, pick))


# Box sizes in pixels, log-uniform: a sparse image's span COCO's; a crowded image's are the
# small, similar boxes of a shelf or a crowd.
_SPARSE_PX, _CROWDED_PX = (2.0, 600.0), (6.0, 64.0)
_MAX_ASPECT = 3.0


def large_problems(rule: str = DEFAULT_RULE) -> SearchStrategy[Problem]:
    """Problems as training runs them, under ``rule``: P5 or P6, 320 to 2 048 px (square or
    not), batches of 1 to 64 images (64 drawn often), 1 to 1 203 classes (80, 365, 600,
    1 203 drawn often)."""
    return problems(
        sides=mostly(5, 32, (10, 20, 32)).map(lambda k: 64 * k),  # 320 to 2 048 px
        batch_size=mostly(1, MAX_BATCH, (16, 32, MAX_BATCH)),
        num_classes=mostly(1, MAX_CLASSES, (80, 365, 600, MAX_CLASSES)),
        rule=rule,
    )


def crowds(problem: Problem, *, max_targets: int = MAX_TARGETS) -> SearchStrategy[Tensor]:
    """Valid targets ``Tensor[nt, 6]`` float32 on the CPU, ``nt <= max_targets + 12``.

    Drawn: how many rows (``max_targets`` half the time), how many images are idle and how
    many crowded, how many boxes pile into each crowded image's hot cells, whether the rows
    are sorted by image, a seed, and up to 12 edge-biased rows of `targets`.
    """
    if max_targets < 0:
        raise DiagnosticsError(f"crowds: max_targets must be >= 0, got {max_targets}")
    return mostly(0, max_targets, (max_targets,)).flatmap(lambda n: _crowd(problem, n))


@st.composite
def large_cases(
    draw: DrawFn, *, max_targets: int = MAX_TARGETS, rule: str = DEFAULT_RULE
) -> tuple[Problem, Tensor]:
    """``(problem, targets)`` of `large_problems` (under ``rule``) and `crowds`, the row count
    drawn first: the shrinker lowers it first, so a failing 10 000-row case is cut down while
    each call is still cheap."""
    n = draw(mostly(0, max_targets, (max_targets,)))
    problem = draw(large_problems(rule))
    return problem, draw(_crowd(problem, n))


@st.composite
def _crowd(draw: DrawFn, problem: Problem, n: int) -> Tensor:
    """``n`` rows of `pool`, then up to 12 edge-biased rows of `targets`."""
    b = problem.batch_size
    idle = draw(st.integers(0, b - 1))
    crowded = draw(st.integers(0, b - idle))
    weight = draw(st.integers(10, 100))  # a crowded image's share against a sparse one's
    piled = draw(st.floats(0, 0.5))  # of a crowded image's boxes, the share in hot cells
    by_image = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    bulk = pool(problem, n, idle=idle, crowded=crowded, weight=weight, piled=piled, seed=seed)
    if by_image:
        bulk = bulk[bulk[:, 0].argsort(stable=True)]
    return torch.cat((bulk, draw(targets(problem))))


def pool(
    problem: Problem,
    n: int,
    *,
    idle: int,
    crowded: int,
    weight: float,
    piled: float,
    seed: int,
) -> Tensor:
    """The first ``n`` rows of a seeded pool, ``Tensor[n, 6]`` float32 (a prefix: the rows
    do not depend on ``n``).

    ``idle`` images get no boxes, ``crowded`` ones ``weight`` times a sparse image's share of
    small boxes, ``piled`` of them centred in one of the image's 1 to 3 hot level-0 cells;
    the others get COCO-like boxes anywhere. Which images are which comes from the seed.
    """
    b, (h_px, w_px) = problem.batch_size, problem.img_size
    if not (0 <= idle < b and 0 <= crowded <= b - idle):
        raise DiagnosticsError(
            f"pool: need 0 <= idle < batch_size and crowded <= batch_size - idle, got idle "
            f"{idle}, crowded {crowded}, batch_size {b}"
        )
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    order = torch.randperm(b, generator=gen)
    weights = torch.ones(b, dtype=f64)
    weights[order[:idle]] = 0
    is_crowded = torch.zeros(b, dtype=torch.bool)
    is_crowded[order[idle : idle + crowded]] = True
    weights[is_crowded] = weight
    hot = _hot_cells(problem, gen)  # [b, 3, 2] cell corners, normalized
    # Each random column comes from its own stream, filled row by row: rows are a prefix.
    image_u, cls_u, side_u, aspect_u, pile_u, hot_u = (_uniform(seed, k, n) for k in range(6))
    centre, in_cell = _uniform(seed, 6, 2 * n).view(n, 2), _uniform(seed, 7, 2 * n).view(n, 2)
    cdf = weights.cumsum(0) / weights.sum()
    image = torch.searchsorted(cdf, image_u, right=True).clamp(max=b - 1)
    cls = (cls_u * problem.num_classes).long().clamp(max=problem.num_classes - 1)
    which_hot = (hot_u * 3).long().clamp(max=2)

    crowd = is_crowded[image]
    low, high = (torch.where(crowd, c, s) for c, s in zip(_CROWDED_PX, _SPARSE_PX))
    side = torch.exp(low.log() + side_u * (high.log() - low.log()))
    aspect = torch.exp((2 * aspect_u - 1) * math.log(_MAX_ASPECT))
    wh = torch.stack((side * aspect.sqrt() / w_px, side / aspect.sqrt() / h_px), 1)
    stride = problem.strides[0]
    cell = torch.tensor([stride / w_px, stride / h_px], dtype=f64)
    in_hot = hot[image, which_hot] + (0.05 + 0.9 * in_cell) * cell
    centre = torch.where((crowd & (pile_u < piled))[:, None], in_hot, centre)
    lo, hi = (centre - wh / 2).clamp(min=0), (centre + wh / 2).clamp(max=1)
    rows = torch.cat((image[:, None].to(f64), cls[:, None].to(f64), (lo + hi) / 2, hi - lo), 1)
    return rows.float()


def _hot_cells(problem: Problem, gen: torch.Generator) -> Tensor:
    """Per image, three level-0 cells' top-left corners, normalized: ``Tensor[B, 3, 2]``."""
    ny, nx = problem.feature_shapes[0]
    gi = torch.randint(0, nx, (problem.batch_size, 3), generator=gen)
    gj = torch.randint(0, ny, (problem.batch_size, 3), generator=gen)
    return torch.stack((gi / nx, gj / ny), -1).double()


def _uniform(seed: int, stream: int, n: int) -> Tensor:
    """``Tensor[n]`` float64 uniform in [0, 1) from stream ``stream`` of ``seed``."""
    gen = torch.Generator().manual_seed(seed * 16 + stream)
    return torch.rand(n, generator=gen, dtype=torch.float64)


def scale_features(problem: Problem, t: Tensor) -> dict[str, int]:
    """What makes a case large, for the coverage tests and a user's own statistics: rows,
    the most rows in one image and in one level-0 cell of one image, idle images, classes,
    the largest class and the level-0 grid's longer side."""
    ny, nx = problem.feature_shapes[0]
    if len(t) == 0:
        per_image = per_cell = top_class = 0
    else:
        image = t[:, 0].long()
        per_image = int(image.bincount().max())
        gi = (t[:, 2].double() * nx).long().clamp(0, nx - 1)
        gj = (t[:, 3].double() * ny).long().clamp(0, ny - 1)
        per_cell = int(((image * ny + gj) * nx + gi).unique(return_counts=True)[1].max())
        top_class = int(t[:, 1].max())
    return {
        "targets": len(t),
        "most-in-one-image": per_image,
        "most-in-one-cell": per_cell,
        "idle-images": problem.batch_size - len(t[:, 0].unique()),
        "classes": problem.num_classes,
        "top-class": top_class,
        "grid": max(nx, ny),
        "batch": problem.batch_size,
        "levels": problem.nl,
    }
