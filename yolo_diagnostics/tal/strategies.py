"""Hypothesis strategies for task-aligned assignment (TAL), biased to where TAL bugs live.

`tal_problems` draws small `TalProblem`s: P5, P6 or one level; sides of 32 to 256 px, or
inputs so small that there are fewer anchor points than topk; 1 to 4 images, 1 to 80
classes; and the assigner's knobs from their published values and edges (topk 10, 13, 7
and 1; topk2 None, 1, topk, below or above it; alpha/beta 0.5/6 and 1/6; the small-box floor
on or off, and its pre-#25912 threshold 8). `tal_batches` draws `TalBatch`es, the six inputs
of ``TaskAlignedAssigner.forward``, and `tal_cases` both. Every GT row comes from a named
kind (`BOX_KINDS`), and so does each image's padding, predictions and scores:

- boxes: ``random``; ``floor`` (sides at, or 0.1 px from, the floor's thresholds 8 and 16,
  and below 8, centred on an anchor point, a cell corner or anywhere); ``edges`` (edges
  exactly through anchor coordinates: the strict inside test); ``large`` (1 to 4 times the
  input's sides); ``outside`` (across the input's border); ``crowd`` (near an earlier box of the
  image: several GTs claim one anchor); ``duplicate`` (an earlier box again);
- padding (`PADDINGS`): ``trailing`` zeros as the loss pads, ``interleaved`` (padded rows
  between real ones, some holding stale boxes), ``none``; images without boxes, and
  ``n == 0`` (no GT rows at all), drawn on purpose;
- predictions (`PREDICTION_KINDS`): ``random`` near the anchors, ``near-gt``, ``exact-gt``,
  ``identical`` (one box at every anchor); scores (`SCORE_KINDS`): ``uniform``, ``exact``
  (some exactly 0 and 1), ``zero``, ``identical`` (one row at every anchor);
- precision (`PRECISIONS`): ``float32``, ``float16``, ``amp`` (float16 scores, float32
  boxes); labels are floats in the boxes' dtype, as the loss passes them.

GT rows (at most 12 by default) are drawn value by value, in eighths of a pixel, and shrink
to readable boxes; the per-anchor predictions come from a drawn seed. `tal_edge_kinds`
(module ``edges``) names the edge classes a batch holds; `large_tal_cases` and
`large_tal_problems` (module ``scale``) draw training-scale cases; module ``kinds`` makes
each kind.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from ..errors import DiagnosticsError
from .corpus import TalBatch
from .edges import TAL_EDGE_KINDS, tal_edge_kinds
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

__all__ = [
    "BOX_KINDS",
    "PADDINGS",
    "PRECISIONS",
    "PREDICTION_KINDS",
    "PYRAMIDS",
    "SCORE_KINDS",
    "TAL_EDGE_KINDS",
    "TOPKS",
    "tal_batches",
    "tal_cases",
    "tal_edge_kinds",
    "tal_problems",
]

PYRAMIDS: dict[str, tuple[int, ...]] = {
    "P5": (8, 16, 32),
    "P6": (8, 16, 32, 64),
    "one-level": (8,),  # the floor's side is strides[0]; tiny inputs have under topk anchors
}
TOPKS = (10, 13, 7, 1)  # ultralytics, TOOD, YOLO26's one-to-one head, the least
PADDINGS = ("trailing", "interleaved", "none")
MAX_SIDE = 256  # small problems: an example stays cheap

# Kinds are sampled with repeats as weights; the plain kind comes first, so shrinking ends there.
_SIZE_KINDS = ("small", "tiny")  # tiny: one level only, where anchors < topk is the point
_TOPK2_KINDS = ("none",) * 3 + ("one", "equal", "below", "above")
_TABLE_KINDS = ("rows",) * 9 + ("no-rows",)
_IMAGE_KINDS = ("boxes",) * 4 + ("idle",)

# Defaults, as names: a call in an argument default is evaluated once (B008).
_STRIDES = st.sampled_from((PYRAMIDS["P5"],) * 2 + (PYRAMIDS["P6"], PYRAMIDS["one-level"]))
_BATCH_SIZES = st.integers(1, 4)
_NUM_CLASSES = st.integers(1, 80)
_TOPK = st.sampled_from(TOPKS)
_ALPHAS = st.sampled_from((0.5, 1.0))
_STALS = st.sampled_from((True, False))
_THRESHOLDS = st.sampled_from((None, None, 8.0))
_BOX_KINDS = st.sampled_from(("random",) * 3 + ("floor",) * 2 + BOX_KINDS[2:])
_PADDINGS = st.sampled_from(PADDINGS)
_PREDICTIONS = st.sampled_from(("random",) * 2 + PREDICTION_KINDS[1:])
_SCORES = st.sampled_from(("uniform", "exact", "exact", "zero", "identical"))
_PRECISIONS = st.sampled_from(("float32", "float32", "float16", "amp"))


@st.composite
def tal_problems(
    draw: DrawFn,
    *,
    strides: tuple[int, ...] | SearchStrategy[tuple[int, ...]] = _STRIDES,
    img_size: tuple[int, int] | SearchStrategy[tuple[int, int]] | None = None,
    batch_size: int | SearchStrategy[int] = _BATCH_SIZES,
    num_classes: int | SearchStrategy[int] = _NUM_CLASSES,
    topk: int | SearchStrategy[int] = _TOPK,
    topk2: int | None | SearchStrategy[int | None] | str = "around",
    alpha: float | SearchStrategy[float] = _ALPHAS,
    beta: float | SearchStrategy[float] = 6.0,
    stal: bool | SearchStrategy[bool] = _STALS,
    stal_threshold: float | None | SearchStrategy[float | None] = _THRESHOLDS,
) -> TalProblem:
    """Small task-aligned problems. Each argument is a value or a strategy of values.

    Args:
        strides: the pyramid: P5 (8, 16, 32), P6 (8, 16, 32, 64) or one level (8,).
        img_size: (H, W); None draws each side from multiples of the coarsest stride, 32 to
            256 px, or (one level) a tiny 8 to 24 px, which has fewer anchor points than topk.
        batch_size: images per batch (1 to 4).
        num_classes: classes (1 to 80).
        topk: 10 (ultralytics), 13 (TOOD), 7 (YOLO26's one-to-one head) or 1.
        topk2: ``"around"`` draws None mostly, else 1, topk, below or above topk.
        alpha: the score's exponent: 0.5 (ultralytics) or 1 (TOOD).
        beta: the CIoU's exponent: 6.
        stal: the small-box floor of ultralytics 8.4 (True) or none (8.3).
        stal_threshold: None (8.4.190: the floor's side) or 8.0 (before ultralytics#25912).
    """
    pyramid = tuple(draw(as_strategy(strides)))
    size = draw(_img_sizes(pyramid) if img_size is None else as_strategy(img_size))
    k = draw(as_strategy(topk))
    return TalProblem(
        num_classes=draw(as_strategy(num_classes)),
        strides=pyramid,
        img_size=tuple(size),  # type: ignore[arg-type]
        batch_size=draw(as_strategy(batch_size)),
        topk=k,
        topk2=draw(_topk2_around(k)) if topk2 == "around" else draw(as_strategy(topk2)),
        alpha=draw(as_strategy(alpha)),
        beta=draw(as_strategy(beta)),
        stal=draw(as_strategy(stal)),
        stal_threshold=draw(as_strategy(stal_threshold)),
    )


@st.composite
def _img_sizes(draw: DrawFn, strides: tuple[int, ...]) -> tuple[int, int]:
    """(H, W), each a multiple of the coarsest stride up to `MAX_SIDE`: tiny (under 32 px,
    where the pyramid allows it) or small."""
    sides = range(strides[-1], MAX_SIDE + 1, strides[-1])
    tiny, small = [s for s in sides if s < 32], [s for s in sides if s >= 32]
    choices = tiny if tiny and draw(st.sampled_from(_SIZE_KINDS)) == "tiny" else small
    return draw(st.sampled_from(choices)), draw(st.sampled_from(choices))


@st.composite
def _topk2_around(draw: DrawFn, topk: int) -> int | None:
    kind = draw(st.sampled_from(_TOPK2_KINDS))
    if kind == "none":
        return None
    if kind == "one":
        return 1
    if kind == "below" and topk > 1:
        return draw(st.integers(1, topk - 1))
    if kind == "above":
        return draw(st.integers(topk + 1, topk + 3))
    return topk


def tal_batches(
    problem: TalProblem | SearchStrategy[TalProblem],
    *,
    min_gt: int = 0,
    max_gt: int = 12,
    box_kind: str | SearchStrategy[str] = _BOX_KINDS,
    padding: str | SearchStrategy[str] = _PADDINGS,
    predictions: str | SearchStrategy[str] = _PREDICTIONS,
    scores: str | SearchStrategy[str] = _SCORES,
    precision: str | SearchStrategy[str] = _PRECISIONS,
    device: str | torch.device | SearchStrategy[str] = "cpu",
) -> SearchStrategy[TalBatch]:
    """Valid inputs of ``TaskAlignedAssigner.forward`` for ``problem`` (`validate_inputs`).

    Each argument but the bounds is a value or a strategy of values; kinds are drawn per GT
    row (``box_kind``), per batch (``padding``, ``precision``) and per image (the others).

    Args:
        problem: the problem, or a strategy of problems.
        min_gt: the fewest GT rows ``n`` (0 lets ``n == 0`` be drawn, now and then).
        max_gt: the most GT rows ``n`` per image; real and padded rows together.
        box_kind: a `BOX_KINDS` name per real row (random mostly).
        padding: a `PADDINGS` name: where the padded rows go; images without boxes too.
        predictions: a `PREDICTION_KINDS` name per image: what ``pd_bboxes`` predicts.
        scores: a `SCORE_KINDS` name per image: ``pd_scores``.
        precision: a `PRECISIONS` name: the dtypes.
        device: where the tensors go.
    """
    if not 0 <= min_gt <= max_gt:
        raise DiagnosticsError(f"tal_batches: need 0 <= min_gt <= max_gt, got {min_gt}, {max_gt}")
    kinds = (box_kind, padding, predictions, scores, precision, device)
    if isinstance(problem, SearchStrategy):
        return problem.flatmap(lambda p: _batches(p, min_gt, max_gt, *kinds))
    return _batches(problem, min_gt, max_gt, *kinds)


@st.composite
def tal_cases(
    draw: DrawFn, problem: TalProblem | SearchStrategy[TalProblem] | None = None, **batch: object
) -> tuple[TalProblem, TalBatch]:
    """``(problem, batch)``: a problem (`tal_problems` when None) and one of its batches.

    Args:
        problem: the problem, a strategy of problems, or None for `tal_problems()`.
        batch: keyword arguments of `tal_batches`.
    """
    p = draw(tal_problems() if problem is None else as_strategy(problem))
    return p, draw(tal_batches(p, **batch))  # type: ignore[arg-type]


@st.composite
def _batches(
    draw: DrawFn,
    problem: TalProblem,
    min_gt: int,
    max_gt: int,
    box_kind: str | SearchStrategy[str],
    padding: str | SearchStrategy[str],
    predictions: str | SearchStrategy[str],
    scores: str | SearchStrategy[str],
    precision: str | SearchStrategy[str],
    device: str | torch.device | SearchStrategy[str],
) -> TalBatch:
    """One batch of `tal_batches`, arguments checked."""
    if min_gt == 0 and (max_gt == 0 or draw(st.sampled_from(_TABLE_KINDS)) == "no-rows"):
        n = 0
    else:
        n = draw(st.integers(max(min_gt, 1), max_gt))
    layout = check_kind(draw(as_strategy(padding)), PADDINGS, "padding")
    images = [draw(_image_rows(problem, n, layout, box_kind)) for _ in range(problem.batch_size)]
    b = problem.batch_size
    valid = torch.tensor([[row[0] for row in rows] for rows in images], dtype=torch.bool)
    labels = torch.tensor([[row[1] for row in rows] for rows in images], dtype=torch.float64)
    boxes = torch.tensor([[row[2] for row in rows] for rows in images], dtype=torch.float64)
    mode = check_kind(draw(as_strategy(precision)), tuple(PRECISIONS), "precision")
    kinds = [
        (
            check_kind(draw(as_strategy(predictions)), PREDICTION_KINDS, "predictions"),
            check_kind(draw(as_strategy(scores)), SCORE_KINDS, "scores"),
        )
        for _ in range(b)
    ]
    seed = draw(st.integers(0, 2**32 - 1))
    return assemble_batch(
        problem,
        labels.view(b, n, 1),
        boxes.view(b, n, 4),
        valid.view(b, n),
        kinds,
        seed=seed,
        precision=mode,
        device=draw(as_strategy(device)),
    )


Row = tuple[bool, float, list[float]]  # (real, label, xyxy pixels)


@st.composite
def _image_rows(
    draw: DrawFn, problem: TalProblem, n: int, layout: str, box_kind: str | SearchStrategy[str]
) -> list[Row]:
    """One image's ``n`` rows: which are real (by the padding layout), and their contents."""
    idle = layout != "none" and n > 0 and draw(st.sampled_from(_IMAGE_KINDS)) == "idle"
    if layout == "none" or idle or n == 0:
        real = [not idle] * n
    elif layout == "trailing":
        count = draw(st.integers(1, n))
        real = [i < count for i in range(n)]
    else:
        real = [draw(st.booleans()) for _ in range(n)]
    earlier: list[tuple[float, list[float]]] = []
    rows: list[Row] = []
    for is_real in real:
        if is_real:
            kind = check_kind(draw(as_strategy(box_kind)), BOX_KINDS, "box_kind")
            label, box = draw(gt_row(problem, kind, tuple(earlier)))
            earlier.append((label, box))
            rows.append((True, label, box))
        elif layout == "interleaved" and draw(st.booleans()):  # a stale box in a padded row
            rows.append((False, *draw(gt_row(problem, "random"))))
        else:  # as the loss pads: zeros
            rows.append((False, 0.0, [0.0] * 4))
    return rows
