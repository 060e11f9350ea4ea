"""Which of the reference's decisions were ties, and what else a correct assigner may decide.

Three decisions break ties by convention: the top-k boundary of a GT (``torch.topk``'s
order among equal metrics -- with fewer than ``topk`` non-zero metrics, among thousands of
zeros), the owner of a contested anchor (the first row among equal CIoUs -- under ultralytics
semantics, among all rows when the column is all zeros) and the ``topk2`` boundary. Two
values tie when they differ by at most ``rtol * |x| + atol`` (`TieTolerance`).

`decide` turns the reference's steps into, per anchor: whether its outcome is **settled**
(no tie can change it), and where it is not, the admissible outcomes -- background or a set
of GT rows -- plus, per GT, the slot counts the top-k boundary allows. `compare` checks a
candidate's output against them.

Top-k boundary of GT ``g`` with k-th metric ``m_k``: ``lo, hi = m_k -/+ width(m_k)``;
anchors above ``hi`` are surely proposed, those in ``[lo, hi]`` form the band, and the
boundary is tied when the band holds more anchors than the ``need = topk - #above`` slots
left (non-candidates count as metric 0). Then every band anchor that can propose (any
candidate; strict: a positive metric) is a *maybe* proposal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

from .problem import TalProblem
from .sparse import group_count, group_max, rank_by

if TYPE_CHECKING:
    from .steps import Steps


class TieTolerance(NamedTuple):
    """Two metrics (or CIoUs) ``x``, ``y`` tie when ``|x - y| <= rtol * |x| + atol``."""

    rtol: float
    atol: float

    @classmethod
    def for_dtype(cls, dtype: torch.dtype) -> TieTolerance:
        """1e-5 relative in float32 (``ciou**6`` turns an ulp of CIoU into six of the metric),
        1e-2 in float16/bfloat16, 1e-9 in float64; ``atol`` the dtype's smallest normal, so
        underflowed metrics tie with 0."""
        rtol = {torch.float16: 1e-2, torch.bfloat16: 1e-2, torch.float64: 1e-9}.get(dtype, 1e-5)
        return cls(rtol, float(torch.finfo(dtype).tiny))

    def width(self, x: Tensor) -> Tensor:
        return x.abs() * self.rtol + self.atol


class Decisions(NamedTuple):
    """The reference's tie-sensitive decisions, in the shapes `compare` reads.

    Per anchor (``[b, na]``): ``settled`` (the outcome is forced), ``background_ok``,
    ``any_row_ok`` (every GT row may own it: an all-zero CIoU conflict under ultralytics).
    ``admissible``: sorted unique keys ``(b * na + a) * n + g`` of the other owners allowed
    where the anchor is not settled. Per GT row (``[b, n]``): ``kth`` metric, ``tied``
    boundary, ``need`` (slots for band anchors), ``silent`` (band anchors that cannot
    propose). ``maybe``: sorted keys ``(b * na + a) * n + g`` of the band's possible
    proposals, ``maybe_won``: whether a conflict win also explains owning it. Per candidate
    pair: ``pair_band``, ``pair_tied``. Per post-conflict positive: ``conflict_tie``,
    ``topk2_tie``.
    """

    settled: Tensor
    background_ok: Tensor
    any_row_ok: Tensor
    admissible: Tensor
    kth: Tensor
    tied: Tensor
    need: Tensor
    silent: Tensor
    maybe: Tensor
    maybe_won: Tensor
    pair_band: Tensor
    pair_tied: Tensor
    conflict_tie: Tensor
    topk2_tie: Tensor


def decide(
    problem: TalProblem, semantics: str, steps: Steps, tol: TieTolerance, mask_gt: Tensor
) -> Decisions:
    """The settled anchors and admissible outcomes behind one reference assignment."""
    strict = semantics == "strict"
    pairs = steps.pairs
    b, n, k = steps.top_value.shape
    na = problem.num_anchors
    rows, slots = b * n, b * na
    valid = (mask_gt[..., 0] != 0).reshape(-1)
    row = pairs.image * n + pairs.gt
    slot = pairs.image * na + pairs.anchor
    metric = pairs.align

    # the top-k boundary, per GT row
    kth = steps.top_value[..., -1].reshape(-1)
    lo, hi = kth - tol.width(kth), kth + tol.width(kth)
    above, band = _band(metric, kth[row], lo[row], hi[row])
    zero_in_band = (lo <= 0).long()
    outside = na - group_count(row, rows)  # non-candidates: metric 0
    n_above = group_count(row[above], rows)
    tied = valid & (n_above + group_count(row[band], rows) + outside * zero_in_band > k)
    silent = outside * zero_in_band
    if strict:  # a metric that is not > 0 -- zero, or NaN where float16 overflows -- never
        # proposes under strict
        silent = silent + group_count(row[band & ~(metric > 0)], rows)
    pair_tied = band & tied[row]
    maybe = pair_tied & (metric > 0) if strict else pair_tied
    claimed = torch.zeros_like(band)
    claimed[steps.claim] = True
    sure = claimed & ~pair_tied
    n_sure, n_maybe = group_count(slot[sure], slots), group_count(slot[maybe], slots)

    # the owner of each anchor, given every proposal set the boundaries allow
    possible = n_sure + n_maybe >= 2
    any_row_ok = torch.zeros(slots, dtype=torch.bool, device=slot.device)
    if strict:
        sure_best = group_max(pairs.ciou[sure], slot[sure], slots, 0.0)
        near = (sure | maybe) & (pairs.ciou >= (sure_best - tol.width(sure_best))[slot])
        allowed = near
        n_near = group_count(slot[near & sure], slots)
        conflict_tie = possible & (group_count(slot[near], slots) >= 2)
    else:
        best = group_max(pairs.ciou, slot, slots, 0.0)
        floor = best - tol.width(best)
        near = (pairs.ciou >= floor[slot]) | (pairs.ciou.isnan() & best[slot].isnan())
        any_row_ok = possible & (floor <= 0)  # zeros tie with the maximum: any row may win
        n_near = torch.where(floor <= 0, n, group_count(slot[near], slots))
        alone = (sure & (n_sure[slot] == 1)) | (maybe & (n_sure[slot] == 0))
        allowed = alone | (near & possible[slot])
        conflict_tie = possible & (n_near >= 2)
    settled = (n_maybe == 0) & ((n_sure <= 1) | (n_near == 1))
    background_ok = n_sure == 0
    maybe_won = (near & possible[slot]) | any_row_ok[slot] if not strict else torch.zeros_like(near)

    owners = steps.image * na + steps.anchor
    topk2_tie = _topk2_ties(problem, strict, steps, tol, n, k)
    keys = [(slot * n + pairs.gt)[allowed], owners * n + steps.owner]
    if topk2_tie is not None:  # topk2 can drop any positive of a GT whose positives may change
        loose = _loose_rows(slot, row, allowed, settled, any_row_ok, rows, n, na)
        owner_row = steps.image * n + steps.owner
        drop = topk2_tie | loose[owner_row]
        settled[owners[drop]] = False
        background_ok[owners[drop]] = True
        loose_pairs = allowed & loose[row]
        settled[slot[loose_pairs]] = False
        background_ok[slot[loose_pairs]] = True
        background_ok |= any_row_ok
    else:
        topk2_tie = torch.zeros_like(steps.kept)
    maybe_key = slot[maybe] * n + pairs.gt[maybe]
    maybe_order = torch.argsort(maybe_key)
    return Decisions(
        settled=settled.view(b, na),
        background_ok=background_ok.view(b, na),
        any_row_ok=any_row_ok.view(b, na),
        admissible=torch.unique(torch.cat(keys)),
        kth=kth.view(b, n),
        tied=tied.view(b, n),
        need=(k - n_above).view(b, n),
        silent=silent.view(b, n),
        maybe=maybe_key[maybe_order],
        maybe_won=maybe_won[maybe][maybe_order],
        pair_band=band,
        pair_tied=pair_tied,
        conflict_tie=conflict_tie[owners] & steps.contested,
        topk2_tie=topk2_tie,
    )


def _topk2_ties(
    problem: TalProblem, strict: bool, steps: Steps, tol: TieTolerance, n: int, k: int
) -> Tensor | None:
    """``Tensor[P0]`` bool: post-conflict positives whose ``topk2`` decision was a tie;
    None when there is no second selection."""
    k2 = problem.topk2
    if k2 is None or (k2 >= k if strict else not problem.topk2_applies):
        return None
    na = problem.num_anchors
    row = steps.image * n + steps.owner
    rows = int(steps.top_value.shape[0]) * n
    metric = steps.align
    rank = rank_by(row, -metric, steps.anchor)
    count = group_count(row, rows)
    kth = torch.zeros(rows, dtype=metric.dtype, device=metric.device)
    at_cut = rank == k2 - 1
    kth[row[at_cut]] = metric[at_cut]
    lo, hi = kth - tol.width(kth), kth + tol.width(kth)
    above, band = _band(metric, kth[row], lo[row], hi[row])
    members = group_count(row[above], rows) + group_count(row[band], rows)
    if not strict:  # ultralytics ranks the whole row: the zeros off the positives compete
        members = members + (na - count) * (lo <= 0).long()
    tied = members > k2
    if strict:
        tied &= count > k2
    return band & tied[row]


def _band(metric: Tensor, kth: Tensor, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    """Entries surely above a top-k cut at ``kth``, and those tied with it. ``torch.topk``
    ranks NaN above every number, in an order of its own: NaN is above a numeric cut and
    ties with a NaN one."""
    nan, cut_nan = metric.isnan(), kth.isnan()
    above = (metric > hi) | (nan & ~cut_nan)
    band = ~above & ((metric >= lo) | (nan & cut_nan))
    return above, band


def _loose_rows(
    slot: Tensor,
    row: Tensor,
    allowed: Tensor,
    settled: Tensor,
    any_row_ok: Tensor,
    rows: int,
    n: int,
    na: int,
) -> Tensor:
    """``Tensor[b * n]`` bool: GT rows that may own an unsettled anchor, whose positive set
    (and so its ``topk2`` selection) may differ from the reference's."""
    loose = torch.zeros(rows, dtype=torch.bool, device=slot.device)
    loose[row[allowed & ~settled[slot]]] = True
    images = (~settled & any_row_ok).nonzero().flatten() // na
    if images.numel():
        loose.view(-1, n)[images] = True
    return loose
