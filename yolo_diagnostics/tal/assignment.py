"""A task-aligned assignment with its provenance: the five outputs of
``TaskAlignedAssigner.forward`` plus, per positive and per candidate pair, where it came from
and which decisions were ties."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

from .problem import TalProblem
from .sparse import group_count, lookup

if TYPE_CHECKING:
    from .steps import Steps
    from .ties import Decisions, TieTolerance

TalOutput = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]
"""``(target_labels [b, na], target_bboxes [b, na, 4], target_scores [b, na, nc],
fg_mask [b, na] bool, target_gt_idx [b, na])``."""


class Positives(NamedTuple):
    """One row per foreground anchor, ordered by (image, anchor); ``Tensor[P]`` each.

    ``rank`` is the anchor's place in its GT's top-k (0 = best), -1 when the GT won it in a
    conflict without proposing it (ultralytics semantics). ``proposers``: GTs that proposed
    the anchor; ``won_conflict``: more than one did. ``topk_tie``, ``conflict_tie``,
    ``topk2_tie``: that decision was a tie (see `yolo_diagnostics.tal.ties`).
    """

    image: Tensor
    anchor: Tensor
    gt: Tensor
    align: Tensor
    ciou: Tensor
    score: Tensor
    rank: Tensor
    proposers: Tensor
    won_conflict: Tensor
    topk_tie: Tensor
    conflict_tie: Tensor
    topk2_tie: Tensor


class Candidates(NamedTuple):
    """One row per (image, GT, anchor) candidate pair (anchor inside the floored valid GT),
    ordered by (image, GT, anchor); ``Tensor[N]`` each. ``rank``: place in the GT's top-k or
    -1; ``band``: the metric is within the tolerance of the GT's k-th; ``tied``: and the
    GT's top-k boundary is a tie."""

    image: Tensor
    gt: Tensor
    anchor: Tensor
    ciou: Tensor
    align: Tensor
    rank: Tensor
    band: Tensor
    tied: Tensor


@dataclass(frozen=True)
class TalAssignment:
    """The reference's answer for one batch.

    Attributes:
        problem, semantics: what was assigned, and how ("ultralytics" or "strict").
        target_labels, target_bboxes, target_scores, fg_mask, target_gt_idx: the outputs,
            as ``TaskAlignedAssigner.forward`` returns them (see `TalOutput`).
        gt_labels, gt_bboxes: the inputs ``[b, n, 1]`` and ``[b, n, 4]`` (the comparison
            reads labels and boxes of other owners from them).
        positives, candidates: the provenance tables (empty when ``n == 0``).
        decisions: the tie structure `compare` uses; None when ``n == 0``.
        tolerance: the tie tolerance the decisions were made with.
    """

    problem: TalProblem
    semantics: str
    target_labels: Tensor
    target_bboxes: Tensor
    target_scores: Tensor
    fg_mask: Tensor
    target_gt_idx: Tensor
    gt_labels: Tensor
    gt_bboxes: Tensor
    positives: Positives
    candidates: Candidates
    decisions: Decisions | None
    tolerance: TieTolerance

    @property
    def outputs(self) -> TalOutput:
        return (
            self.target_labels,
            self.target_bboxes,
            self.target_scores,
            self.fg_mask,
            self.target_gt_idx,
        )

    @property
    def num_gt_rows(self) -> int:
        return int(self.gt_bboxes.shape[1])

    @classmethod
    def build(
        cls,
        problem: TalProblem,
        semantics: str,
        outputs: TalOutput,
        steps: Steps | None,
        decisions: Decisions | None,
        gt_labels: Tensor,
        gt_bboxes: Tensor,
        tolerance: TieTolerance,
    ) -> TalAssignment:
        """Assemble the provenance tables from the reference's sparse steps."""
        if steps is None or decisions is None:
            positives, candidates = _empty_tables(outputs[2])
        else:
            positives, candidates = _tables(problem, steps, decisions)
        return cls(
            problem,
            semantics,
            *outputs,
            gt_labels=gt_labels,
            gt_bboxes=gt_bboxes,
            positives=positives,
            candidates=candidates,
            decisions=decisions,
            tolerance=tolerance,
        )


def _tables(
    problem: TalProblem, steps: Steps, decisions: Decisions
) -> tuple[Positives, Candidates]:
    pairs = steps.pairs
    b, n, _ = steps.top_value.shape
    na = problem.num_anchors
    rank = torch.full_like(pairs.key, -1)
    rank[steps.claim] = steps.claim_rank
    candidates = Candidates(
        pairs.image,
        pairs.gt,
        pairs.anchor,
        pairs.ciou,
        pairs.align,
        rank,
        decisions.pair_band,
        decisions.pair_tied,
    )
    kept = steps.kept
    image, anchor, gt = steps.image[kept], steps.anchor[kept], steps.owner[kept]
    index, found = lookup(pairs.key, (image * n + gt) * na + anchor)
    proposers = group_count(pairs.image[steps.claim] * na + pairs.anchor[steps.claim], b * na)
    positives = Positives(
        image=image,
        anchor=anchor,
        gt=gt,
        align=steps.align[kept],
        ciou=steps.ciou[kept],
        score=steps.score[kept],
        rank=torch.where(found, rank[index], -1),
        proposers=proposers[image * na + anchor],
        won_conflict=steps.contested[kept],
        topk_tie=found & decisions.pair_tied[index],
        conflict_tie=decisions.conflict_tie[kept],
        topk2_tie=decisions.topk2_tie[kept],
    )
    return positives, candidates


def _empty_tables(scores: Tensor) -> tuple[Positives, Candidates]:
    long = torch.zeros(0, dtype=torch.int64, device=scores.device)
    real = torch.zeros(0, dtype=scores.dtype, device=scores.device)
    flag = torch.zeros(0, dtype=torch.bool, device=scores.device)
    positives = Positives(long, long, long, real, real, real, long, long, flag, flag, flag, flag)
    return positives, Candidates(long, long, long, real, real, long, flag, flag)
