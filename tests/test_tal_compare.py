"""`compare` accepts exactly the tie-breaks: another correct tie order passes, and each
changed decision that was not a tie fails, naming the rule it breaks.

The mutants below start from the reference's own output and change one thing, keeping
everything else consistent (labels, boxes and scores follow the changed owner, recomputed
with `expected_scores`), so only the rule under test can catch them.
"""

from __future__ import annotations

import pytest
import torch
from test_tal_plain import plain_assign
from torch import Tensor

from yolo_diagnostics.tal import TalAssignment, TalProblem, TieTolerance, assign, compare
from yolo_diagnostics.tal.compare import expected_scores
from yolo_diagnostics.tal.corpus import TalBatch, make_batch
from yolo_diagnostics.tal.reference import make_strict_assigner

PROBLEM = TalProblem.preset("ultralytics", num_classes=4, batch_size=2, img_size=(96, 128))


def reference_of(batch: TalBatch, semantics: str = "ultralytics", **kw: object) -> TalAssignment:
    return assign(
        PROBLEM,
        *batch[:2],
        *batch[3:],
        anc_points=batch.anc_points,
        semantics=semantics,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def with_owners(ref: TalAssignment, fg: Tensor, gt_idx: Tensor) -> tuple[Tensor, ...]:
    """The reference's output with other owners, everything else consistent with them."""
    strict = ref.semantics == "strict"
    gt_idx = torch.where(fg, gt_idx, -1 if strict else 0)
    row = gt_idx.clamp(min=0)
    labels = ref.gt_labels[..., 0].long().gather(1, row)
    boxes = ref.gt_bboxes.gather(1, row[..., None].expand(-1, -1, 4))
    if strict:
        labels = torch.where(fg, labels, PROBLEM.num_classes)
        boxes = torch.where(fg[..., None], boxes, 0)
    return labels, boxes, expected_scores(ref, fg, gt_idx), fg, gt_idx


def first(mask: Tensor) -> tuple[int, int]:
    b, a = (int(v) for v in mask.nonzero()[0])
    return b, a


@pytest.fixture(scope="module")
def tied() -> tuple[TalBatch, TalAssignment]:
    """Every anchor of an image predicts the same box and scores: ties everywhere."""
    batch = make_batch(PROBLEM, seed=4, kind="identical", n=5, padding="trailing")
    return batch, reference_of(batch)


@pytest.fixture(scope="module")
def plain() -> tuple[TalBatch, TalAssignment]:
    batch = make_batch(PROBLEM, seed=11, kind="near-gt", n=6, padding="interleaved")
    return batch, reference_of(batch)


def test_the_reference_and_its_own_scores_pass_bit_exactly(plain) -> None:  # noqa: ANN001
    _, ref = plain
    diff = compare(ref, ref.outputs, score_rtol=0, score_atol=0)
    assert diff.equal and diff.accepted_ties == 0
    assert diff.summary() == "0 mismatches, 0 tie-breaks accepted"
    assert torch.equal(expected_scores(ref, ref.fg_mask, ref.target_gt_idx), ref.target_scores)


def test_another_tie_order_passes_and_differs(tied) -> None:  # noqa: ANN001
    batch, ref = tied
    theirs = plain_assign(PROBLEM, *batch, reverse=True)
    diff = compare(ref, theirs)
    assert diff.equal, diff.summary()
    assert diff.accepted_ties > 10  # the reversed order really chose other anchors
    assert not torch.equal(theirs[3], ref.fg_mask)


def test_a_settled_positive_made_background_fails(plain) -> None:  # noqa: ANN001
    _, ref = plain
    b, a = first(ref.fg_mask & ref.decisions.settled)
    fg = ref.fg_mask.clone()
    fg[b, a] = False
    diff = compare(ref, with_owners(ref, fg, ref.target_gt_idx))
    assert not diff.equal
    assert diff.mismatches[0].startswith(
        "owner differs from the reference where no tie allows it: 1 anchors; "
        f"first image {b}, anchor {a}: reference GT {int(ref.target_gt_idx[b, a])}, got background"
    )


def test_a_settled_positive_given_to_another_gt_fails(plain) -> None:  # noqa: ANN001
    _, ref = plain
    b, a = first(ref.fg_mask & ref.decisions.settled)
    gt_idx = ref.target_gt_idx.clone()
    gt_idx[b, a] = (gt_idx[b, a] + 1) % ref.num_gt_rows
    diff = compare(ref, with_owners(ref, ref.fg_mask, gt_idx))
    assert [m.split(":")[0] for m in diff.mismatches] == [
        "owner differs from the reference where no tie allows it"
    ]


def test_a_settled_background_anchor_made_positive_fails(plain) -> None:  # noqa: ANN001
    _, ref = plain
    b, a = first(~ref.fg_mask & ref.decisions.settled)
    fg = ref.fg_mask.clone()
    fg[b, a] = True
    diff = compare(ref, with_owners(ref, fg, ref.target_gt_idx))
    assert (
        diff.mismatches[0].split(":")[0]
        == "owner differs from the reference where no tie allows it"
    )


def test_dropping_every_tied_anchor_fails_the_slot_count(tied) -> None:  # noqa: ANN001
    """Each tied anchor alone may be background; all of them at once may not."""
    _, ref = tied
    d = ref.decisions
    drop = ref.fg_mask & ~d.settled & d.background_ok
    assert int(drop.sum()) > 5
    fg = ref.fg_mask & ~drop
    diff = compare(ref, with_owners(ref, fg, ref.target_gt_idx))
    assert len(diff.mismatches) == 1
    assert diff.mismatches[0].startswith("top-k slots: ")
    assert "GTs use fewer tied anchors than their top-k takes" in diff.mismatches[0]


def test_taking_every_tied_anchor_fails_the_slot_count(tied) -> None:  # noqa: ANN001
    """Each maybe-proposal alone may be a positive; all of them exceed the top-k."""
    _, ref = tied
    d = ref.decisions
    n, na = ref.num_gt_rows, PROBLEM.num_anchors
    fg, gt_idx = ref.fg_mask.clone().view(-1), ref.target_gt_idx.clone().view(-1)
    slot, g = d.maybe // n, d.maybe % n
    free = ~fg[slot]
    fg[slot[free]], gt_idx[slot[free]] = True, g[free]
    assert int(free.sum()) > 5
    fg, gt_idx = fg.view(-1, na), gt_idx.view(-1, na)
    diff = compare(ref, with_owners(ref, fg, gt_idx))
    assert any("GTs own more tied anchors than their top-k leaves" in m for m in diff.mismatches)


@pytest.mark.parametrize("factor", [1.001, 0.999])
def test_a_score_off_by_a_tenth_of_a_percent_fails(plain, factor: float) -> None:  # noqa: ANN001
    _, ref = plain
    labels, boxes, scores, fg, gt_idx = (t.clone() for t in ref.outputs)
    b, a = first(fg & (scores.amax(-1) > 0.1))
    scores[b, a] *= factor
    diff = compare(ref, (labels, boxes, scores, fg, gt_idx))
    assert [m.split(":")[0] for m in diff.mismatches] == ["target_scores"]
    assert diff.mismatches[0].startswith(f"target_scores: 1 anchors; first image {b}, anchor {a}")
    assert compare(ref, (labels, boxes, scores, fg, gt_idx), score_rtol=1e-2).equal


def test_background_rows_follow_the_semantics_convention(plain) -> None:  # noqa: ANN001
    _, ref = plain
    labels, boxes, scores, fg, gt_idx = (t.clone() for t in ref.outputs)
    b, a = first(~fg)
    labels[b, a] = PROBLEM.num_classes  # strict's background label, not row 0's
    diff = compare(ref, (labels, boxes, scores, fg, gt_idx))
    assert diff.mismatches[0].startswith("target_labels are not the owner's (or background's)")
    gt_idx[b, a], labels[b, a] = -1, ref.target_labels[b, a]
    diff = compare(ref, (labels, boxes, scores, fg, gt_idx))
    assert diff.mismatches[0].startswith("background target_gt_idx breaks the semantics'")


@pytest.mark.parametrize(
    ("field", "change", "message"),
    [
        (
            0,
            lambda t: t.int(),
            "target_labels: expected shape [2, 252] torch.int64, got [2, 252] torch.int32",
        ),
        (
            3,
            lambda t: t[:1],
            "fg_mask: expected shape [2, 252] torch.bool, got [1, 252] torch.bool",
        ),
        (2, lambda t: t.half(), "target_scores: expected shape [2, 252, 4] torch.float32, got"),
    ],
)
def test_shapes_and_dtypes_must_match(plain, field: int, change, message: str) -> None:  # noqa: ANN001
    _, ref = plain
    outputs = list(ref.outputs)
    outputs[field] = change(outputs[field])
    diff = compare(ref, tuple(outputs))
    assert diff.mismatches[0].startswith(message)


def test_strict_reference_rejects_ultralytics_zero_metric_positives() -> None:
    batch = make_batch(PROBLEM, seed=2, kind="zero-scores", n=4, padding="trailing")
    batch.gt_bboxes[0, 0] = torch.tensor([0.0, 0.0, 128.0, 96.0])  # every anchor inside
    theirs = reference_of(batch).outputs  # ultralytics semantics: zero-metric positives
    assert int(theirs[3][0].sum()) == PROBLEM.topk
    diff = compare(reference_of(batch, "strict"), theirs)
    assert [m.split(":")[0] for m in diff.mismatches] == [
        "owner differs from the reference where no tie allows it",
        "background target_gt_idx breaks the semantics' convention",  # 0, not -1
        "target_labels are not the owner's (or background's)",  # row 0's, not num_classes
        "target_bboxes are not the owner's (or background's)",
    ]


def test_the_stated_tolerance_decides_what_is_a_tie() -> None:
    """Swapping a contested anchor between its proposers: a tie only for a loose tolerance."""
    batch = make_batch(PROBLEM, seed=1, kind="large", n=6, padding="none")
    ref = reference_of(batch)
    pos = ref.positives
    contested = pos.won_conflict & ~pos.conflict_tie
    assert contested.any()
    i = int(contested.nonzero()[0])
    b, a = int(pos.image[i]), int(pos.anchor[i])
    cand = ref.candidates
    others = cand.gt[
        (cand.image == b) & (cand.anchor == a) & (cand.gt != pos.gt[i]) & (cand.rank >= 0)
    ]
    gt_idx = ref.target_gt_idx.clone()
    gt_idx[b, a] = int(others[0])
    swapped = with_owners(ref, ref.fg_mask, gt_idx)
    assert not compare(ref, swapped).equal
    loose = reference_of(batch, tolerance=TieTolerance(rtol=10.0, atol=1.0))
    assert compare(loose, with_owners(loose, ref.fg_mask, gt_idx)).equal


def test_strict_nan_metrics_are_silent_at_a_tied_boundary() -> None:
    """float16: a 270 x 36 px GT against predictions over 256 px wide: areas past 65 504
    give NaN CIoUs, so the GT's top-k cut is NaN. Under strict a NaN metric never proposes
    (it is not > 0), as a zero one: the reference gives the GT no positive, and `compare`
    must accept the reference's own output (it asked for 10 tied anchors it could not get)."""
    import json
    from pathlib import Path

    from yolo_diagnostics.tal.contract.base import reference_assign
    from yolo_diagnostics.tal.contract.cases import batch_of, case_from_data

    data = json.loads((Path(__file__).parent / "tal_strict_nan_metrics.json").read_text())
    _, _, case = case_from_data(data)
    problem, batch = case["problem"], batch_of(case)
    reference = reference_assign(problem, batch, "strict")
    assert reference.decisions is not None and bool(reference.decisions.kth[1, 0].isnan())
    assert int(reference.fg_mask.sum()) == 0
    assert compare(reference, reference.outputs).equal
    assert compare(reference, make_strict_assigner(problem, "cpu")(*batch)).equal


def test_indices_naming_no_gt_row_are_one_mismatch_not_a_crash() -> None:
    """target_gt_idx with the batch offset left in (b * n + g): image 1's indices are past n."""
    problem = TalProblem.preset("ultralytics", img_size=(64, 64), batch_size=2, num_classes=3)
    batch = make_batch(problem, seed=4, kind="near-gt", n=6, padding="none")
    reference = assign(problem, *batch[:2], *batch[3:], anc_points=batch.anc_points)
    labels, boxes, scores, fg, idx = reference.outputs
    offset = torch.tensor([[0], [6]])
    d = compare(reference, (labels, boxes, scores, fg, idx + offset))
    assert len(d.mismatches) == 1 and d.mismatches[0].startswith(
        "target_gt_idx: " + f"{int(fg[1].sum())} foreground anchors name no GT row of 6; "
        "first image 1, anchor "
    )
