"""The TAL invariants: every single-call check passes on correct outputs -- ultralytics'
own assigner, the reference in both semantics, a plain second formulation -- and fires, with
its severity, image, anchors, GT rows and a message naming them, on an output broken the way
a real bug breaks it. Each check ``x-y`` has tests named ``test_x_y_...``.

Hand-made problems: ``HAND`` is a 64 x 64 input at strides 8, 16, 32 (anchors 0-63 on level
0 at ``(8 i + 4, 8 j + 4)``, ``a = 8 j + i``; 64-79 on level 1; 80-83 on level 2), where a
side under 16 px is floored to 16; ``GRID`` is 32 x 32 at stride 8 (``a = 4 j + i``).
"""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest
import torch
from test_tal_plain import plain_assign
from torch import Tensor

import yolo_diagnostics.tal.invariants as invariants_module
from yolo_diagnostics.adapters.ultralytics import make_assigner as ultralytics_assigner
from yolo_diagnostics.errors import DiagnosticsError
from yolo_diagnostics.tal import TalProblem, assign, make_assigner, make_strict_assigner
from yolo_diagnostics.tal.corpus import KINDS, PADDINGS, TalBatch, make_batch
from yolo_diagnostics.tal.invariants import TAL_INVARIANTS, TalViolation, check

HAND = TalProblem(strides=(8, 16, 32), img_size=(64, 64), num_classes=3)
GRID = TalProblem(strides=(8,), img_size=(32, 32), num_classes=2, topk=3)
SMALL = TalProblem.preset("ultralytics", num_classes=4, batch_size=3, img_size=(96, 128))
ASSIGNERS = {
    "ultralytics": ultralytics_assigner,
    "reference": make_assigner,
    "strict": make_strict_assigner,
}
DTYPES = {  # boxes, scores
    "float32": (torch.float32, torch.float32),
    "float16": (torch.float16, torch.float16),
    "amp": (torch.float32, torch.float16),
}


def make(
    problem: TalProblem,
    rows: list[tuple[list[float], int, int]],
    scores: float | Tensor = 0.5,
    preds: list[float] | Tensor | None = None,
) -> TalBatch:
    """One image: ``rows`` of (box, label, mask); every anchor predicts ``preds`` (a box,
    or ``[na, 4]``; default a 4 px box on the anchor point) with class scores ``scores``."""
    points = problem.anchor_points()
    na, nc = len(points), problem.num_classes
    if preds is None:
        preds = torch.cat((points - 2, points + 2), 1)
    preds = torch.as_tensor(preds, dtype=torch.float32).expand(na, 4)
    scores = torch.as_tensor(scores, dtype=torch.float32).expand(na, nc)
    n = len(rows)
    boxes = torch.tensor([r[0] for r in rows], dtype=torch.float32).reshape(1, n, 4)
    labels = torch.tensor([[float(r[1])] for r in rows]).reshape(1, n, 1)
    mask = torch.tensor([[float(r[2])] for r in rows]).reshape(1, n, 1)
    return TalBatch(scores[None].clone(), preds[None].clone(), points, labels, boxes, mask)


def edited(output: tuple[Tensor, ...]) -> list[Tensor]:
    """A copy of the five outputs to break."""
    return [t.clone() for t in output]


def found(violations: list[TalViolation], severity: str | None = None) -> set[str]:
    return {v.check for v in violations if severity is None or v.severity == severity}


def only(violations: list[TalViolation], check_id: str) -> TalViolation:
    hits = [v for v in violations if v.check == check_id]
    assert len(hits) == 1, [str(v) for v in violations]
    return hits[0]


def give(out: list[Tensor], batch: TalBatch, image: int, anchor: int, gt: int, score: float):
    """Make ``anchor`` a positive of GT row ``gt`` with consistent targets, as an assigner
    that picked it would write them."""
    label = int(batch.gt_labels[image, gt, 0])
    out[0][image, anchor] = label
    out[1][image, anchor] = batch.gt_bboxes[image, gt]
    out[2][image, anchor] = 0
    out[2][image, anchor, label] = score
    out[3][image, anchor] = True
    out[4][image, anchor] = gt


@pytest.fixture(scope="module")
def near() -> tuple[TalBatch, tuple[Tensor, ...]]:
    """A ``near-gt`` batch of ``SMALL`` (3 images, 6 rows, trailing padding) and the strict
    reference's output on it: no finding but coverage."""
    batch = make_batch(SMALL, seed=5, kind="near-gt", n=6, padding="trailing")
    out = make_strict_assigner(SMALL, "cpu")(*batch)
    assert found(check(SMALL, batch, out)) <= {"coverage"}
    return batch, out


def two_labels(batch: TalBatch, out: tuple[Tensor, ...]) -> tuple[int, int, int, int]:
    """``(image, anchor, gt, other)``: a positive of ``gt`` and a valid row ``other`` of
    its image with another label."""
    for image, anchor in out[3].nonzero().tolist():
        gt = int(out[4][image, anchor])
        labels = batch.gt_labels[image, :, 0]
        others = (batch.mask_gt[image, :, 0] > 0) & (labels != labels[gt])
        if others.any():
            return image, anchor, gt, int(others.nonzero()[0])
    raise AssertionError("no image with two labels")


# --------------------------------------------------------------------------- clean outputs
PROBLEMS = {
    "p5": SMALL,
    "p6": TalProblem.preset("ultralytics-p6", num_classes=3, batch_size=2, img_size=(128, 128)),
    "one2one": TalProblem.preset("one2one", num_classes=3, batch_size=2, img_size=(96, 128)),
    "topk2-12": TalProblem.preset(
        "ultralytics", topk2=12, num_classes=3, batch_size=2, img_size=(96, 128)
    ),
}


@pytest.mark.parametrize("name", PROBLEMS)
def test_clean_outputs_pass(name: str, device: str) -> None:
    """ultralytics and the reference: no error; the strict reference: no quirk either.
    Every kind x padding x dtype, an empty image among them."""
    problem = PROBLEMS[name]
    quirks = set()
    for kind, padding, mode in itertools.product(KINDS, PADDINGS, DTYPES):
        boxes, scores = DTYPES[mode]
        batch = make_batch(
            problem, seed=11, kind=kind, n=7, padding=padding, empty_images=1,
            dtype=boxes, score_dtype=scores, device=device,
        )  # fmt: skip
        for assigner, factory in ASSIGNERS.items():
            output = factory(problem, device)(*batch)
            violations = check(problem, batch, output)
            where = f"{assigner} {kind}/{padding}/{mode}"
            assert not found(violations, "error"), (where, [str(v) for v in violations])
            if assigner == "strict":
                assert found(violations) <= {"coverage"}, (where, [str(v) for v in violations])
            else:
                quirks |= found(violations, "quirk")
    assert "background" in quirks  # ultralytics' own faults show, as quirks


@pytest.mark.parametrize("semantics", ["ultralytics", "strict"])
@pytest.mark.parametrize("case", ["n=0", "all padding", "empty images"])
@pytest.mark.parametrize("mode", ["float32", "float16"])
def test_clean_outputs_pass_on_degenerate_batches(case: str, semantics: str, mode: str) -> None:
    problem = SMALL
    dtype = DTYPES[mode][0]
    n, empty = {"n=0": (0, 0), "all padding": (5, 3), "empty images": (5, 2)}[case]
    batch = make_batch(problem, seed=3, n=n, empty_images=empty, dtype=dtype)
    factories = [make_strict_assigner] if semantics == "strict" else [ultralytics_assigner]
    factories.append(lambda p, d: make_assigner(p, d, semantics=semantics))
    for factory in factories:
        violations = check(problem, batch, factory(problem, "cpu")(*batch))
        assert not found(violations, "error"), [str(v) for v in violations]
        if semantics == "strict":
            assert found(violations) <= {"coverage"}, [str(v) for v in violations]


def test_clean_outputs_pass_with_p6_and_topk2_on_ultralytics_edge_kinds() -> None:
    """YOLO26's one-to-one head (topk 7, topk2 1) and P6 on the kinds with most ties."""
    for name, kind in itertools.product(("p6", "one2one"), ("identical", "zero-scores", "small")):
        problem = PROBLEMS[name]
        batch = make_batch(problem, seed=4, kind=kind, n=9, padding="interleaved")
        violations = check(problem, batch, ultralytics_assigner(problem, "cpu")(*batch))
        assert not found(violations, "error"), (name, kind, [str(v) for v in violations])


@pytest.mark.parametrize("semantics", ["ultralytics", "strict"])
def test_clean_outputs_pass_from_a_plain_second_formulation(semantics: str) -> None:
    """`plain_assign` (torchvision's CIoU, Python loops, scores normalised in float64) and,
    under strict, the reversed tie order: within the normalisation's tolerance."""
    problem = TalProblem.preset("ultralytics", num_classes=3, batch_size=2, img_size=(64, 96))
    for kind, padding in itertools.product(KINDS, PADDINGS):
        batch = make_batch(problem, seed=7, kind=kind, n=5, padding=padding, empty_images=1)
        output = plain_assign(problem, *batch, semantics=semantics, reverse=semantics == "strict")
        violations = check(problem, batch, output)
        assert not found(violations, "error"), (kind, padding, [str(v) for v in violations])


# --------------------------------------------------------------------------- structure
@pytest.mark.parametrize(
    "bug, message",
    [
        (lambda o: o[:4], "expected the 5 tensors"),
        (lambda o: (o[0].int(), *o[1:]), "target_labels: expected int64 dtype, got torch.int32"),
        (lambda o: (*o[:3], o[3].to(torch.int8), o[4]), "fg_mask: expected bool dtype"),
        (lambda o: (*o[:4], o[4].float()), "target_gt_idx: expected int64 dtype, got torch.float"),
        (lambda o: (*o[:2], o[2].transpose(1, 2), *o[3:]), "target_scores: expected shape"),
        (lambda o: (o[0], o[1].to("meta"), *o[2:]), "target_bboxes: on meta, the inputs on cpu"),
        (lambda o: (*o[:4], o[4].tolist()), "target_gt_idx: expected torch.Tensor"),
    ],
    ids=["four", "int32-labels", "int8-fg", "float-gt-idx", "nc-first", "device", "list"],
)
def test_shapes_fires(near, bug, message: str) -> None:
    batch, out = near
    violations = check(SMALL, batch, bug(out))
    assert found(violations) == {"shapes"} and all(v.fails for v in violations)
    assert any(message in v.message for v in violations), [str(v) for v in violations]


@pytest.mark.parametrize("strict", [False, True])
def test_empty_dtypes_is_the_quirk_of_ultralytics_n0_return(strict: bool) -> None:
    batch = make_batch(SMALL, seed=1, n=0)
    ours = check(SMALL, batch, make_strict_assigner(SMALL, "cpu")(*batch), strict=strict)
    assert ours == []  # int64 labels and indices, background that says background
    violations = check(SMALL, batch, ultralytics_assigner(SMALL, "cpu")(*batch), strict=strict)
    v = only(violations, "empty-dtypes")
    assert v.severity == ("error" if strict else "quirk")
    assert "target_labels torch.float32, target_gt_idx torch.float32" in v.message


def test_gt_index_fires_on_indices_into_the_flattened_batch(near) -> None:
    """ultralytics' get_targets offsets target_gt_idx by image * n to gather; returning the
    offset index leaves image 0 right and every other image out of range."""
    batch, out = near
    bad = edited(out)
    n = batch.gt_bboxes.shape[1]
    bad[4] = torch.where(bad[3], bad[4] + torch.arange(3)[:, None] * n, bad[4])
    violations = check(SMALL, batch, bad)
    hits = [v for v in violations if v.check == "gt-index"]
    assert [v.image for v in hits] == [1, 2] and all(v.fails for v in hits)
    assert hits[0].anchors == tuple(out[3][1].nonzero().flatten().tolist())
    a = hits[0].anchors[0]
    want = f"first: image 1, anchor {a} "
    assert want in hits[0].message and f"is not a row of [0, {n})" in hits[0].message


def test_finite_scores_fires_on_float32_zero_over_zero() -> None:
    """Normalising without eps: a GT whose positives all have metric 0 divides 0 by 0."""
    batch = make_batch(SMALL, seed=2, kind="zero-scores", n=4)
    out = edited(ultralytics_assigner(SMALL, "cpu")(*batch))
    out[2][out[3]] = out[2][out[3]] / 0.0  # 0 / 0 on every positive's row
    violations = check(SMALL, batch, out)
    hits = [v for v in violations if v.check == "finite-scores"]
    images = out[3].any(1).nonzero().flatten().tolist()
    assert [v.image for v in hits] == images and all(v.fails for v in hits)
    assert hits[0].anchors == tuple(out[3][images[0]].nonzero().flatten().tolist())
    assert "target_scores column 0 is nan" in hits[0].message
    assert not found(violations) & {"nan-image", "one-gt", "normalised", "background-scores"}


def test_nan_image_is_a_float16_quirk_of_ultralytics() -> None:
    batch = make_batch(SMALL, seed=2, n=6, padding="trailing", dtype=torch.float16)
    out = ultralytics_assigner(SMALL, "cpu")(*batch)
    nan = out[2].isnan().flatten(1).all(1).nonzero().flatten().tolist()
    assert nan  # a padded row in float16: 0 / 0
    violations = check(SMALL, batch, out)
    hits = [v for v in violations if v.check == "nan-image"]
    assert [v.image for v in hits] == nan and {v.severity for v in hits} == {"quirk"}
    assert "float16: eps 1e-09 rounds to 0" in hits[0].message
    assert not found(violations, "error")
    strict = make_strict_assigner(SMALL, "cpu")(*batch)
    assert found(check(SMALL, batch, strict)) <= {"coverage"}


# --------------------------------------------------------------------------- targets
def test_one_gt_fires_on_an_anchor_in_two_gts_score_columns(near) -> None:
    """A conflict that keeps both claimants' scores (CLRerNet#77: the reset cleared one
    column only)."""
    batch, out = near
    image, anchor, gt, other = two_labels(batch, out)
    bad = edited(out)
    bad[2][image, anchor, int(batch.gt_labels[image, other, 0])] = 0.3
    violations = check(SMALL, batch, bad)
    assert found(violations) - {"coverage"} == {"one-gt"}
    v = only(violations, "one-gt")
    assert (v.severity, v.image, v.anchors, v.gts) == ("error", image, (anchor,), (gt,))
    assert f"image {image}, anchor {anchor} (level " in v.message
    assert f"GT row {gt}: 2 non-zero score columns" in v.message


@pytest.mark.parametrize("field", ["box", "label", "column"])
def test_owner_fires_on_targets_from_the_wrong_gt(near, field: str) -> None:
    """A box or a label gathered from another row, or the one-hot written in the GT
    index's column instead of the label's."""
    batch, out = near
    image, anchor, gt, other = two_labels(batch, out)
    bad = edited(out)
    label = int(batch.gt_labels[image, gt, 0])
    if field == "box":
        bad[1][image, anchor] = batch.gt_bboxes[image, other]
        expected = f"(GT row {other}'s)"
    elif field == "label":
        bad[0][image, anchor] = int(batch.gt_labels[image, other, 0])
        expected = f"its label {label}"
    else:
        column = (label + 1) % SMALL.num_classes
        bad[2][image, anchor] = bad[2][image, anchor].roll(1)
        expected = f"score in column {column}, its label {label}"
    violations = check(SMALL, batch, bad)
    assert found(violations) - {"coverage"} == {"owner"}
    v = only(violations, "owner")
    assert (v.severity, v.image, v.anchors, v.gts) == ("error", image, (anchor,), (gt,))
    assert f"first: image {image}, anchor {anchor} " in v.message and expected in v.message


def test_background_scores_fires_on_a_scored_background_row(near) -> None:
    """A positive dropped (by topk2, say) whose score row was left behind."""
    batch, out = near
    bad = edited(out)
    image, anchor = (~out[3]).nonzero()[5].tolist()
    bad[2][image, anchor, 1] = 0.25
    violations = check(SMALL, batch, bad)
    assert found(violations) - {"coverage"} == {"background-scores"}
    v = only(violations, "background-scores")
    assert (v.severity, v.image, v.anchors, v.gts) == ("error", image, (anchor,), ())
    assert "background (fg_mask False) with score 0.25 in column 1" in v.message


def test_fg_score_is_the_quirk_of_zero_metric_positives() -> None:
    """Zero scores: every metric is 0, yet ultralytics' top-k makes positives of them."""
    batch = make_batch(SMALL, seed=2, kind="zero-scores", n=4)
    out = ultralytics_assigner(SMALL, "cpu")(*batch)
    violations = check(SMALL, batch, out)
    hits = [v for v in violations if v.check == "fg-score"]
    images = out[3].any(1).nonzero().flatten().tolist()
    assert [v.image for v in hits] == images and {v.severity for v in hits} == {"quirk"}
    assert hits[0].anchors == tuple(out[3][images[0]].nonzero().flatten().tolist())
    assert "score 0: metric 0 (class score 0" in hits[0].message
    assert not make_strict_assigner(SMALL, "cpu")(*batch)[3].any()  # strict: none


def test_fg_score_leaves_a_zeroed_positive_metric_to_normalised(near) -> None:
    batch, out = near
    bad = edited(out)
    image, anchor = out[3].nonzero()[0].tolist()
    bad[2][image, anchor] = 0
    violations = check(SMALL, batch, bad)
    assert found(violations) - {"coverage"} == {"normalised"}


@pytest.mark.parametrize("bug", ["raw metric", "no max CIoU"])
def test_normalised_fires_on_scores_not_normalised(near, bug: str) -> None:
    """The metric itself as the score (mmyolo-style), or ``align / max_align`` without the
    factor ``max_ciou``: each GT's scores are off by that GT's factor."""
    batch, out = near
    ref = assign(
        SMALL, *batch[:2], *batch[3:], anc_points=batch.anc_points, semantics="strict"
    ).positives
    row = ref.image * batch.gt_bboxes.shape[1] + ref.gt
    top_ciou = torch.zeros(int(row.max()) + 1).scatter_reduce(0, row, ref.ciou, "amax")[row]
    score = ref.align if bug == "raw metric" else ref.score / top_ciou
    bad = edited(out)
    label = bad[0][ref.image, ref.anchor]
    bad[2][ref.image, ref.anchor, label] = score.to(bad[2].dtype)
    violations = check(SMALL, batch, bad)
    assert found(violations) - {"coverage"} == {"normalised"}
    hits = [v for v in violations if v.check == "normalised"]
    change = (score - ref.score).abs() / ref.score
    clearly, at_all = set(ref.image[change > 1e-3].tolist()), set(ref.image[change > 0].tolist())
    assert clearly and clearly <= {v.image for v in hits} <= at_all
    off = change > 0
    first = hits[0]
    a = first.anchors[0]
    assert first.fails and f"first: image {first.image}, anchor {a} " in first.message
    assert re.search(r"score [\d.e-]+, expected [\d.e-]+ \(tolerance", first.message)
    if bug == "no max CIoU":  # a GT whose best CIoU is 1 has nothing to lose
        assert all(g in set(ref.gt[off & (ref.image == first.image)].tolist()) for g in first.gts)


def test_normalised_fires_on_a_wrong_eps_within_a_part_in_a_thousand(near) -> None:
    """eps = 1e-4 instead of 1e-9 in ``max_align + eps``: scores off by 1e-4 / max_align,
    0.02 % to 0.7 % here. The float32 tolerance is a few ulps of the metric (module
    docstring of ``evidence``), so all but the smallest CIoUs' scores are caught."""
    batch, out = near
    bad = make_strict_assigner(dataclasses.replace(SMALL, eps=1e-4), "cpu")(*batch)
    assert torch.equal(bad[3], out[3])  # the same positives, other scores
    fg = out[3]
    change = ((bad[2] - out[2]).abs().sum(-1) / out[2].sum(-1))[fg]
    violations = check(SMALL, batch, bad)
    assert found(violations) - {"coverage"} == {"normalised"}
    flagged = torch.zeros_like(fg)
    for v in violations:
        flagged[v.image, list(v.anchors)] = v.check == "normalised"
    assert bool(flagged[fg][change > 1e-3].all())
    assert bool((flagged[fg] & (change < 1e-3)).any())
    assert int(flagged.sum()) >= 0.8 * int(fg.sum())


# --------------------------------------------------------------------------- geometry
def tiny_gt() -> tuple[TalBatch, tuple[Tensor, ...]]:
    """A 2 x 2 px GT at (30, 30), floored to [22, 22, 38, 38]: candidates 27, 28, 35, 36
    (level 0 at 28 and 36) and 69 (level 1 at 24), none inside the real box. Every anchor
    predicts the GT's box, so all five are positives; row 1 is trailing padding."""
    batch = make(HAND, [([29, 29, 31, 31], 1, 1), ([0, 0, 0, 0], 0, 0)], preds=[29, 29, 31, 31])
    out = make_strict_assigner(HAND, "cpu")(*batch)
    assert out[3][0].nonzero().flatten().tolist() == [27, 28, 35, 36, 69]
    return batch, out


def test_inside_accepts_the_floored_box_and_fires_outside_it() -> None:
    batch, out = tiny_gt()
    assert found(check(HAND, batch, out)) == set()  # outside the box, inside the floored one
    bad = edited(out)  # every anchor one to the right: 28 -> 29 at x = 44, 36 -> 37, 69 -> 70
    for name in range(5):
        bad[name][0] = bad[name][0].roll(1, 0)
    violations = check(HAND, batch, bad)
    v = only(violations, "inside")
    assert (v.severity, v.image, v.anchors, v.gts) == ("error", 0, (29, 37, 70), (0,))
    assert v.message == (
        "3 anchor(s); first: image 0, anchor 29 (level 0, cell (gj, gi) = (3, 5)), GT row 0: "
        "anchor point (44, 28) is not strictly inside the floored box [22, 22, 38, 38] "
        "(box [29, 29, 31, 31])"
    )


@pytest.mark.parametrize("where", ["trailing", "interleaved"])
def test_padded_owner_fires_on_a_padded_row_given_anchor_0(where: str) -> None:
    """PaddleDetection#5710: padded rows' zero boxes, floored around (0, 0), claim anchor 0."""
    rows = [([29, 29, 31, 31], 1, 1), ([0, 0, 0, 0], 0, 0)]
    if where == "interleaved":
        rows.append(([40, 8, 60, 20], 2, 1))
    batch = make(HAND, rows, preds=[29, 29, 31, 31])
    out = make_strict_assigner(HAND, "cpu")(*batch)
    assert not out[3][0, 0]
    bad = edited(out)
    give(bad, batch, 0, 0, 1, 0.0)
    v = only(check(HAND, batch, bad), "padded-owner")
    assert (v.severity, v.image, v.anchors, v.gts) == ("error", 0, (0,), (1,))
    state = "trailing" if where == "trailing" else "before a real row"
    assert v.message == (
        "1 anchor(s); first: image 0, anchor 0 (level 0, cell (gj, gi) = (0, 0)), GT row 1: "
        f"GT row 1 is padding (mask_gt 0, {state})"
    )


def zero_conflict(row0: list[float], mask0: int) -> tuple[TalBatch, tuple[Tensor, ...]]:
    """``GRID`` with topk 3 and zero scores: rows 1 and 2 are the same box over all 16
    anchors and propose the same 3 zero-metric anchors; every CIoU there is 0 (4 px
    predictions far from the centre), so ultralytics' argmax over rows picks row 0. Row 3 is
    trailing padding."""
    rows = [(row0, 0, mask0), ([0, 0, 32, 32], 1, 1), ([0, 0, 32, 32], 1, 1), ([0] * 4, 0, 0)]
    batch = make(GRID, rows, scores=0.0)
    return batch, ultralytics_assigner(GRID, "cpu")(*batch)


@pytest.mark.parametrize("row0", ["padding", "elsewhere"])
def test_row0_tie_is_the_quirk_of_an_all_zero_conflict(row0: str) -> None:
    box, mask = ([0, 0, 0, 0], 0) if row0 == "padding" else ([24, 24, 32, 32], 1)
    batch, out = zero_conflict(box, mask)
    fg = out[3][0].nonzero().flatten().tolist()
    assert len(fg) == 3 and set(out[4][0, fg].tolist()) == {0}
    mine = [a for a in fg if a != 15]  # row 0 = [24, 24, 32, 32] is a candidate at 15 only
    violations = check(GRID, batch, out)
    assert not found(violations, "error"), [str(v) for v in violations]
    v = only(violations, "row0-tie")
    assert (v.severity, v.image, v.anchors, v.gts) == ("quirk", 0, tuple(mine), (0,))
    state = "padding" if row0 == "padding" else "not a candidate here"
    assert f"anchor {mine[0]} (level 0, " in v.message and f"row 0 ({state}) owns it" in v.message
    assert only(check(GRID, batch, out, strict=True), "row0-tie").severity == "error"
    strict = make_strict_assigner(GRID, "cpu")(*batch)
    assert found(check(GRID, batch, strict)) <= {"coverage"}


def test_row0_tie_to_the_last_row_instead_is_a_padded_owner_error() -> None:
    """An argmax that picks the last of equal rows gives the tie to trailing padding."""
    batch, out = zero_conflict([0, 0, 0, 0], 0)
    bad = edited(out)
    fg = bad[3][0].nonzero().flatten()
    for a in fg.tolist():
        give(bad, batch, 0, a, 3, 0.0)
    v = only(check(GRID, batch, bad), "padded-owner")
    assert (v.image, v.anchors, v.gts) == (0, tuple(fg.tolist()), (3,))
    assert "GT row 3 is padding (mask_gt 0, trailing)" in v.message


# --------------------------------------------------------------------------- counts
def conflict() -> TalBatch:
    """``GRID`` with topk 1 (as in test_tal_strict): A and B propose X = 5, C = [6, 6, 26,
    18] proposes only Z = 6 but has the largest CIoU at X, so it wins X too: 2 positives."""
    problem = dataclasses.replace(GRID, topk=1)
    scores = torch.zeros(16, 2)
    scores[5] = torch.tensor([1.0, 0.01])
    scores[6, 1] = 1.0
    preds = torch.cat((problem.anchor_points() - 2, problem.anchor_points() + 2), 1)
    preds[5] = torch.tensor([6.0, 6, 26, 18])
    preds[6] = torch.tensor([8.0, 6, 26, 18])
    rows = [([0, 0, 24, 24], 0, 1), ([2, 2, 22, 22], 0, 1), ([6, 6, 26, 18], 1, 1)]
    return make(problem, rows, scores, preds)


@pytest.mark.parametrize("strict", [False, True])
def test_topk_is_the_quirk_of_a_non_proposer_winning_a_conflict(strict: bool) -> None:
    problem, batch = dataclasses.replace(GRID, topk=1), conflict()
    out = ultralytics_assigner(problem, "cpu")(*batch)
    violations = check(problem, batch, out, strict=strict)
    v = only(violations, "topk")
    assert (v.severity, v.image, v.anchors, v.gts) == (
        "error" if strict else "quirk", 0, (5, 6), (2,)
    )  # fmt: skip
    assert v.message == "1 GT row(s); first: image 0, GT row 2: 2 positives > topk = 1"
    assert found(violations, "error") == ({"topk", "background"} if strict else set())
    ours = make_strict_assigner(problem, "cpu")(*batch)
    assert found(check(problem, batch, ours)) <= {"coverage"}


def test_topk2_equal_to_topk_is_no_second_selection() -> None:
    """topk2 == topk: ultralytics runs no second selection, so a GT that won conflicts it
    never proposed keeps more than topk2 -- the topk quirk, not a topk2 error. The case the
    TAL contract found on the reference: a box covering a 64 px input (its 11 positives)."""
    import json
    from pathlib import Path

    from yolo_diagnostics.tal.contract.cases import batch_of, case_from_data

    data = json.loads((Path(__file__).parent / "tal_topk2_equal_topk.json").read_text())
    _, _, case = case_from_data(data)
    problem, batch = case["problem"], batch_of(case)
    assert problem.topk2 == problem.topk == 10 and not problem.topk2_applies
    out = make_assigner(problem, "cpu")(*batch)
    owned = [int(((out[4][2] == g) & out[3][2]).sum()) for g in range(6)]
    assert owned == [0, 1, 0, 0, 11, 1]
    violations = check(problem, batch, out)
    assert found(violations, "error") == set()
    assert [v.gts for v in violations if v.check == "topk"] == [(4,)]


def test_topk2_fires_when_the_second_selection_is_skipped() -> None:
    """YOLO26's one-to-one head (topk 7, topk2 1) assigned without its topk2."""
    problem = PROBLEMS["one2one"]
    batch = make_batch(problem, seed=5, kind="near-gt", n=5, padding="none")
    assert found(check(problem, batch, make_strict_assigner(problem, "cpu")(*batch))) <= {
        "coverage"
    }
    skipped = dataclasses.replace(problem, topk2=None)
    out = make_strict_assigner(skipped, "cpu")(*batch)
    violations = check(problem, batch, out)
    hits = [v for v in violations if v.check == "topk2"]
    count = torch.zeros(2, 5, dtype=torch.long)
    for image, anchor in out[3].nonzero().tolist():
        count[image, out[4][image, anchor]] += 1
    assert [(v.image, v.gts) for v in hits] == [
        (i, tuple((count[i] > 1).nonzero().flatten().tolist()))
        for i in range(2)
        if (count[i] > 1).any()
    ]
    v = hits[0]
    g = v.gts[0]
    assert v.fails and v.anchors == tuple(
        a for a in out[3][v.image].nonzero().flatten().tolist() if out[4][v.image, a] in v.gts
    )
    assert (
        f"first: image {v.image}, GT row {g}: {int(count[v.image, g])} positives > topk2 = 1"
        in (v.message)
    )


def test_total_fires_when_every_candidate_is_a_positive() -> None:
    """fg_mask from the candidate mask instead of the top-k: 84 anchors for one GT."""
    batch = make(HAND, [([0, 0, 64, 64], 2, 1)], preds=[8, 8, 56, 56])
    out = edited(make_strict_assigner(HAND, "cpu")(*batch))
    for a in range(HAND.num_anchors):
        give(out, batch, 0, a, 0, float(out[2][0, :, 2].max()))
    violations = check(HAND, batch, out)
    v = only(violations, "total")
    assert (v.severity, v.image, v.anchors) == ("error", 0, tuple(range(84)))
    assert v.message == "image 0: 84 foreground anchors > topk x valid GTs = 10 x 1 = 10"
    assert only(violations, "topk").gts == (0,)


# --------------------------------------------------------------------------- conventions
def test_background_is_the_quirk_of_row_0s_label_and_box(near) -> None:
    batch, _ = near
    out = ultralytics_assigner(SMALL, "cpu")(*batch)
    hits = [v for v in check(SMALL, batch, out) if v.check == "background"]
    assert [v.image for v in hits] == [0, 1, 2] and {v.severity for v in hits} == {"quirk"}
    assert hits[0].anchors == tuple((~out[3][0]).nonzero().flatten().tolist())
    assert "target_gt_idx 0: GT row 0's label and box (ultralytics' convention)" in hits[0].message


def test_background_names_another_convention(near) -> None:
    """Background labelled -1 (the loss's ignore index), box and index as strict."""
    batch, out = near
    bad = edited(out)
    bad[0][~bad[3]] = -1
    v = [v for v in check(SMALL, batch, bad) if v.check == "background"][0]
    assert "label -1, box [0, 0, 0, 0], target_gt_idx -1" in v.message
    assert "ultralytics" not in v.message


def test_coverage_reports_gts_with_no_positive() -> None:
    """Row 1 repeats row 0 (every conflict goes to row 0), row 2 lies outside the input."""
    rows = [([16, 16, 48, 48], 0, 1), ([16, 16, 48, 48], 1, 1), ([-40, -40, -20, -20], 2, 1)]
    batch = make(HAND, rows, preds=[16, 16, 48, 48])
    for factory in (ultralytics_assigner, make_strict_assigner):
        v = only(check(HAND, batch, factory(HAND, "cpu")(*batch)), "coverage")
        assert (v.severity, v.image, v.anchors, v.gts) == ("info", 0, (), (1, 2))
        assert v.message == (
            "2 valid GT row(s) without a positive; first: image 0, GT row 1: no positive, "
            "one of 3 valid GT rows here"
        )


# --------------------------------------------------------------------------- the registry
def test_registry_is_the_docstring_table() -> None:
    doc = invariants_module.__doc__ or ""
    table = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in doc.splitlines()
        if line.startswith("| ") and not line.startswith("| id ")
    ]
    assert table == [[v.id, v.severity, v.meaning] for v in TAL_INVARIANTS.values()]
    multi = [k for k, v in TAL_INVARIANTS.items() if not v.single_call]
    assert multi == ["reference", "batch", "permutation", "padding", "dtype", "device", "scale"]


def test_every_single_call_check_has_a_test_named_after_it() -> None:
    names = [name for name in globals() if name.startswith("test_")]
    for id, inv in TAL_INVARIANTS.items():
        if inv.single_call:
            prefix = "test_" + id.replace("-", "_")
            assert any(name.startswith(prefix) for name in names), id


def test_strict_escalates_every_quirk_and_nothing_else() -> None:
    batch = make_batch(SMALL, seed=2, kind="zero-scores", n=4)
    out = ultralytics_assigner(SMALL, "cpu")(*batch)
    loose, strict = check(SMALL, batch, out), check(SMALL, batch, out, strict=True)
    assert [(v.check, v.message) for v in loose] == [(v.check, v.message) for v in strict]
    for a, b in zip(loose, strict):
        assert b.severity == ("error" if a.severity == "quirk" else a.severity)
    assert {"fg-score", "background"} <= found(strict, "error")


def test_violation_reads_like_the_anchor_familys() -> None:
    v = TalViolation("inside", "error", "1 anchor(s); first: image 0", 0, (3,), (1,))
    assert str(v) == "[error] inside: 1 anchor(s); first: image 0" and v.fails
    assert not dataclasses.replace(v, severity="quirk").fails


def test_check_refuses_invalid_inputs(near) -> None:
    batch, out = near
    scores = batch.pd_scores.clone()
    scores[1, 7, 2] = float("nan")
    with pytest.raises(DiagnosticsError, match="pd_scores image 1, anchor 7, class 2"):
        check(SMALL, batch._replace(pd_scores=scores), out)
    with pytest.raises(DiagnosticsError, match="inputs: expected the six tensors"):
        check(SMALL, batch[:5], out)  # type: ignore[arg-type]
