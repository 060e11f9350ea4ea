"""The reference task-aligned assignment (TAL), with provenance.

The algorithm, per image, for ``n`` GT rows (``mask_gt`` marks the real ones) and ``na``
anchor points (see ``TAL_SEMANTICS.md``):

1. candidates: anchor points strictly inside a valid GT (after the small-box floor);
2. for each candidate pair, ``ciou = max(CIoU(gt, pred), 0)`` and
   ``align = score[label]**alpha * ciou**beta``; 0 for every other pair;
3. each valid GT proposes its ``topk`` anchors by ``align`` (``torch.topk`` over all ``na``);
4. an anchor proposed by several GTs goes to one of them (the conflict rule below);
5. with ``topk2``, each GT keeps its ``topk2`` best positives by ``align``;
6. targets: the label and box of the owner; score ``align * max_ciou / (max_align + eps)``
   with the maxima over the owner's final positives, in the label's column.

``semantics="ultralytics"`` is ``TaskAlignedAssigner.forward`` of ultralytics 8.4.190, bit
for bit on CPU in float32 and float16 (``tests/test_tal_reference.py``), quirks included:

- a proposal needs only the candidate test: a GT with fewer than ``topk`` non-zero metrics
  also proposes zero-metric candidates, picked in ``torch.topk``'s tie order, and they
  become positives with score 0;
- a conflict goes to the largest CIoU over **all** ``n`` rows (first row on ties): a GT that
  did not propose the anchor can win it, and an all-zero column goes to row 0, padded or not;
- background rows carry row 0's label and box and ``target_gt_idx`` 0;
- ``n == 0`` returns early with float labels and gt indices (``pd_scores``' dtype);
- fewer anchor points than ``topk`` raises (no ``min(topk, na)``);
- in float16 the normalisation's ``eps`` (1e-9) rounds to 0, so a GT row with no positive
  (a padded row, say) divides 0 by 0 and turns its whole image's ``target_scores`` into NaN.

``semantics="strict"`` removes those faults: a proposal needs ``align > 0`` (so no positive
has a zero metric), conflicts are decided among the GTs that proposed the anchor (largest
CIoU, then the lowest row), ``topk`` and ``topk2`` are capped at ``na``, the normalisation
never divides by zero, and background rows say background: label ``num_classes``, a zero box
and ``target_gt_idx = -1`` (not a GT row), with int64 labels and indices for ``n == 0`` too.

Ties the reference breaks by a convention (``torch.topk``'s order, the first row) are listed
in the provenance, so `yolo_diagnostics.tal.compare` accepts another correct tie-break.
Memory: one ``[b, n, na]`` bool (candidates) and one ``[b, n, na]`` metric tensor at a
time; everything else is sparse (candidate pairs, proposals, positives). ultralytics keeps
about fourteen bytes per ``(b, n, na)`` entry alive at its peak; this keeps five.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from ..errors import DiagnosticsError
from .assignment import TalAssignment, TalOutput
from .geometry import candidate_boxes, ciou, inside_mask
from .problem import TalProblem
from .sparse import gather_or, group_count, group_max, group_min, lookup, rank_by
from .steps import Pairs, Steps
from .ties import TieTolerance, decide
from .validate import validate_inputs

Semantics = Literal["ultralytics", "strict"]
SEMANTICS: tuple[str, ...] = ("ultralytics", "strict")


def assign(
    problem: TalProblem,
    pd_scores: Tensor,
    pd_bboxes: Tensor,
    gt_labels: Tensor,
    gt_bboxes: Tensor,
    mask_gt: Tensor,
    *,
    semantics: Semantics = "ultralytics",
    anc_points: Tensor | None = None,
    tolerance: TieTolerance | None = None,
) -> TalAssignment:
    """Assign, with provenance: which GT each positive came from, its metric, CIoU and
    top-k rank, whether it won a conflict, and which decisions were ties.

    Shapes: ``pd_scores`` ``[b, na, nc]``, ``pd_bboxes`` ``[b, na, 4]`` (xyxy pixels),
    ``gt_labels`` ``[b, n, 1]``, ``gt_bboxes`` ``[b, n, 4]``, ``mask_gt`` ``[b, n, 1]``.
    ``anc_points`` defaults to ``problem.anchor_points()`` on ``pd_scores``' device (float32).
    ``tolerance`` defaults to `TieTolerance.for_dtype` of the metric's dtype.
    Raises `DiagnosticsError` for bad input.
    """
    _check_semantics(semantics)
    if anc_points is None:
        anc_points = problem.anchor_points(pd_scores.device)
    inputs = (pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt)
    validate_inputs(problem, *inputs)
    outputs, steps = _assign(problem, *inputs, semantics)
    if tolerance is None:
        tolerance = TieTolerance.for_dtype(metric_dtype(pd_scores, pd_bboxes, gt_bboxes))
    decisions = None if steps is None else decide(problem, semantics, steps, tolerance, mask_gt)
    return TalAssignment.build(
        problem, semantics, outputs, steps, decisions, gt_labels, gt_bboxes, tolerance
    )


def make_assigner(
    problem: TalProblem, device: torch.device | str, *, semantics: Semantics = "ultralytics"
) -> Callable[..., TalOutput]:
    """Assigner factory: ``assign(pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes,
    mask_gt) -> (target_labels, target_bboxes, target_scores, fg_mask, target_gt_idx)`` on
    ``device``, as ``TaskAlignedAssigner.forward``; no provenance is kept."""
    _check_semantics(semantics)
    device = torch.device(device)

    def reference_assign(*inputs: Tensor) -> TalOutput:
        # anything but a movable tensor is left for validate_inputs to name
        moved = tuple(
            t.to(device) if isinstance(t, Tensor) and not t.is_meta else t for t in inputs
        )
        validate_inputs(problem, *moved)
        return _assign(problem, *moved, semantics, provenance=False)[0]  # type: ignore[misc]

    return reference_assign


def make_strict_assigner(
    problem: TalProblem, device: torch.device | str
) -> Callable[..., TalOutput]:
    """Assigner factory for the strict semantics (no zero-metric positives, conflicts among
    proposers, background rows that say background, ``min(topk, na)``)."""
    return make_assigner(problem, device, semantics="strict")


def metric_dtype(pd_scores: Tensor, pd_bboxes: Tensor, gt_bboxes: Tensor) -> torch.dtype:
    """The dtype of ``align`` and ``target_scores``: scores' promoted with the CIoU's."""
    return torch.promote_types(
        pd_scores.dtype, torch.promote_types(gt_bboxes.dtype, pd_bboxes.dtype)
    )


def _check_semantics(semantics: str) -> None:
    if semantics not in SEMANTICS:
        raise DiagnosticsError(f"semantics: expected one of {SEMANTICS}, got {semantics!r}")


def _assign(
    problem: TalProblem,
    pd_scores: Tensor,
    pd_bboxes: Tensor,
    anc_points: Tensor,
    gt_labels: Tensor,
    gt_bboxes: Tensor,
    mask_gt: Tensor,
    semantics: str,
    provenance: bool = True,
) -> tuple[TalOutput, Steps | None]:
    """The outputs and, when ``provenance``, the sparse steps behind them."""
    strict = semantics == "strict"
    b, na, nc = pd_scores.shape
    n = gt_bboxes.shape[1]
    if n == 0:
        return _no_gt(pd_scores, pd_bboxes, gt_bboxes, nc, strict), None
    k = min(problem.topk, na) if strict else problem.topk
    if k > na:
        raise DiagnosticsError(
            f"TalProblem.topk: {k} > {na} anchor points; ultralytics' torch.topk raises here "
            "(it has no min(topk, na)); semantics='strict' caps it"
        )
    valid = mask_gt[..., 0] != 0
    labels = gt_labels[..., 0].long()
    inside = inside_mask(
        problem, candidate_boxes(problem, gt_bboxes, valid), valid, anc_points.dtype
    )
    pairs = _pairs(problem, inside, pd_scores, pd_bboxes, labels, gt_bboxes)
    metric = _dense(pairs.key, pairs.align, (b, n, na))
    top_value, top_index = metric.topk(k, dim=-1)
    del metric
    # a proposal: ultralytics needs the candidate test only, strict a positive metric too
    proposes = top_value > 0 if strict else inside.gather(-1, top_index)
    del inside
    cb, cg, cr = proposes.nonzero(as_tuple=True)
    claim_key = (cb * n + cg) * na + top_index[cb, cg, cr]
    claim = lookup(pairs.key, claim_key)[0]
    owner, image, anchor, contested = _resolve(pairs, claim, b, n, na, strict)
    index, found = lookup(pairs.key, (image * n + owner) * na + anchor)
    align = gather_or(pairs.align, index, found)
    overlap = gather_or(pairs.ciou, index, found)
    kept = _second_selection(problem, strict, owner, image, anchor, align, (b, n, na))
    row = image[kept] * n + owner[kept]
    score, poison = _normalise(problem, row, align[kept], overlap[kept], b * n)
    outputs = _targets(
        (b, na, nc), owner[kept], image[kept], anchor[kept], score, labels, gt_bboxes, strict
    )
    if not strict and bool(poison.any()):  # a NaN row poisons its image's max over rows
        outputs[2][poison.view(b, n).any(1)] = float("nan")
    if not provenance:
        return outputs, None
    full_score = torch.zeros_like(align)
    full_score[kept] = score
    steps = Steps(
        pairs,
        top_value,
        top_index,
        claim,
        cr,
        owner,
        image,
        anchor,
        contested,
        align,
        overlap,
        kept,
        full_score,
    )
    return outputs, steps


def _pairs(
    problem: TalProblem,
    inside: Tensor,
    pd_scores: Tensor,
    pd_bboxes: Tensor,
    labels: Tensor,
    gt_bboxes: Tensor,
) -> Pairs:
    """Metrics of the candidate pairs, in ``inside.nonzero()`` order.

    Computing them on exactly this list (its order and length) is what keeps ``atan`` and
    ``pow`` -- whose vector and scalar CPU kernels may differ by an ulp -- bit-exact.
    """
    _, n, na = inside.shape
    image, gt, anchor = inside.nonzero(as_tuple=True)
    score = pd_scores[image, anchor, labels[image, gt]]
    overlap = ciou(gt_bboxes[image, gt], pd_bboxes[image, anchor]).clamp_(min=0)
    align = score.pow(problem.alpha) * overlap.pow(problem.beta)
    key = (image * n + gt) * na + anchor
    return Pairs(key, image, gt, anchor, overlap.to(pd_bboxes.dtype), align)


def _dense(key: Tensor, values: Tensor, shape: tuple[int, ...]) -> Tensor:
    """A zero tensor of ``shape`` holding ``values`` at the flat positions ``key``."""
    out = torch.zeros(shape, dtype=values.dtype, device=values.device)
    out.view(-1)[key] = values
    return out


def _resolve(
    pairs: Pairs, claim: Tensor, b: int, n: int, na: int, strict: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Post-conflict positives ``(owner, image, anchor, contested)``, ordered by (image, anchor).

    The winner of an anchor is the largest CIoU, then the lowest row, among the proposers
    (strict) or among all ``n`` rows (ultralytics: non-candidate rows count as CIoU 0, so an
    all-zero column goes to row 0 -- ``Tensor.max(dim)`` returns the first maximum).
    """
    slot = pairs.image[claim] * na + pairs.anchor[claim]  # (image, anchor)
    contested_slot = group_count(slot, b * na) > 1
    if strict:  # the contenders: the proposers of contested anchors, or every candidate there
        pool = claim[contested_slot[slot]]
    else:
        pool = contested_slot[pairs.image * na + pairs.anchor].nonzero().flatten()
    pool_slot = pairs.image[pool] * na + pairs.anchor[pool]
    overlap = pairs.ciou[pool]
    best = group_max(overlap, pool_slot, b * na, 0.0)  # NaN propagates, as in max
    at_best = (overlap == best[pool_slot]) | (overlap.isnan() & best[pool_slot].isnan())
    first = group_min(pairs.gt[pool][at_best], pool_slot[at_best], b * na, n)
    if not strict:  # an all-zero column: row 0, the first maximum
        first = torch.where((best > 0) | best.isnan(), first, 0)
    # uncontested: the proposer; contested: the winner, one entry per anchor
    single = ~contested_slot[slot]
    won_slot = contested_slot.nonzero().flatten()
    all_slots = torch.cat((slot[single], won_slot))
    owner = torch.cat((pairs.gt[claim][single], first[won_slot]))
    order = torch.argsort(all_slots)
    all_slots, owner = all_slots[order], owner[order]
    contested = contested_slot[all_slots]
    return owner, all_slots // na, all_slots % na, contested


def _second_selection(
    problem: TalProblem,
    strict: bool,
    owner: Tensor,
    image: Tensor,
    anchor: Tensor,
    align: Tensor,
    shape: tuple[int, int, int],
) -> Tensor:
    """``Tensor[P0]`` bool: the positives each GT keeps under ``topk2`` (all when it is off).

    ultralytics: ``torch.topk(topk2)`` over the GT's whole metric row, positives and zeros
    alike, in its tie order -- a zero-metric positive can lose its place to a zero-metric
    non-positive. Strict: the ``topk2`` largest positive metrics, lower anchor first on ties.
    """
    b, n, na = shape
    row = image * n + owner
    if strict:
        if problem.topk2 is None or problem.topk2 >= min(problem.topk, na):
            return torch.ones_like(owner, dtype=torch.bool)
        return rank_by(row, -align, anchor) < problem.topk2
    if not problem.topk2_applies:
        return torch.ones_like(owner, dtype=torch.bool)
    k2 = problem.topk2
    if k2 > na:
        raise DiagnosticsError(
            f"TalProblem.topk2: {k2} > {na} anchor points; ultralytics' torch.topk raises here"
        )
    masked = _dense(row * na + anchor, align, (b, n, na))
    best = masked.topk(k2, dim=-1).indices.view(b * n, k2)
    return (best[row] == anchor[:, None]).any(1)


def _normalise(
    problem: TalProblem, row: Tensor, align: Tensor, overlap: Tensor, rows: int
) -> tuple[Tensor, Tensor]:
    """Per final positive ``align * max_ciou / (max_align + eps)``, the maxima over the
    positives of its GT row (``row = image * n + gt``); and per GT row ``Tensor[b * n]``
    whether that formula gives NaN for a zero metric.

    ultralytics evaluates it for every (row, anchor) and takes the max over rows, so such a
    row turns every score of its image into NaN: in float16, where ``eps = 1e-9`` rounds to
    0 and a row without positives divides 0 by 0, or where a CIoU is NaN (a float16 box
    area above 65504 overflows).
    """
    max_ciou = group_max(overlap, row, rows, 0.0)
    den = group_max(align, row, rows, 0.0) + problem.eps
    poison = (torch.zeros_like(den) * max_ciou / den).isnan()
    return align * max_ciou[row] / den[row], poison


def _targets(
    shape: tuple[int, int, int],
    owner: Tensor,
    image: Tensor,
    anchor: Tensor,
    score: Tensor,
    labels: Tensor,
    gt_bboxes: Tensor,
    strict: bool,
) -> TalOutput:
    """The five outputs from the final positives (one per foreground anchor)."""
    b, na, nc = shape
    device = labels.device
    slot = image * na + anchor
    fg = torch.zeros(b * na, dtype=torch.bool, device=device)
    fg[slot] = True
    gt_idx = torch.full((b * na,), -1 if strict else 0, dtype=torch.int64, device=device)
    gt_idx[slot] = owner
    gt_idx = gt_idx.view(b, na)
    label = labels[image, owner]
    if strict:
        target_labels = torch.full((b * na,), nc, dtype=torch.int64, device=device)
        target_labels[slot] = label
        target_bboxes = gt_bboxes.new_zeros((b * na, 4))
        target_bboxes[slot] = gt_bboxes[image, owner]
        target_labels, target_bboxes = target_labels.view(b, na), target_bboxes.view(b, na, 4)
    else:  # background rows gather row 0
        target_labels = labels.gather(1, gt_idx)
        target_bboxes = gt_bboxes.gather(1, gt_idx[..., None].expand(-1, -1, 4))
    target_scores = torch.zeros((b, na, nc), dtype=score.dtype, device=device)
    target_scores[image, anchor, label] = score
    return target_labels, target_bboxes, target_scores, fg.view(b, na), gt_idx


def _no_gt(
    pd_scores: Tensor, pd_bboxes: Tensor, gt_bboxes: Tensor, nc: int, strict: bool
) -> TalOutput:
    """``n == 0``. ultralytics returns early, in ``pd_scores``' dtype for labels, gt indices
    and scores and ``pd_bboxes``' for boxes; strict keeps the dtypes of ``n > 0``."""
    b, na, _ = pd_scores.shape
    fg = torch.zeros((b, na), dtype=torch.bool, device=pd_scores.device)
    if not strict:
        first = pd_scores[..., 0]
        return (
            torch.full_like(first, nc),
            torch.zeros_like(pd_bboxes),
            torch.zeros_like(pd_scores),
            fg,
            torch.zeros_like(first),
        )
    dtype = metric_dtype(pd_scores, pd_bboxes, gt_bboxes)
    long = {"dtype": torch.int64, "device": pd_scores.device}
    return (
        torch.full((b, na), nc, **long),
        gt_bboxes.new_zeros((b, na, 4)),
        pd_scores.new_zeros((b, na, pd_scores.shape[2]), dtype=dtype),
        fg,
        torch.full((b, na), -1, **long),
    )
