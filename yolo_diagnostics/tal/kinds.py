"""The named kinds the TAL strategies draw, and how each is made.

`strategies` and `scale` build their batches from these pieces: `gt_row` draws one GT row of
a `BOX_KINDS` kind, value by value (eighths of a pixel, so a shrunk case reads well);
`fill_predictions` fills ``pd_bboxes`` and ``pd_scores`` of a `PREDICTION_KINDS` and a
`SCORE_KINDS` kind per image from a seed (a value per anchor is too many to draw);
`assemble_batch` casts and moves the six inputs to a `PRECISIONS` mode and a device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

import torch
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy
from torch import Tensor

from ..errors import DiagnosticsError
from .corpus import TalBatch
from .problem import TalProblem

_T = TypeVar("_T")
_F64 = torch.float64

PRECISIONS: dict[str, tuple[torch.dtype, torch.dtype]] = {  # (boxes and the rest, scores)
    "float32": (torch.float32, torch.float32),
    "float16": (torch.float16, torch.float16),
    "amp": (torch.float32, torch.float16),
}
BOX_KINDS = ("random", "floor", "edges", "large", "outside", "crowd", "duplicate")
PREDICTION_KINDS = ("random", "near-gt", "exact-gt", "identical")
SCORE_KINDS = ("uniform", "exact", "zero", "identical")
_EXACT_SHARE = 0.3  # of a near-gt image's anchors, those that predict their GT exactly


def as_strategy(value: _T | SearchStrategy[_T]) -> SearchStrategy[_T]:
    """A strategy as it is, a value as the strategy of that one value."""
    return value if isinstance(value, SearchStrategy) else st.just(value)


def check_kind(value: str, names: Sequence[str], argument: str) -> str:
    """``value`` if it is one of ``names``, else a `DiagnosticsError` naming ``argument``."""
    if value not in names:
        raise DiagnosticsError(f"{argument}: expected one of {tuple(names)}, got {value!r}")
    return value


@st.composite
def gt_row(
    draw: DrawFn,
    problem: TalProblem,
    kind: str,
    earlier: tuple[tuple[float, list[float]], ...] = (),
) -> tuple[float, list[float]]:
    """One GT row ``(label, [x1, y1, x2, y2])`` in pixels, of a `BOX_KINDS` kind.

    Args:
        problem: the problem the row is for.
        kind: the box kind (``crowd`` and ``duplicate`` fall back to ``random`` without
            ``earlier``).
        earlier: ``(label, box)`` of the image's earlier real rows.
    """
    if kind in ("crowd", "duplicate") and not earlier:
        kind = "random"
    if kind == "duplicate":
        label, box = draw(st.sampled_from(earlier))
        if draw(st.booleans()):  # the same box under another class
            label = float(draw(st.integers(0, problem.num_classes - 1)))
        return label, list(box)
    label = float(draw(st.integers(0, problem.num_classes - 1)))
    if kind == "crowd":
        return label, draw(_near(problem, draw(st.sampled_from(earlier))[1]))
    if kind == "edges":
        return label, draw(_on_anchors(problem))
    height, width = problem.img_size
    x1, x2 = draw(_span(problem, kind, width))
    # an outside box crosses the border in x, and in y only sometimes
    y_kind = "random" if kind == "outside" and draw(st.booleans()) else kind
    y1, y2 = draw(_span(problem, y_kind, height))
    return label, [x1, y1, x2, y2]


def _eighths(low: float, high: float) -> SearchStrategy[float]:
    """Multiples of 1/8 in [low, high]: exact in float32 (and in float16 below 256 px)."""
    return st.integers(math.ceil(low * 8), math.floor(high * 8)).map(lambda k: k / 8)


@st.composite
def _span(draw: DrawFn, problem: TalProblem, kind: str, side: int) -> tuple[float, float]:
    """One axis of a box, ``(low, high)`` pixels, on an input ``side`` pixels long."""
    s0 = problem.strides[0]
    if kind == "floor":
        size = draw(st.sampled_from(_floor_sides(s0, problem.stal_side, problem.stal_below)))
        where = draw(st.sampled_from(("anchor", "corner", "anywhere")))
        if where == "anchor":
            centre = (draw(st.integers(0, side // s0 - 1)) + 0.5) * s0
        elif where == "corner":  # between four level-0 anchors: none inside without the floor
            centre = float(draw(st.integers(0, side // s0)) * s0)
        else:
            centre = draw(_eighths(0, side))
    elif kind == "large":
        # up to 4 sides: past 256 px, a float16 area overflows (65 504)
        size, centre = draw(_eighths(side + 1 / 8, 4 * side)), draw(_eighths(0, side))
    elif kind == "outside":
        size = draw(_eighths(1, max(1, side / 2)))
        reach = size / 2 - 1 / 8  # the centre this close to the border: the box crosses it
        centre = draw(st.sampled_from((0, side))) + draw(_eighths(-reach, reach))
    else:
        size, centre = draw(_eighths(2, max(2, 0.6 * side))), draw(_eighths(0, side))
    return centre - size / 2, centre + size / 2


@lru_cache(maxsize=16)
def _floor_sides(stride: int, floor: float, threshold: float) -> tuple[float, ...]:
    """Sides at the floor's thresholds (8 and 16 and the problem's own), 0.1 px either side,
    and below 8; the thresholds first, so shrinking ends on one."""
    marks = sorted({8.0, 16.0, float(stride), floor, threshold})
    near = [m + d for m in marks for d in (-0.1, 0.1)]
    return tuple(dict.fromkeys([*marks, *near, 4.0, 12.0, 2.0, 1.0]))


@st.composite
def _on_anchors(draw: DrawFn, problem: TalProblem) -> list[float]:
    """A box whose four edges lie on anchor coordinates of one level, 1 to 4 cells apart
    (the far edge may lie beyond the input)."""
    stride = problem.strides[draw(st.integers(0, len(problem.strides) - 1))]
    spans = []
    for side in problem.img_size[::-1]:  # x, then y
        i = draw(st.integers(0, side // stride - 1))
        spans.append(((i + 0.5) * stride, (i + draw(st.integers(1, 4)) + 0.5) * stride))
    (x1, x2), (y1, y2) = spans
    return [x1, y1, x2, y2]


@st.composite
def _near(draw: DrawFn, problem: TalProblem, box: list[float]) -> list[float]:
    """A box centred within half a level-0 stride of ``box``'s centre, its sides within a
    stride of ``box``'s (at least 1 px): the two share anchor points."""
    s0 = problem.strides[0]
    spans = []
    for low, high in ((box[0], box[2]), (box[1], box[3])):
        centre = (low + high) / 2 + draw(_eighths(-s0 / 2, s0 / 2))
        size = max(1.0, high - low + draw(_eighths(-s0, s0)))
        spans.append((centre - size / 2, centre + size / 2))
    (x1, x2), (y1, y2) = spans
    return [x1, y1, x2, y2]


def assemble_batch(
    problem: TalProblem,
    gt_labels: Tensor,
    gt_bboxes: Tensor,
    valid: Tensor,
    kinds: Sequence[tuple[str, str]],
    *,
    seed: int,
    precision: str,
    device: str | torch.device = "cpu",
) -> TalBatch:
    """A `TalBatch` from GT tables (``gt_labels`` ``[b, n, 1]``, ``gt_bboxes`` ``[b, n, 4]``
    pixels, ``valid`` ``[b, n]`` bool) and per image ``(prediction kind, score kind)``,
    predictions from ``seed``, in the dtypes of ``precision``, on ``device``."""
    box_dtype, score_dtype = PRECISIONS[precision]
    pd_scores, pd_bboxes = fill_predictions(
        problem, gt_bboxes, valid, kinds, seed=seed, score_dtype=score_dtype, box_dtype=box_dtype
    )
    return TalBatch(
        pd_scores.to(device),
        pd_bboxes.to(device),
        problem.anchor_points(device, box_dtype),
        gt_labels.to(device, box_dtype),
        gt_bboxes.to(device, box_dtype),
        valid[..., None].to(device, box_dtype),  # as the loss derives it: a float mask
    )


def fill_predictions(
    problem: TalProblem,
    gt_bboxes: Tensor,
    valid: Tensor,
    kinds: Sequence[tuple[str, str]],
    *,
    seed: int,
    score_dtype: torch.dtype = torch.float32,
    box_dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """``pd_scores`` ``[b, na, nc]`` and ``pd_bboxes`` ``[b, na, 4]`` (xyxy pixels) on the
    CPU, image by image from one generator (peak memory: the outputs and one image's
    temporaries), per image ``kinds[i] = (prediction kind, score kind)``."""
    g = torch.Generator().manual_seed(seed)
    b, na, nc = problem.batch_size, problem.num_anchors, problem.num_classes
    anchors = problem.anchor_points(dtype=_F64)
    reach = torch.cat(  # random boxes reach up to 4 cells of their level from the anchor
        [
            torch.full((ny * nx, 1), 4.0 * s, dtype=_F64)
            for (ny, nx), s in zip(problem.feature_shapes, problem.strides)
        ]
    )
    pd_scores = torch.empty((b, na, nc), dtype=score_dtype)
    pd_bboxes = torch.empty((b, na, 4), dtype=box_dtype)
    for i, (box_kind, score_kind) in enumerate(kinds):
        real = gt_bboxes[i][valid[i]].to(_F64)
        pd_bboxes[i] = _predicted_boxes(box_kind, anchors, reach, real, g)
        _fill_scores(pd_scores[i], score_kind, g)
    return pd_scores, pd_bboxes


def _predicted_boxes(
    kind: str, anchors: Tensor, reach: Tensor, real: Tensor, g: torch.Generator
) -> Tensor:
    """``Tensor[na, 4]`` float64 xyxy, ``x2 >= x1``: ``real`` holds the image's GT boxes."""
    na = len(anchors)
    around = torch.rand((na, 4), generator=g, dtype=_F64) * reach
    random = torch.cat((anchors - around[:, :2], anchors + around[:, 2:]), 1)
    if kind == "identical":
        return (real[:1] if len(real) else random[:1]).expand(na, 4)
    if kind == "random" or len(real) == 0:
        return random
    target = real[torch.randint(0, len(real), (na,), generator=g)]
    if kind == "exact-gt":
        return target
    jitter = (torch.rand((na, 4), generator=g, dtype=_F64) - 0.5) * 4
    exact = torch.rand((na, 1), generator=g) < _EXACT_SHARE
    near = torch.where(exact, target, target + jitter)
    return torch.cat((near[:, :2], torch.maximum(near[:, 2:], near[:, :2])), 1)


def _fill_scores(out: Tensor, kind: str, g: torch.Generator) -> None:
    """Fill ``out`` ``[na, nc]`` with probabilities of a `SCORE_KINDS` kind, in place (no
    second copy of a large image's scores)."""
    if kind == "zero":
        out.zero_()
    elif kind == "identical":
        out.copy_(torch.rand((1, out.shape[1]), generator=g).expand_as(out))
    elif out.dtype == torch.float32:
        torch.rand(out.shape, generator=g, out=out)
    else:
        out.copy_(torch.rand(out.shape, generator=g))
    if kind == "exact":  # a tenth of the scores exactly 0 or 1: pow(0, alpha), perfect scores
        k = max(1, out.numel() // 10)
        at = torch.randint(0, out.numel(), (k,), generator=g)
        out.view(-1)[at] = torch.randint(0, 2, (k,), generator=g).to(out.dtype)
