"""Invariant checks on any task-aligned assigner's output, from its inputs and outputs alone.

Each check reads one call -- the problem, the six inputs and the five outputs of
``TaskAlignedAssigner.forward`` -- and is registered in `TAL_INVARIANTS` with an id, a
severity and a one-line meaning. Severity ``error`` fails; ``quirk`` is behaviour
ultralytics 8.4.190 itself has (``TAL_SEMANTICS.md``, status U), failing only under
``strict=True``; ``info`` is reported. The ultralytics assigner and the reference in both
semantics give no error on any valid input; the strict reference gives no quirk either.
Each check's test in ``tests/test_tal_invariants.py`` is named ``test_<id>_...`` (hyphens as
underscores): it passes clean outputs and fires on an output broken as a real bug would.

| id                | severity | meaning                                                          |
|-------------------|----------|------------------------------------------------------------------|
| shapes            | error    | five tensors of the documented shapes and dtypes, inputs' device |
| empty-dtypes      | quirk    | n == 0: float target_labels and target_gt_idx                    |
| gt-index          | error    | target_gt_idx: a GT row on foreground, -1 or a row on background |
| finite-scores     | error    | target_scores are finite                                         |
| nan-image         | quirk    | float16: all of an image's scores NaN (0 / 0 where eps is 0)     |
| one-gt            | error    | a score row is non-zero in one column at most                    |
| owner             | error    | foreground label, box and score column are gt[target_gt_idx]'s   |
| background-scores | error    | background score rows are zero                                   |
| fg-score          | quirk    | a foreground anchor has a non-zero metric, so a non-zero score   |
| normalised        | error    | score = align * max_ciou / (max_align + eps) per GT              |
| inside            | error    | a foreground anchor lies strictly inside its GT's floored box    |
| padded-owner      | error    | no padded row (mask_gt 0) owns a foreground anchor               |
| row0-tie          | quirk    | an all-zero-CIoU conflict goes to row 0, padded or outside it    |
| topk              | quirk    | at most topk positives per GT                                    |
| topk2             | error    | at most topk2 positives per GT when a second selection runs      |
| total             | error    | foreground anchors per image <= topk x valid GTs                 |
| background        | quirk    | background rows say so: label nc, zero box, target_gt_idx -1     |
| coverage          | info     | valid GTs with no positive                                       |
| reference         | error    | equals the reference's output up to ties (`compare`)             |
| batch             | error    | each image alone gets the batch's assignment                     |
| permutation       | error    | permuting GT rows permutes the owners, ties accepted             |
| padding           | error    | padding rows after the GTs change nothing (inserted: quirk)      |
| dtype             | info     | float16 copies of float32 inputs: the decisions that flip        |
| device            | error    | CPU and each requested device agree, ties accepted               |
| scale             | error    | the checks and the reference hold at training scale              |

The last seven compare several calls (``single_call=False``): the contract
(`yolo_diagnostics.tal.contract`) runs them; they are listed so that one table holds them all.

Severities decided here, and why: a padded row other than row 0 that owns an anchor, or an
all-zero conflict given to a valid row that is no candidate there, is an error even between
real rows -- a padded row's CIoU is 0 everywhere, so ultralytics' argmax can only pick row 0.
Background rows carrying row 0's label and box are a quirk (a loss that reads
``target_labels`` without ``fg_mask`` trains background as row 0's class, YOLOv6#499); the
strict convention passes. NaN scores are a quirk only as ultralytics makes them: whole
images, in float16.

Where the checks can be told apart from ultralytics' own behaviour only by recomputing, they
recompute, for the positives only (`yolo_diagnostics.tal.evidence`): the candidate test, the
CIoU, the metric and the normalised score; its module docstring states the score's
tolerance. Images whose scores are not finite are skipped by the checks that read scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..errors import DiagnosticsError
from .assignment import TalOutput
from .corpus import TalBatch
from .evidence import TalEvidence
from .problem import TalProblem
from .sparse import group_count
from .validate import validate_inputs
from .violations import (
    NAMES,
    Severity,
    TalViolation,
    box_text,
    per_image,
    positives,
    scored,
    shape_violations,
)

__all__ = ["TAL_INVARIANTS", "TalInvariant", "TalViolation", "check", "shape_violations"]


@dataclass(frozen=True)
class TalInvariant:
    """A registered check. ``single_call`` checks are judged from one output by `check`;
    the others compare several calls and are run by the contract."""

    id: str
    severity: Severity
    meaning: str
    run: Callable[[TalEvidence], list[TalViolation]] | None = field(default=None, repr=False)
    single_call: bool = True


TAL_INVARIANTS: dict[str, TalInvariant] = {}


def _register(id: str, severity: Severity, meaning: str):
    def wrap(fn: Callable[[TalEvidence], list[TalViolation]]):
        TAL_INVARIANTS[id] = TalInvariant(id, severity, meaning, fn)
        return fn

    return wrap


def check(
    problem: TalProblem, inputs: TalBatch, output: TalOutput, *, strict: bool = False
) -> list[TalViolation]:
    """Run every single-call invariant on one ``assign(*inputs)`` output.

    Returns the violations, checks in `TAL_INVARIANTS` order, images ascending. With
    ``strict=True`` quirks come back as errors. If the output's structure is wrong
    (``shapes``), only those violations are returned: the other checks cannot read it.
    Raises `DiagnosticsError` on invalid inputs.
    """
    if not isinstance(inputs, (tuple, list)) or len(inputs) != 6:
        raise DiagnosticsError(
            "inputs: expected the six tensors (pd_scores, pd_bboxes, anc_points, gt_labels, "
            f"gt_bboxes, mask_gt), got {type(inputs).__name__}"
        )
    inputs = TalBatch(*inputs)
    validate_inputs(problem, *inputs)
    broken = shape_violations(problem, inputs, output)
    if broken:
        return broken
    evidence = TalEvidence(problem, inputs, output)
    found = [v for inv in TAL_INVARIANTS.values() if inv.run is not None for v in inv.run(evidence)]
    if strict:
        found = [_escalate(v) for v in found]
    return found


def _escalate(v: TalViolation) -> TalViolation:
    if v.severity != "quirk":
        return v
    return TalViolation(v.check, "error", v.message, v.image, v.anchors, v.gts)


TAL_INVARIANTS["shapes"] = TalInvariant(
    "shapes", "error", "five tensors of the documented shapes and dtypes, inputs' device"
)


# --------------------------------------------------------------------------- structure
@_register("empty-dtypes", "quirk", "n == 0: float target_labels and target_gt_idx")
def _empty_dtypes(ev: TalEvidence) -> list[TalViolation]:
    floats = [
        f"{name} {t.dtype}"
        for name, t in zip(NAMES, ev.output)
        if name in (NAMES[0], NAMES[4]) and t.dtype.is_floating_point
    ]
    if not floats:
        return []
    return [
        TalViolation(
            "empty-dtypes",
            "quirk",
            f"n == 0: {', '.join(floats)}, int64 when n > 0 (ultralytics' early return)",
        )
    ]


@_register("gt-index", "error", "target_gt_idx: a GT row on foreground, -1 or a row on background")
def _gt_index(ev: TalEvidence) -> list[TalViolation]:
    image, anchor = (~ev.index_ok).nonzero(as_tuple=True)
    raw = ev.output[4]

    def describe(k: int) -> str:
        i, a = int(image[k]), int(anchor[k])
        if ev.fg[i, a]:
            return f"foreground target_gt_idx {raw[i, a].item()!r} is not a row of [0, {ev.n})"
        return f"background target_gt_idx {raw[i, a].item()!r}: neither -1 nor a row"

    return per_image(ev, "gt-index", "error", image, anchor, None, describe)


@_register("finite-scores", "error", "target_scores are finite")
def _finite_scores(ev: TalEvidence) -> list[TalViolation]:
    found = []
    for i in (~ev.finite).nonzero().flatten().tolist():  # a loop over the few bad images
        if _nan_image(ev, i):
            continue
        bad = ~torch.isfinite(ev.scores[i])
        anchor = bad.any(-1).nonzero().flatten()
        image = torch.full_like(anchor, i)

        def describe(k: int, i: int = i, anchor: Tensor = anchor) -> str:
            row = ev.scores[i, int(anchor[k])]
            c = int((~torch.isfinite(row)).nonzero()[0])
            return f"target_scores column {c} is {row[c].item()!r}"

        found += per_image(ev, "finite-scores", "error", image, anchor, None, describe)
    return found


def _nan_image(ev: TalEvidence, i: int) -> bool:
    return ev.scores.dtype == torch.float16 and bool(ev.scores[i].isnan().all())


@_register("nan-image", "quirk", "float16: all of an image's scores NaN (0 / 0 where eps is 0)")
def _nan_images(ev: TalEvidence) -> list[TalViolation]:
    return [
        TalViolation(
            "nan-image",
            "quirk",
            f"image {i}: every target_scores value is NaN (float16: eps {ev.problem.eps:g} "
            "rounds to 0, so a GT row without positives divides 0 by 0, or a box area "
            "overflows the CIoU; the max over rows spreads it)",
            i,
        )
        for i in (~ev.finite).nonzero().flatten().tolist()
        if _nan_image(ev, i)
    ]


# --------------------------------------------------------------------------- targets
@_register("one-gt", "error", "a score row is non-zero in one column at most")
def _one_gt(ev: TalEvidence) -> list[TalViolation]:
    image, anchor = (ev.finite[:, None] & (ev.nonzero > 1)).nonzero(as_tuple=True)
    owned = ev.fg[image, anchor] & ev.index_ok[image, anchor]
    gt = torch.where(owned, ev.gt_idx[image, anchor], -1)

    def describe(k: int) -> str:
        row = ev.scores[image[k], anchor[k]]
        columns = row.nonzero().flatten()
        values = ", ".join(f"{int(c)}: {float(row[c]):.6g}" for c in columns[:4])
        return f"{len(columns)} non-zero score columns ({values}): two GTs' targets in one row"

    return per_image(ev, "one-gt", "error", image, anchor, gt, describe)


@_register("owner", "error", "foreground label, box and score column are gt[target_gt_idx]'s")
def _owner(ev: TalEvidence) -> list[TalViolation]:
    x = ev.inputs
    gt_label = x.gt_labels[ev.image, ev.gt, 0].long()
    label_bad = ev.labels[ev.image, ev.anchor].long() != gt_label
    gt_box = x.gt_bboxes[ev.image, ev.gt].to(ev.boxes.dtype)
    box_bad = (ev.boxes[ev.image, ev.anchor] != gt_box).any(-1)
    single = scored(ev) & (ev.nonzero[ev.image, ev.anchor] == 1)
    column_bad = single & (ev.scores[ev.image, ev.anchor, gt_label] == 0)
    p, image, anchor, gt = positives(ev, label_bad | box_bad | column_bad)

    def describe(k: int) -> str:
        q, i, a, g = int(p[k]), int(image[k]), int(anchor[k]), int(gt[k])
        parts = []
        if label_bad[q]:
            parts.append(f"target_labels {int(ev.labels[i, a])}, its label {int(gt_label[q])}")
        if box_bad[q]:
            box = ev.boxes[i, a]
            same = (x.gt_bboxes[i].to(box.dtype) == box).all(-1).nonzero().flatten().tolist()
            whose = f" (GT row {same[0]}'s)" if same else ""
            parts.append(f"target_bboxes {box_text(box)}{whose}, its box {ev.gt_box(i, g)}")
        if column_bad[q]:
            c = int(ev.scores[i, a].nonzero()[0])
            parts.append(f"score in column {c}, its label {int(gt_label[q])}")
        return "; ".join(parts)

    return per_image(ev, "owner", "error", image, anchor, gt, describe)


@_register("background-scores", "error", "background score rows are zero")
def _background_scores(ev: TalEvidence) -> list[TalViolation]:
    image, anchor = (ev.finite[:, None] & ~ev.fg & (ev.nonzero > 0)).nonzero(as_tuple=True)

    def describe(k: int) -> str:
        row = ev.scores[image[k], anchor[k]]
        c = int(row.nonzero()[0])
        return f"background (fg_mask False) with score {float(row[c]):.6g} in column {c}"

    return per_image(ev, "background-scores", "error", image, anchor, None, describe)


@_register("fg-score", "quirk", "a foreground anchor has a non-zero metric, so a non-zero score")
def _fg_score(ev: TalEvidence) -> list[TalViolation]:
    overlap, align = ev.metrics
    # a zero score with a positive metric is the score rounding to 0 (float16), not this
    zero = scored(ev) & (ev.nonzero[ev.image, ev.anchor] == 0) & (align == 0)
    p, image, anchor, gt = positives(ev, zero)

    def describe(k: int) -> str:
        q = int(p[k])
        if not ev.candidate[q]:
            return "score 0: the anchor is no candidate of its GT, so its metric is 0"
        s = ev.inputs.pd_scores[image[k], anchor[k], ev.gt_label(int(image[k]), int(gt[k]))]
        return f"score 0: metric 0 (class score {float(s):.6g}, CIoU {float(overlap[q]):.6g})"

    return per_image(ev, "fg-score", "quirk", image, anchor, gt, describe)


@_register("normalised", "error", "score = align * max_ciou / (max_align + eps) per GT")
def _normalised(ev: TalEvidence) -> list[TalViolation]:
    # a row scored twice is one-gt's finding, a non-candidate owner inside's or padded-owner's
    judged = scored(ev) & (ev.nonzero[ev.image, ev.anchor] <= 1) & ev.candidate
    off = judged & ((ev.value - ev.expected).abs() > ev.tolerance)
    p, image, anchor, gt = positives(ev, off)
    overlap, align = ev.metrics

    def describe(k: int) -> str:
        q = int(p[k])
        mine = ev.row == ev.row[q]
        return (
            f"score {float(ev.value[q]):.7g}, expected {float(ev.expected[q]):.7g} "
            f"(tolerance {float(ev.tolerance[q]):.2g}) = align {float(align[q]):.6g} * "
            f"max CIoU {float(overlap[mine].max()):.6g} / (max align "
            f"{float(align[mine].max()):.6g} + eps) over its GT's {int(mine.sum())} positives"
        )

    return per_image(ev, "normalised", "error", image, anchor, gt, describe)


# --------------------------------------------------------------------------- geometry
@_register("inside", "error", "a foreground anchor lies strictly inside its GT's floored box")
def _inside(ev: TalEvidence) -> list[TalViolation]:
    outside = ev.valid[ev.image, ev.gt] & ~ev.candidate & ~ev.row0_tie
    p, image, anchor, gt = positives(ev, outside)

    def describe(k: int) -> str:
        i, g = int(image[k]), int(gt[k])
        point = ", ".join(f"{v:g}" for v in ev.inputs.anc_points[anchor[k]].tolist())
        return (
            f"anchor point ({point}) is not strictly inside the floored box "
            f"{box_text(ev.floored[i, g])} (box {ev.gt_box(i, g)})"
        )

    return per_image(ev, "inside", "error", image, anchor, gt, describe)


@_register("padded-owner", "error", "no padded row (mask_gt 0) owns a foreground anchor")
def _padded_owner(ev: TalEvidence) -> list[TalViolation]:
    p, image, anchor, gt = positives(ev, ~ev.valid[ev.image, ev.gt] & ~ev.row0_tie)

    def describe(k: int) -> str:
        i, g = int(image[k]), int(gt[k])
        where = "trailing" if not ev.valid[i, g:].any() else "before a real row"
        return f"GT row {g} is padding (mask_gt 0, {where})"

    return per_image(ev, "padded-owner", "error", image, anchor, gt, describe)


@_register("row0-tie", "quirk", "an all-zero-CIoU conflict goes to row 0, padded or outside it")
def _row0_tie(ev: TalEvidence) -> list[TalViolation]:
    p, image, anchor, gt = positives(ev, ev.row0_tie)

    def describe(k: int) -> str:
        state = "padding" if not ev.valid[image[k], 0] else "not a candidate here"
        return (
            f"row 0 ({state}) owns it: its candidate GTs all have CIoU 0 there and "
            "ultralytics' argmax over all rows picks the first"
        )

    return per_image(ev, "row0-tie", "quirk", image, anchor, gt, describe)


# --------------------------------------------------------------------------- counts
def _per_gt_counts(ev: TalEvidence) -> Tensor:
    """``[b, n]``: positives of each GT row."""
    return group_count(ev.row, ev.b * ev.n).view(ev.b, ev.n)


def _too_many(ev: TalEvidence, check: str, severity: Severity, limit: int, name: str):
    count = _per_gt_counts(ev)
    image, gt = (count > limit).nonzero(as_tuple=True)
    return per_image(
        ev,
        check,
        severity,
        image,
        None,
        gt,
        lambda k: f"{int(count[image[k], gt[k]])} positives > {name} = {limit}",
        "GT row(s)",
    )


@_register("topk", "quirk", "at most topk positives per GT")
def _topk(ev: TalEvidence) -> list[TalViolation]:
    # ultralytics: a GT that did not propose an anchor can win its conflict (largest CIoU)
    return _too_many(ev, "topk", "quirk", ev.problem.topk, "topk")


@_register("topk2", "error", "at most topk2 positives per GT when a second selection runs")
def _topk2(ev: TalEvidence) -> list[TalViolation]:
    # topk2 == topk runs no second selection (ultralytics: `topk2 or topk` != topk), so a
    # GT may keep more than topk2 through conflicts it won: the topk quirk's, not this one's
    if not ev.problem.topk2_applies:
        return []
    return _too_many(ev, "topk2", "error", ev.problem.topk2, "topk2")


@_register("total", "error", "foreground anchors per image <= topk x valid GTs")
def _total(ev: TalEvidence) -> list[TalViolation]:
    # every foreground anchor was proposed by a valid GT, and each proposes topk at most
    count, valid = ev.fg.sum(1), ev.valid.sum(1)
    limit = ev.problem.topk * valid
    found = []
    for i in (count > limit).nonzero().flatten().tolist():
        found.append(
            TalViolation(
                "total",
                "error",
                f"image {i}: {int(count[i])} foreground anchors > topk x valid GTs = "
                f"{ev.problem.topk} x {int(valid[i])} = {int(limit[i])}",
                i,
                tuple(ev.fg[i].nonzero().flatten().tolist()),
            )
        )
    return found


# --------------------------------------------------------------------------- conventions
@_register("background", "quirk", "background rows say so: label nc, zero box, target_gt_idx -1")
def _background(ev: TalEvidence) -> list[TalViolation]:
    raw = ev.output[4]
    says = (ev.labels == ev.nc) & (ev.boxes == 0).all(-1) & (raw == -1)
    image, anchor = (~ev.fg & ~says).nonzero(as_tuple=True)

    def describe(k: int) -> str:
        i, a = int(image[k]), int(anchor[k])
        label, box, idx = ev.labels[i, a].item(), ev.boxes[i, a], raw[i, a].item()
        text = f"label {label!r}, box {box_text(box)}, target_gt_idx {idx!r}"
        row0 = ev.n and idx == 0 and label == ev.gt_label(i, 0)
        if row0 and bool((box == ev.inputs.gt_bboxes[i, 0].to(box.dtype)).all()):
            text += ": GT row 0's label and box (ultralytics' convention)"
        return text

    return per_image(ev, "background", "quirk", image, anchor, None, describe)


@_register("coverage", "info", "valid GTs with no positive")
def _coverage(ev: TalEvidence) -> list[TalViolation]:
    lost = ev.valid & (_per_gt_counts(ev) == 0)
    image, gt = lost.nonzero(as_tuple=True)
    valid = ev.valid.sum(1)
    return per_image(
        ev,
        "coverage",
        "info",
        image,
        None,
        gt,
        lambda k: f"no positive, one of {int(valid[image[k]])} valid GT rows here",
        "valid GT row(s) without a positive",
    )


# Checks that need several calls: the contract (`yolo_diagnostics.tal.contract`) runs them.
for _id, _severity, _meaning in (
    ("reference", "error", "equals the reference's output up to ties (`compare`)"),
    ("batch", "error", "each image alone gets the batch's assignment"),
    ("permutation", "error", "permuting GT rows permutes the owners, ties accepted"),
    ("padding", "error", "padding rows after the GTs change nothing (inserted: quirk)"),
    ("dtype", "info", "float16 copies of float32 inputs: the decisions that flip"),
    ("device", "error", "CPU and each requested device agree, ties accepted"),
    ("scale", "error", "the checks and the reference hold at training scale"),
):
    TAL_INVARIANTS[_id] = TalInvariant(_id, _severity, _meaning, single_call=False)
