"""Hypothesis strategies for TAL at the scale training runs at.

`tal_batches` draws small, edge-biased batches; the bugs of large ones (dense ``[b, n, na]``
tensors and their memory, chunked or per-image fallbacks, crowded images with hundreds of
boxes) never see them. `large_tal_cases` draws ``(problem, batch)`` as training passes it:
16 to 64 images of 640 to 1 280 px (8 400 to 34 000 anchor points, P5 or P6), 1 to 80
classes, and up to 300 GT rows per image, padded trailing with zeros as the loss pads.

As in the anchor family's `yolo_diagnostics.scale`, only a handful of values are drawn: the
GT count first, the problem, the images' layout (idle, crowded, piled), a seed and up to 12
edge-biased rows of `gt_row`. The bulk rows are the first ones of a seeded pool (`gt_pool`),
so shrinking the count drops rows from the end and keeps the rest: a property failing only
above 1 000 GTs in one batch shrinks to 1 001 of them.

Memory (`case_bytes`): the largest case, 64 images at 1 280 x 1 280 on P6 (34 000 anchor
points), 80 classes and 300 rows per image, holds 732 MB of inputs in float32 (pd_scores
696 MB of it), 366 MB in float16 and 384 MB with AMP; the predictions are filled image by
image, so the peak while drawing is that plus one image's temporaries (about 30 MB). An
assigner's dense ``[b, n, na]`` tensors cost more: 653 M entries, 3.3 GB at the reference's
five bytes each, 9.1 GB at ultralytics' fourteen.
"""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy
from torch import Tensor

from ..errors import DiagnosticsError
from ..scale import mostly
from .corpus import TalBatch
from .kinds import (
    BOX_KINDS,
    PRECISIONS,
    PREDICTION_KINDS,
    SCORE_KINDS,
    as_strategy,
    assemble_batch,
    check_kind,
    gt_row,
)
from .problem import TalProblem
from .strategies import PYRAMIDS, tal_problems

MAX_IMAGES = 64
MAX_GT_PER_IMAGE = 300
MAX_GT = MAX_IMAGES * MAX_GT_PER_IMAGE  # 19 200: every image at the cap
MAX_CLASSES = 80
MAX_EXTRA_ROWS = 12

# Box sides in pixels, log-uniform: a sparse image's span COCO's; a crowded image's are the
# small, similar boxes of a shelf or a crowd.
_SPARSE_PX, _CROWDED_PX = (2.0, 600.0), (6.0, 64.0)
_MAX_ASPECT = 3.0
_HOT = 3  # hot anchor points per image that a crowded image piles its boxes on


@st.composite
def _large_sizes(draw: DrawFn) -> tuple[int, int]:
    """(H, W), multiples of 64 from 640 to 1 280 (both often), square half the time."""
    sides = mostly(10, 20, (10, 20)).map(lambda k: 64 * k)
    height = draw(sides)
    return height, height if draw(st.booleans()) else draw(sides)


# Defaults, as names: a call in an argument default is evaluated once (B008).
_BATCH_SIZES = mostly(16, MAX_IMAGES, (16, 32, MAX_IMAGES))
_SIZES = _large_sizes()
_STRIDES = st.sampled_from((PYRAMIDS["P5"], PYRAMIDS["P6"]))
_NUM_CLASSES = mostly(1, MAX_CLASSES, (1, MAX_CLASSES))
_BOX_KINDS = st.sampled_from(BOX_KINDS)
_PREDICTIONS = st.sampled_from(PREDICTION_KINDS)
_SCORES = st.sampled_from(SCORE_KINDS)
_PRECISIONS = st.sampled_from(("float32", "amp", "float16"))


def large_tal_problems(
    *,
    batch_size: int | SearchStrategy[int] = _BATCH_SIZES,
    img_size: tuple[int, int] | SearchStrategy[tuple[int, int]] = _SIZES,
    strides: tuple[int, ...] | SearchStrategy[tuple[int, ...]] = _STRIDES,
    num_classes: int | SearchStrategy[int] = _NUM_CLASSES,
) -> SearchStrategy[TalProblem]:
    """Problems as training runs them; the assigner's knobs as `tal_problems` draws them.
    Each argument is a value or a strategy of values.

    Args:
        batch_size: images, 16 to 64 (16, 32 and 64 often).
        img_size: (H, W), multiples of 64 from 640 to 1 280 px.
        strides: P5 (8, 16, 32) or P6 (8, 16, 32, 64).
        num_classes: 1 to 80 (1 and 80 often): ``pd_scores`` is ``b x na x nc``.
    """
    return tal_problems(
        strides=strides, img_size=img_size, batch_size=batch_size, num_classes=num_classes
    )


_LARGE_PROBLEMS = large_tal_problems()


@st.composite
def large_tal_cases(
    draw: DrawFn,
    *,
    problem: TalProblem | SearchStrategy[TalProblem] = _LARGE_PROBLEMS,
    max_gt: int = MAX_GT,
    max_gt_per_image: int = MAX_GT_PER_IMAGE,
    extra_rows: int = MAX_EXTRA_ROWS,
    box_kind: str | SearchStrategy[str] = _BOX_KINDS,
    predictions: str | SearchStrategy[str] = _PREDICTIONS,
    scores: str | SearchStrategy[str] = _SCORES,
    precision: str | SearchStrategy[str] = _PRECISIONS,
    device: str | torch.device | SearchStrategy[str] = "cpu",
) -> tuple[TalProblem, TalBatch]:
    """``(problem, batch)`` at training scale, the GT count drawn first (the shrinker lowers
    it first, so a failing case is cut down while each call is still cheap). Each argument
    but the bounds is a value or a strategy of values.

    Args:
        problem: the problem, or a strategy of problems (`large_tal_problems`).
        max_gt: the most pool rows (``max_gt`` itself half the time); rows beyond an image's
            cap are left out, so the batch holds at most ``b * max_gt_per_image``.
        max_gt_per_image: the cap: an image keeps its first rows up to it.
        extra_rows: the most edge-biased rows of `gt_row`, placed first in their images.
        box_kind: a `BOX_KINDS` name per extra row.
        predictions: a `PREDICTION_KINDS` name for the batch.
        scores: a `SCORE_KINDS` name for the batch.
        precision: a `PRECISIONS` name.
        device: where the tensors go.
    """
    if min(max_gt, max_gt_per_image, extra_rows) < 0:
        raise DiagnosticsError(
            f"large_tal_cases: bounds must be >= 0, got max_gt {max_gt}, max_gt_per_image "
            f"{max_gt_per_image}, extra_rows {extra_rows}"
        )
    total = draw(mostly(0, max_gt, (max_gt,)))
    p = draw(as_strategy(problem))
    b = p.batch_size
    idle = draw(st.integers(0, b - 1))
    crowded = draw(st.integers(0, b - idle))
    weight = draw(st.integers(10, 100))  # a crowded image's share against a sparse one's
    piled = draw(st.floats(0, 0.5))  # of a crowded image's boxes, the share on hot anchors
    seed = draw(st.integers(0, 2**32 - 1))
    extras = draw(_extra_rows(p, extra_rows, box_kind))
    image, label, box = gt_pool(
        p, total, idle=idle, crowded=crowded, weight=weight, piled=piled, seed=seed
    )
    if extras:  # first in their images, where row-order quirks live
        image = torch.cat((torch.tensor([e[0] for e in extras]), image))
        label = torch.cat((torch.tensor([e[1] for e in extras]).long(), label))
        box = torch.cat((torch.tensor([e[2] for e in extras], dtype=torch.float64), box))
    gt_labels, gt_bboxes, valid = pack(p, image, label, box, max_gt_per_image)
    kinds = (
        check_kind(draw(as_strategy(predictions)), PREDICTION_KINDS, "predictions"),
        check_kind(draw(as_strategy(scores)), SCORE_KINDS, "scores"),
    )
    mode = check_kind(draw(as_strategy(precision)), tuple(PRECISIONS), "precision")
    batch = assemble_batch(
        p,
        gt_labels,
        gt_bboxes,
        valid,
        [kinds] * b,
        seed=seed,
        precision=mode,
        device=draw(as_strategy(device)),
    )
    return p, batch


@st.composite
def _extra_rows(
    draw: DrawFn, problem: TalProblem, most: int, box_kind: str | SearchStrategy[str]
) -> list[tuple[int, float, list[float]]]:
    """Up to ``most`` rows ``(image, label, box)`` of `gt_row`, in drawn images."""
    rows: list[tuple[int, float, list[float]]] = []
    for _ in range(draw(st.integers(0, most))):
        image = draw(st.integers(0, problem.batch_size - 1))
        earlier = tuple((label, box) for i, label, box in rows if i == image)
        kind = check_kind(draw(as_strategy(box_kind)), BOX_KINDS, "box_kind")
        rows.append((image, *draw(gt_row(problem, kind, earlier))))
    return rows


def gt_pool(
    problem: TalProblem,
    n: int,
    *,
    idle: int,
    crowded: int,
    weight: float,
    piled: float,
    seed: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """The first ``n`` rows of a seeded pool (a prefix: the rows do not depend on ``n``):
    images ``Tensor[n]`` int64, labels ``Tensor[n]`` int64, boxes ``Tensor[n, 4]`` float64
    xyxy pixels inside the input.

    ``idle`` images get no boxes, ``crowded`` ones ``weight`` times a sparse image's share of
    small boxes, ``piled`` of them centred within half a level-0 stride of one of the
    image's 3 hot anchor points (so many GTs claim those anchors); the others get COCO-like
    boxes anywhere. Which images are which comes from the seed.
    """
    b, (h_px, w_px) = problem.batch_size, problem.img_size
    if not (0 <= idle < b and 0 <= crowded <= b - idle):
        raise DiagnosticsError(
            f"gt_pool: need 0 <= idle < batch_size and crowded <= batch_size - idle, got idle "
            f"{idle}, crowded {crowded}, batch_size {b}"
        )
    f64 = torch.float64
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(b, generator=gen)
    weights = torch.ones(b, dtype=f64)
    weights[order[:idle]] = 0
    is_crowded = torch.zeros(b, dtype=torch.bool)
    is_crowded[order[idle : idle + crowded]] = True
    weights[is_crowded] = weight
    ny, nx = problem.feature_shapes[0]
    s0 = problem.strides[0]
    hot = problem.anchor_points(dtype=f64)[torch.randint(0, ny * nx, (b, _HOT), generator=gen)]
    # Each random column comes from its own stream, filled row by row: rows are a prefix.
    image_u, cls_u, side_u, aspect_u, pile_u, hot_u = (_uniform(seed, k, n) for k in range(6))
    centre_u, jitter_u = _uniform(seed, 6, 2 * n).view(n, 2), _uniform(seed, 7, 2 * n).view(n, 2)
    cdf = weights.cumsum(0) / weights.sum()
    image = torch.searchsorted(cdf, image_u, right=True).clamp(max=b - 1)
    label = (cls_u * problem.num_classes).long().clamp(max=problem.num_classes - 1)
    crowd = is_crowded[image]
    low, high = (torch.where(crowd, c, s) for c, s in zip(_CROWDED_PX, _SPARSE_PX))
    side = torch.exp(low.log() + side_u * (high.log() - low.log()))
    aspect = torch.exp((2 * aspect_u - 1) * math.log(_MAX_ASPECT))
    wh = torch.stack((side * aspect.sqrt(), side / aspect.sqrt()), 1)
    size = torch.tensor([w_px, h_px], dtype=f64)
    on_hot = hot[image, (hot_u * _HOT).long().clamp(max=_HOT - 1)] + (jitter_u - 0.5) * s0
    centre = torch.where((crowd & (pile_u < piled))[:, None], on_hot, centre_u * size)
    lo = (centre - wh / 2).clamp(min=0)
    hi = torch.minimum(centre + wh / 2, size)
    return image, label, torch.cat((lo, hi), 1)


def _uniform(seed: int, stream: int, n: int) -> Tensor:
    """``Tensor[n]`` float64 uniform in [0, 1) from stream ``stream`` of ``seed``."""
    gen = torch.Generator().manual_seed(seed * 16 + stream)
    return torch.rand(n, generator=gen, dtype=torch.float64)


def pack(
    problem: TalProblem, image: Tensor, label: Tensor, box: Tensor, cap: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Rows into per-image tables, as the loss builds them: each image's rows in order,
    its first ``cap`` kept, padded trailing with zeros to the fullest image's count ``n``.

    Returns ``gt_labels`` ``[b, n, 1]`` and ``gt_bboxes`` ``[b, n, 4]`` float64, ``valid``
    ``[b, n]`` bool. A row's place depends only on the rows before it.
    """
    b = problem.batch_size
    counts = torch.bincount(image, minlength=b)
    order = torch.argsort(image, stable=True)
    rank = torch.empty_like(image)
    rank[order] = torch.arange(len(image)) - (counts.cumsum(0) - counts)[image[order]]
    keep = rank < cap
    n = int(counts.clamp(max=cap).max()) if len(image) else 0
    labels = torch.zeros((b, n, 1), dtype=torch.float64)
    boxes = torch.zeros((b, n, 4), dtype=torch.float64)
    valid = torch.zeros((b, n), dtype=torch.bool)
    i, r = image[keep], rank[keep]
    labels[i, r, 0] = label[keep].double()
    boxes[i, r] = box[keep]
    valid[i, r] = True
    return labels, boxes, valid


def case_bytes(problem: TalProblem, n: int, precision: str = "float32") -> int:
    """Bytes of a batch's six inputs with ``n`` GT rows per image, in ``precision``."""
    box_dtype, score_dtype = PRECISIONS[precision]
    b, na, nc = problem.batch_size, problem.num_anchors, problem.num_classes
    box, score = box_dtype.itemsize, score_dtype.itemsize
    return b * na * nc * score + (b * na * 4 + na * 2 + b * n * 6) * box


def tal_scale_features(problem: TalProblem, batch: TalBatch) -> dict[str, int]:
    """What makes a case large, for coverage tests and a user's own statistics: images,
    anchor points, classes, levels, GT rows ``n``, valid GTs, the most in one image and in
    one level-0 cell (by box centre) of one image, and images without a valid GT."""
    valid = (batch.mask_gt[..., 0] != 0).cpu()
    per_image = valid.sum(1)
    ny, nx = problem.feature_shapes[0]
    boxes = batch.gt_bboxes.cpu().double()[valid]
    image = valid.nonzero()[:, 0]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 / problem.strides[0]
    gi = centre[:, 0].floor().long().clamp(0, nx - 1)
    gj = centre[:, 1].floor().long().clamp(0, ny - 1)
    cells = ((image * ny + gj) * nx + gi).unique(return_counts=True)[1]
    return {
        "images": problem.batch_size,
        "anchors": problem.num_anchors,
        "classes": problem.num_classes,
        "levels": len(problem.strides),
        "rows": batch.gt_bboxes.shape[1],
        "gts": int(per_image.sum()),
        "most-in-one-image": int(per_image.max()) if len(per_image) else 0,
        "most-in-one-cell": int(cells.max()) if len(cells) else 0,
        "idle-images": int((per_image == 0).sum()),
    }
