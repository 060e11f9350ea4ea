"""The TAL contract's properties that compare several calls of the assigner.

- ``batch``: each image assigned alone gives the batch's outputs for it, bit for bit;
- ``permutation``: permuting the GT rows renumbers the owners and changes nothing else,
  except at anchors whose reference decision was a tie;
- ``padding``: rows of padding appended after the GTs (as ultralytics' loss pads) change
  nothing, bit for bit; inserted between them, a change of owner is a quirk (ultralytics'
  all-zero-CIoU conflicts go to row 0);
- ``dtype``: float16 copies of float32 inputs, an ``info`` finding counting the flipped
  decisions (``ciou**6`` underflows in half precision);
- ``device``: the CPU and another device agree, ties aside.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from hypothesis import strategies as st
from torch import Tensor

from ...harness.property import ContractFailure
from ..assignment import TalOutput
from ..compare import default_score_tolerance
from ..corpus import TalBatch
from ..violations import TalViolation
from .base import TalContractOptions, call, reference_of, small_cases
from .cases import Case, batch_of


@st.composite
def permuted_cases(draw: st.DrawFn, options: TalContractOptions) -> Case:
    case = draw(small_cases(options))
    case["permutation"] = draw(st.permutations(range(case["gt_bboxes"].shape[1])))
    return case


@st.composite
def padded_cases(draw: st.DrawFn, options: TalContractOptions) -> Case:
    case = draw(small_cases(options))
    case["extra_rows"] = draw(st.integers(1, 4))
    case["insert_at"] = draw(st.integers(0, case["gt_bboxes"].shape[1]))  # interleaved rows go here
    return case


def batch_property(options: TalContractOptions, device: str, case: Case) -> list:
    """Each image alone (batch of one, the same GT rows) gives the batch's outputs for it:
    decisions, labels and boxes bit for bit, scores within a few ulps (a vectorised ``pow``
    rounds a lane apart from a scalar one)."""
    problem, batch = case["problem"], batch_of(case)
    together = call(options, device, problem, batch)
    alone = replace(problem, batch_size=1)
    for b in range(problem.batch_size):
        one = TalBatch(*(t if t.dim() == 2 else t[b : b + 1] for t in batch))
        single = call(options, device, alone, one)
        mine = tuple(t[b : b + 1] for t in together)
        differs = _difference(mine, single)
        if differs:
            raise ContractFailure(
                "batch", f"image {b} assigned alone differs from the batch: {differs}"
            )
    return []


def permutation_property(options: TalContractOptions, device: str, case: Case) -> list:
    """Permuting the GT rows: the same foreground and owners (renumbered), ties aside."""
    problem, batch = case["problem"], batch_of(case)
    perm = torch.tensor(case["permutation"], dtype=torch.long)
    if len(perm) == 0:
        return []  # no GT rows to permute
    permuted = TalBatch(
        batch.pd_scores,
        batch.pd_bboxes,
        batch.anc_points,
        batch.gt_labels[:, perm],
        batch.gt_bboxes[:, perm],
        batch.mask_gt[:, perm],
    )
    before = call(options, device, problem, batch)
    after = list(call(options, device, problem, permuted))
    after[4] = torch.where(after[3], perm[after[4].long().clamp(min=0)], after[4].long())
    _agree(
        "permutation",
        "permuting the GT rows changed the assignment",
        reference_of(options, problem, batch),
        before,
        tuple(after),
    )
    return []


def padding_property(options: TalContractOptions, device: str, case: Case) -> list[TalViolation]:
    """Padding rows after the GTs change nothing; inserted between them, a change of owner is
    ultralytics' quirk (zero-CIoU ties go to row 0). In float16 ultralytics turns a whole
    image's scores into NaN where a padded row divides 0 by 0: a quirk too."""
    problem, batch = case["problem"], batch_of(case)
    k, at = case["extra_rows"], case["insert_at"]
    if batch.gt_bboxes.shape[1] == 0:
        return []  # padding onto no rows is another problem: n == 0 returns early
    before = call(options, device, problem, batch)
    b = problem.batch_size
    pad = (
        batch.gt_labels.new_zeros((b, k, 1)),
        batch.gt_bboxes.new_zeros((b, k, 4)),
        batch.mask_gt.new_zeros((b, k, 1)),
    )
    found: list[TalViolation] = []
    trailing = TalBatch(*batch[:3], *(torch.cat((t, z), 1) for t, z in zip(batch[3:], pad)))
    after = call(options, device, problem, trailing)
    nan = _new_nan_images(before, after)
    if nan:
        found.append(
            TalViolation(
                "padding",
                "quirk",
                f"{k} padding row(s) appended turn the scores of image(s) {nan} into NaN "
                "(float16: the normalisation's eps rounds to 0, and a row without positives "
                "divides 0 by 0)",
                image=nan[0],
            )
        )
        after = (*after[:2], torch.where(after[2].isnan(), before[2], after[2]), *after[3:])
    differs = _difference(before, after)
    if differs:
        raise ContractFailure(
            "padding", f"{k} padding row(s) appended after the GTs changed {differs}"
        )
    inserted = TalBatch(
        *batch[:3],
        *(torch.cat((t[:, :at], z, t[:, at:]), 1) for t, z in zip(batch[3:], pad)),
    )
    moved = list(call(options, device, problem, inserted))
    idx = moved[4].long()
    moved[4] = torch.where(moved[3] & (idx >= at + k), idx - k, idx)
    fg_changed = (moved[3] != before[3]) | (before[3] & (moved[4] != before[4].long()))
    if fg_changed.any():
        i, a = (int(v) for v in fg_changed.nonzero()[0])
        found.append(
            TalViolation(
                "padding",
                "quirk",
                f"{k} padding row(s) inserted at row {at} changed the owner of "
                f"{int(fg_changed.sum())} anchor(s); first: image {i}, anchor {a}",
                image=i,
                anchors=(a,),
            )
        )
    return found


def _new_nan_images(before: TalOutput, after: TalOutput) -> list[int]:
    """Images whose scores hold NaN after and did not before, in float16 only."""
    if after[2].dtype != torch.float16:
        return []
    fresh = after[2].isnan().flatten(1).any(1) & ~before[2].isnan().flatten(1).any(1)
    return fresh.nonzero().flatten().tolist()


def dtype_property(options: TalContractOptions, device: str, case: Case) -> list[TalViolation]:
    """float16 copies of float32 inputs: an info finding counting the flipped decisions."""
    problem, batch = case["problem"], batch_of(case)
    if batch.pd_scores.dtype != torch.float32:
        return []  # the drawn batch is already half: nothing to compare with
    single = call(options, device, problem, batch)
    half = TalBatch(*(t.half() for t in batch))
    halved = call(options, device, problem, half)
    flipped = (single[3] != halved[3]) | (single[3] & (single[4].long() != halved[4].long()))
    if not flipped.any():
        return []
    i, a = (int(v) for v in flipped.nonzero()[0])
    return [
        TalViolation(
            "dtype",
            "info",
            f"float16 inputs flip {int(flipped.sum())} of {int(single[3].sum())} foreground "
            f"decisions; first: image {i}, anchor {a}",
            image=i,
            anchors=(a,),
        )
    ]


def device_property(options: TalContractOptions, device: str, case: Case) -> list:
    problem, batch = case["problem"], batch_of(case)
    on_cpu = call(options, "cpu", problem, batch)
    there = call(options, device, problem, batch)
    _agree(
        "device",
        f"{device} and cpu disagree",
        reference_of(options, problem, batch),
        on_cpu,
        there,
    )
    return []


_NAMES = ("target_labels", "target_bboxes", "target_scores", "fg_mask", "target_gt_idx")


def _difference(first: TalOutput, second: TalOutput) -> str:
    """What differs between two outputs ('' if nothing): labels, boxes, foreground and
    owners bit for bit, scores within `compare`'s tolerance (NaN equal to NaN)."""
    for name, x, y in zip(_NAMES, first, second):
        if name == "target_scores" and x.shape == y.shape and x.dtype == y.dtype:
            rtol, atol = default_score_tolerance(x.dtype)
            close = torch.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True)
            if not close.all():
                return f"{name}: {_first_difference(x, y, ~close)}"
        elif not _identical(x, y):
            return f"{name}: {_first_difference(x, y)}"
    return ""


def _identical(x: Tensor, y: Tensor) -> bool:
    """Same shape, dtype and values, NaN equal to NaN."""
    return (
        x.shape == y.shape
        and x.dtype == y.dtype
        and torch.equal(
            torch.nan_to_num(x, nan=-7.0) if x.is_floating_point() else x,
            torch.nan_to_num(y, nan=-7.0) if y.is_floating_point() else y,
        )
    )


def _first_difference(x: Tensor, y: Tensor, differs: Tensor | None = None) -> str:
    if x.shape != y.shape or x.dtype != y.dtype:
        return f"{list(x.shape)} {x.dtype} vs {list(y.shape)} {y.dtype}"
    if differs is None:
        differs = x != y
        if x.is_floating_point():
            differs &= ~(x.isnan() & y.isnan())
    where = tuple(int(v) for v in differs.nonzero()[0])
    return (
        f"{int(differs.sum())} value(s); first at {where}: {x[where].item()} vs {y[where].item()}"
    )


def _agree(check_id: str, what: str, reference, first: TalOutput, second: TalOutput) -> None:
    """Fail unless two outputs have the same foreground and owners at every anchor the
    reference's decisions settle, and the same label and box wherever both are foreground
    with the same owner."""
    if not all(isinstance(o, (tuple, list)) and len(o) == 5 for o in (first, second)):
        raise ContractFailure(check_id, f"{what}: an output is not the five tensors")
    fg1, fg2 = first[3].bool(), second[3].bool()
    idx1, idx2 = first[4].long(), second[4].long()
    differs = (fg1 != fg2) | (fg1 & (idx1 != idx2))
    settled = (
        reference.decisions.settled if reference.decisions is not None else torch.ones_like(fg1)
    )
    bad = differs & settled
    if bad.any():
        i, a = (int(v) for v in bad.nonzero()[0])
        raise ContractFailure(
            check_id,
            f"{what}: {int(bad.sum())} anchor(s) whose decision no tie explains; first: "
            f"image {i}, anchor {a}: {_owner(fg1, idx1, i, a)} vs {_owner(fg2, idx2, i, a)}",
        )
    same = fg1 & fg2 & (idx1 == idx2)
    for name, k in (("target_labels", 0), ("target_bboxes", 1)):
        x, y = first[k][same], second[k][same]
        if not _identical(x, y):
            raise ContractFailure(check_id, f"{what}: {name} of shared positives differ")


def _owner(fg: Tensor, idx: Tensor, i: int, a: int) -> str:
    return f"GT {int(idx[i, a])}" if bool(fg[i, a]) else "background"
