"""A candidate assigner's output against the reference, accepting exactly the tie-breaks.

Two correct implementations of TAL may break a tie differently: ``torch.topk`` on CPU and
CUDA orders equal metrics differently (above all the zeros that fill a top-k), and a
conflict between equal CIoUs may go to either row. `compare` accepts those differences and
nothing else. The rule, for reference ``R`` (a `TalAssignment`) and output ``O``:

1. ``O`` has ``R``'s shapes and dtypes (ultralytics' ``n == 0`` float labels included);
   with ``n == 0`` every value must be equal.
2. **Settled anchors** -- those no tie within ``R.tolerance`` can change
   (`yolo_diagnostics.tal.ties`) -- have ``R``'s foreground flag and GT index.
3. **Tied anchors** have one of ``R``'s admissible outcomes there: background where no
   proposal was certain, or a GT row that a tied top-k boundary may make the only proposer,
   or that ties for the largest CIoU of a possible conflict (under ultralytics semantics,
   any row when that largest CIoU ties with 0).
4. **Slots**: a GT whose top-k boundary is tied owns at most ``need`` of its band anchors by
   its own proposal, and -- without ``topk2`` -- its band anchors that ``O`` gives to it or
   to another GT are at least ``need`` minus those that cannot propose. (An implementation
   that drops every tied anchor fails here, though each anchor alone would be admissible.)
   With ``topk2``, no GT has more than ``topk2`` positives.
5. Labels and boxes are exactly those of the GT row ``O`` names, and background rows follow
   the semantics: row 0's label and box and index 0 (ultralytics) or ``num_classes``, a
   zero box and -1 (strict).
6. **Scores** are the normalised metric recomputed from ``R``'s pair metrics over ``O``'s
   own positives of each GT, within ``score_rtol``/``score_atol`` (0/0 is bit-exact), and
   zero off the label column and on background (NaN where ultralytics' float16 0/0 puts it).

A tie is ``|x - y| <= rtol * |x| + atol`` (`TieTolerance`; by default 1e-5 relative in
float32, 1e-2 in float16, ``atol`` the smallest normal, so underflowed metrics tie with 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .assignment import TalAssignment, TalOutput
from .sparse import gather_or, group_count, group_max, lookup

NAMES = ("target_labels", "target_bboxes", "target_scores", "fg_mask", "target_gt_idx")


@dataclass(frozen=True)
class TalDiff:
    """What differs. ``mismatches``: one line per failed rule, with a count and the first
    place; ``accepted_ties``: anchors whose owner differs from the reference's only by an
    accepted tie-break."""

    mismatches: tuple[str, ...]
    accepted_ties: int

    @property
    def equal(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        head = f"{len(self.mismatches)} mismatches, {self.accepted_ties} tie-breaks accepted"
        return "; ".join((head, *self.mismatches))


def default_score_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """``(rtol, atol)`` for scores of another implementation: a few ulps of ``ciou**beta``."""
    if dtype in (torch.float16, torch.bfloat16):
        return 2e-2, 1e-3
    return 1e-4, 1e-6


def compare(
    reference: TalAssignment,
    output: TalOutput,
    *,
    score_rtol: float | None = None,
    score_atol: float | None = None,
) -> TalDiff:
    """Check ``output`` (an assigner's five tensors) against ``reference`` by the rule above."""
    shape = _structure(reference, output)
    if shape:
        return TalDiff((shape,), 0)
    rtol, atol = default_score_tolerance(reference.target_scores.dtype)
    rtol = rtol if score_rtol is None else score_rtol
    atol = atol if score_atol is None else score_atol
    device = reference.fg_mask.device
    labels, boxes, scores, fg, gt_idx = (t.to(device) for t in output)
    if reference.decisions is None:  # n == 0: nothing to decide
        found = [
            f"{name}: differs from the reference's n == 0 output"
            for name, r, o in zip(NAMES, reference.outputs, (labels, boxes, scores, fg, gt_idx))
            if not _same(r, o, 0.0, 0.0)
        ]
        return TalDiff(tuple(found), 0)
    gt_idx = gt_idx.long()
    n = reference.num_gt_rows
    outside = fg.bool() & ((gt_idx < 0) | (gt_idx >= n))
    if outside.any():  # nothing else can be read from indices that name no GT row
        i, a = (int(v) for v in outside.nonzero()[0])
        line = (
            f"target_gt_idx: {int(outside.sum())} foreground anchors name no GT row of {n}; "
            f"first image {i}, anchor {a}: {int(gt_idx[i, a])}"
        )
        return TalDiff((line,), 0)
    lines = [
        _decisions(reference, fg, gt_idx),
        *_targets(reference, labels, boxes, fg, gt_idx),
        *_slots(reference, fg, gt_idx),
        _scores(reference, scores, fg, gt_idx, rtol, atol),
    ]
    changed = (fg != reference.fg_mask) | (fg & (gt_idx != reference.target_gt_idx))
    accepted = int((changed & ~reference.decisions.settled).sum())
    return TalDiff(tuple(line for line in lines if line), accepted)


def _structure(reference: TalAssignment, output: object) -> str:
    if not isinstance(output, (tuple, list)) or len(output) != 5:
        return f"output: expected the 5 tensors {NAMES}, got {type(output).__name__}"
    for name, r, o in zip(NAMES, reference.outputs, output):
        if not isinstance(o, Tensor):
            return f"{name}: expected a torch.Tensor, got {type(o).__name__}"
        if o.shape != r.shape or o.dtype != r.dtype:
            return (
                f"{name}: expected shape {list(r.shape)} {r.dtype}, got {list(o.shape)} {o.dtype}"
            )
    return ""


def _first(mask: Tensor, message: str, describe) -> str:  # type: ignore[no-untyped-def]
    """``message`` with the count of ``mask`` ``[b, na]`` and ``describe(b, a)`` of its first."""
    count = int(mask.sum())
    if not count:
        return ""
    b, a = (int(v) for v in mask.nonzero()[0])
    return f"{message}: {count} anchors; first image {b}, anchor {a}: {describe(b, a)}"


def _owner(fg: Tensor, gt_idx: Tensor, b: int, a: int) -> str:
    return f"GT {int(gt_idx[b, a])}" if bool(fg[b, a]) else "background"


def _decisions(reference: TalAssignment, fg: Tensor, gt_idx: Tensor) -> str:
    """Rules 2 and 3: settled anchors equal, tied anchors admissible."""
    d = reference.decisions
    assert d is not None
    ref_fg, ref_idx = reference.fg_mask, reference.target_gt_idx
    n = reference.num_gt_rows

    def describe(b: int, a: int) -> str:
        return f"reference {_owner(ref_fg, ref_idx, b, a)}, got {_owner(fg, gt_idx, b, a)}"

    differs = (fg != ref_fg) | (fg & (gt_idx != ref_idx))
    bad = differs & d.settled
    slot = torch.arange(fg.numel(), device=fg.device).view_as(fg)
    in_range = (gt_idx >= 0) & (gt_idx < n)
    _, listed = lookup(d.admissible, slot * n + gt_idx.clamp(0, max(n - 1, 0)))
    allowed = torch.where(fg, in_range & (listed | d.any_row_ok), d.background_ok)
    bad |= differs & ~d.settled & ~allowed
    return _first(bad, "owner differs from the reference where no tie allows it", describe)


def _targets(
    reference: TalAssignment, labels: Tensor, boxes: Tensor, fg: Tensor, gt_idx: Tensor
) -> list[str]:
    """Rule 5: labels, boxes and background conventions follow the GT index."""
    n = reference.num_gt_rows
    gt_labels = reference.gt_labels[..., 0].long()
    nc = reference.problem.num_classes
    strict = reference.semantics == "strict"
    bad_index = fg & ((gt_idx < 0) | (gt_idx >= n))
    if bad_index.any():
        return [
            _first(bad_index, f"target_gt_idx outside [0, {n})", lambda b, a: int(gt_idx[b, a]))
        ]
    row = torch.where(fg, gt_idx, 0)
    want_label = gt_labels.gather(1, row)
    want_box = reference.gt_bboxes.gather(1, row[..., None].expand(-1, -1, 4))
    if strict:
        want_label = torch.where(fg, want_label, nc)
        want_box = torch.where(fg[..., None], want_box, 0)
        bad_bg = ~fg & (gt_idx != -1)
    else:
        bad_bg = ~fg & (gt_idx != 0)
    return [
        _first(
            bad_bg,
            "background target_gt_idx breaks the semantics' convention",
            lambda b, a: f"got {int(gt_idx[b, a])}",
        ),
        _first(
            labels != want_label,
            "target_labels are not the owner's (or background's)",
            lambda b, a: f"want {int(want_label[b, a])}, got {int(labels[b, a])}",
        ),
        _first(
            (boxes != want_box).any(-1),
            "target_bboxes are not the owner's (or background's)",
            lambda b, a: f"want {want_box[b, a].tolist()}, got {boxes[b, a].tolist()}",
        ),
    ]


def _slots(reference: TalAssignment, fg: Tensor, gt_idx: Tensor) -> list[str]:
    """Rule 4: a tied top-k boundary hands out its slots, no more and no fewer."""
    d = reference.decisions
    assert d is not None
    problem = reference.problem
    n = reference.num_gt_rows
    b, na = fg.shape
    rows = b * n
    owner = torch.where(fg, gt_idx, -1).view(-1)
    slot, g = d.maybe // n, d.maybe % n
    row = (slot // na) * n + g
    held = owner[slot] == g
    lost = (owner[slot] >= 0) & ~held
    by_proposal = group_count(row[held & ~d.maybe_won], rows).view(b, n)
    taken = group_count(row[held | lost], rows).view(b, n)
    lines = []
    over = d.tied & (by_proposal > d.need)
    if over.any():
        i, j = (int(v) for v in over.nonzero()[0])
        lines.append(
            f"top-k slots: {int(over.sum())} GTs own more tied anchors than their top-k "
            f"leaves; first image {i}, GT {j}: {int(by_proposal[i, j])} > {int(d.need[i, j])}"
        )
    if problem.topk2 is None or not _topk2_active(reference):
        under = d.tied & (taken < d.need - d.silent)
        if under.any():
            i, j = (int(v) for v in under.nonzero()[0])
            lines.append(
                f"top-k slots: {int(under.sum())} GTs use fewer tied anchors than their top-k "
                f"takes; first image {i}, GT {j}: {int(taken[i, j])} < "
                f"{int(d.need[i, j] - d.silent[i, j])}"
            )
    else:
        per_gt = group_count((torch.arange(b, device=fg.device)[:, None] * n + gt_idx)[fg], rows)
        k2 = problem.topk2
        over2 = per_gt.view(b, n) > k2
        if over2.any():
            i, j = (int(v) for v in over2.nonzero()[0])
            lines.append(
                f"topk2: {int(over2.sum())} GTs keep more than {k2}; first image {i}, GT {j}"
            )
    return lines


def _topk2_active(reference: TalAssignment) -> bool:
    p = reference.problem
    if reference.semantics == "strict":
        return p.topk2 is not None and p.topk2 < min(p.topk, p.num_anchors)
    return p.topk2_applies


def _scores(
    reference: TalAssignment, scores: Tensor, fg: Tensor, gt_idx: Tensor, rtol: float, atol: float
) -> str:
    """Rule 6: the normalised metric over the output's own positives."""
    expected = expected_scores(reference, fg, gt_idx)
    close = _close(expected, scores, rtol, atol)
    return _first(
        ~close.all(-1),
        "target_scores",
        lambda b, a: f"want {_nonzero(expected[b, a])}, got {_nonzero(scores[b, a])}",
    )


def expected_scores(reference: TalAssignment, fg: Tensor, gt_idx: Tensor) -> Tensor:
    """``Tensor[b, na, nc]``: the scores the reference's arithmetic gives the positives
    ``fg``/``gt_idx`` (its own, or another implementation's after other tie-breaks)."""
    problem = reference.problem
    n = reference.num_gt_rows
    na = problem.num_anchors
    cand = reference.candidates
    image, anchor = fg.nonzero(as_tuple=True)
    gt = gt_idx[image, anchor]
    pair_key = (cand.image * n + cand.gt) * na + cand.anchor
    index, found = lookup(pair_key, (image * n + gt) * na + anchor)
    align = gather_or(cand.align, index, found)
    overlap = gather_or(cand.ciou, index, found)
    rows = fg.shape[0] * n
    row = image * n + gt
    den = group_max(align, row, rows, 0.0) + problem.eps
    max_ciou = group_max(overlap, row, rows, 0.0)
    score = align * max_ciou[row] / den[row]
    out = torch.zeros_like(reference.target_scores)
    out[image, anchor, reference.gt_labels[..., 0].long()[image, gt]] = score
    if reference.semantics == "ultralytics":  # a row whose 0 * max / den is NaN poisons
        poison = (torch.zeros_like(den) * max_ciou / den).isnan()
        out[poison.view(fg.shape[0], n).any(1)] = float("nan")
    return out


def _close(expected: Tensor, actual: Tensor, rtol: float, atol: float) -> Tensor:
    e, a = expected.double(), actual.double()
    both_nan = e.isnan() & a.isnan()
    return both_nan | ((e - a).abs() <= atol + rtol * e.abs())


def _same(expected: Tensor, actual: Tensor, rtol: float, atol: float) -> bool:
    if expected.dtype == torch.bool or not expected.dtype.is_floating_point:
        return torch.equal(expected, actual)
    return bool(_close(expected, actual, rtol, atol).all())


def _nonzero(row: Tensor) -> str:
    """A score row as ``{column: value}`` of its non-zero entries."""
    picked = (row != 0).nonzero().flatten().tolist()
    return "{" + ", ".join(f"{c}: {float(row[c]):.6g}" for c in picked) + "}"
