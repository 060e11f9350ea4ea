"""The reference's decisions in sparse form: the candidate pairs and what became of them.

`Steps` is what `yolo_diagnostics.tal.reference` computes on its way to the five outputs;
the provenance (`assignment`) and the tie structure (`ties`) are read from it.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class Pairs(NamedTuple):
    """Candidate (image, GT, anchor) pairs in key order; ``key = (b * n + g) * na + a``."""

    key: Tensor  # [N] int64, ascending
    image: Tensor  # [N] int64
    gt: Tensor  # [N] int64
    anchor: Tensor  # [N] int64
    ciou: Tensor  # [N] pd_bboxes' dtype: CIoU clamped at 0, as stored for conflicts and maxima
    align: Tensor  # [N] score**alpha * ciou**beta, from the CIoU before that cast


class Steps(NamedTuple):
    """What the assignment decided, in sparse form (the provenance is read from it)."""

    pairs: Pairs
    top_value: Tensor  # [b, n, k] the k largest metrics of each GT row
    top_index: Tensor  # [b, n, k]
    claim: Tensor  # [C] index into pairs: the proposals that count (a pair in its GT's top-k)
    claim_rank: Tensor  # [C] position in the GT's top-k
    owner: Tensor  # [P0] GT row owning each post-conflict positive
    image: Tensor  # [P0]
    anchor: Tensor  # [P0]
    contested: Tensor  # [P0] bool: several GTs proposed the anchor
    align: Tensor  # [P0] the owner's metric at the anchor (0 for a non-candidate winner)
    ciou: Tensor  # [P0] the owner's CIoU at the anchor
    kept: Tensor  # [P0] bool: survives topk2 (all True without it)
    score: Tensor  # [P0] normalised metric (meaningful where kept)
