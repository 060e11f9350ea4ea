"""The reference TAL (``semantics="ultralytics"``) equals ultralytics 8.4.190's
``TaskAlignedAssigner`` bit for bit, and its provenance describes its own output.

The corpus: 6 problems (P5, P6, YOLO26's one-to-one head, TOOD's knobs, topk 1, topk2 2) x
7 kinds of batch (random, near-gt, identical, zero-scores, small, edges, large) x 3 paddings
(trailing, interleaved, none; one or two empty images) x 3 dtype modes (float32, float16,
AMP's float16 scores with float32 boxes) x 2 seeds = 756 batches, all five outputs compared
by their bits (NaN where ultralytics puts NaN). Everything runs on the CPU.
"""

from __future__ import annotations

import importlib.util
import itertools
from types import ModuleType

import pytest
import torch
from torch import Tensor

from yolo_diagnostics.errors import DiagnosticsError
from yolo_diagnostics.tal import TalProblem, assign, make_assigner, make_strict_assigner
from yolo_diagnostics.tal.corpus import KINDS, PADDINGS, TalBatch, make_batch

PROBLEMS = {
    "p5": TalProblem.preset("ultralytics", num_classes=5, batch_size=3, img_size=(128, 160)),
    "p6": TalProblem.preset("ultralytics-p6", num_classes=4, batch_size=2, img_size=(192, 256)),
    "one2one": TalProblem.preset("one2one", num_classes=3, batch_size=2, img_size=(128, 128)),
    "tood": TalProblem.preset("tood", num_classes=3, batch_size=2, img_size=(96, 128)),
    "topk1": TalProblem.preset(
        "ultralytics", topk=1, num_classes=3, batch_size=2, img_size=(96, 128)
    ),
    "topk2-2": TalProblem.preset(
        "ultralytics", topk2=2, num_classes=3, batch_size=2, img_size=(96, 128)
    ),
}
DTYPES = {  # (boxes, labels, mask, anchors), scores
    "float32": (torch.float32, torch.float32),
    "float16": (torch.float16, torch.float16),
    "amp": (torch.float32, torch.float16),
}


def ultralytics_adapter() -> ModuleType:
    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip("ultralytics is not installed (pip install --no-deps ultralytics==8.4.190)")
    import yolo_diagnostics.adapters.ultralytics as adapter

    return adapter


def same_bits(expected: Tensor, actual: Tensor) -> bool:
    """Equal dtype, shape and values; NaN equals NaN (and only NaN)."""
    if expected.dtype != actual.dtype or expected.shape != actual.shape:
        return False
    if not expected.dtype.is_floating_point:
        return torch.equal(expected, actual)
    nan = expected.isnan()
    return torch.equal(nan, actual.isnan()) and torch.equal(expected[~nan], actual[~nan])


def run_reference(problem: TalProblem, batch: TalBatch, semantics: str = "ultralytics"):  # noqa: ANN201
    return assign(
        problem,
        batch.pd_scores,
        batch.pd_bboxes,
        batch.gt_labels,
        batch.gt_bboxes,
        batch.mask_gt,
        anc_points=batch.anc_points,
        semantics=semantics,  # type: ignore[arg-type]
    )


NAMES = ("target_labels", "target_bboxes", "target_scores", "fg_mask", "target_gt_idx")


@pytest.mark.parametrize("mode", DTYPES)
@pytest.mark.parametrize("name", PROBLEMS)
def test_reference_equals_ultralytics_bit_for_bit(name: str, mode: str) -> None:
    adapter = ultralytics_adapter()
    problem = PROBLEMS[name]
    theirs = adapter.make_assigner(problem, "cpu")
    dtype, score_dtype = DTYPES[mode]
    positives = nan_images = 0
    for kind, padding, seed in itertools.product(KINDS, PADDINGS, range(2)):
        batch = make_batch(
            problem, seed=seed, kind=kind, n=6, padding=padding, empty_images=seed,
            dtype=dtype, score_dtype=score_dtype,
        )  # fmt: skip
        expected = theirs(*batch)
        actual = run_reference(problem, batch).outputs
        for field, e, a in zip(NAMES, expected, actual):
            assert same_bits(e, a), f"{kind}/{padding}/seed {seed}: {field} differs"
        positives += int(expected[3].sum())
        nan_images += int(expected[2].isnan().flatten(1).any(1).sum())
    assert positives > 100  # the corpus assigns, it does not only test background
    if mode == "float16":  # ultralytics' float16 0/0: every image with a padded row is NaN
        assert nan_images > 0
    else:
        assert nan_images == 0


def test_the_factory_equals_assign_and_moves_inputs_to_its_device() -> None:
    problem = PROBLEMS["p5"]
    batch = make_batch(problem, seed=3, kind="near-gt", n=7, padding="interleaved")
    outputs = make_assigner(problem, torch.device("cpu"))(*batch)
    reference = run_reference(problem, batch)
    assert all(same_bits(e, a) for e, a in zip(reference.outputs, outputs))
    strict = make_strict_assigner(problem, "cpu")(*batch)
    assert all(
        same_bits(e, a) for e, a in zip(run_reference(problem, batch, "strict").outputs, strict)
    )


def test_no_gt_rows_returns_ultralytics_early_output_with_its_dtype_quirk() -> None:
    adapter = ultralytics_adapter()
    problem = PROBLEMS["p5"]
    batch = make_batch(problem, seed=0, n=0, dtype=torch.float16, score_dtype=torch.float16)
    expected = adapter.make_assigner(problem, "cpu")(*batch)
    actual = run_reference(problem, batch)
    for e, a in zip(expected, actual.outputs):
        assert same_bits(e, a)
    labels, _, _, fg, gt_idx = actual.outputs
    assert labels.dtype == gt_idx.dtype == torch.float16  # not int64: the quirk
    assert bool((labels == problem.num_classes).all()) and not fg.any()
    assert actual.decisions is None and len(actual.positives.image) == 0
    strict = run_reference(problem, batch, "strict").outputs
    assert strict[0].dtype == strict[4].dtype == torch.int64
    assert bool((strict[4] == -1).all()) and strict[2].dtype == torch.float16


def test_fewer_anchor_points_than_topk_raises_like_ultralytics() -> None:
    """16 x 16 at stride 8 has 4 anchor points; topk is 10."""
    adapter = ultralytics_adapter()
    problem = TalProblem(strides=(8,), img_size=(16, 16), num_classes=2)
    batch = make_batch(problem, seed=0, n=2, padding="none")
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        adapter.make_assigner(problem, "cpu")(*batch)
    with pytest.raises(DiagnosticsError, match=r"TalProblem\.topk: 10 > 4 anchor points"):
        run_reference(problem, batch)
    strict = run_reference(problem, batch, "strict")  # min(topk, na)
    assert strict.fg_mask.shape == (1, 4)


def test_each_image_alone_gives_the_batch_rows() -> None:
    """What ultralytics' out-of-memory retry (#25990) relies on."""
    problem = PROBLEMS["p6"]
    batch = make_batch(problem, seed=5, kind="near-gt", n=9, padding="interleaved")
    whole = run_reference(problem, batch).outputs
    single = TalProblem.preset("ultralytics-p6", num_classes=4, img_size=(192, 256))
    for i in range(problem.batch_size):
        one = TalBatch(*(t if t.dim() == 2 else t[i : i + 1] for t in batch))
        for e, a in zip(whole, run_reference(single, one).outputs):
            assert same_bits(e[i : i + 1], a)


@pytest.mark.parametrize("semantics", ["ultralytics", "strict"])
@pytest.mark.parametrize("kind", KINDS)
def test_provenance_describes_the_output(kind: str, semantics: str) -> None:
    problem = PROBLEMS["one2one" if kind == "near-gt" else "p5"]
    batch = make_batch(problem, seed=1, kind=kind, n=8, padding="interleaved", empty_images=1)
    result = run_reference(problem, batch, semantics)
    pos, cand = result.positives, result.candidates
    labels, boxes, scores, fg, gt_idx = result.outputs
    assert len(pos.image) == int(fg.sum())
    assert bool(fg[pos.image, pos.anchor].all())
    assert torch.equal(gt_idx[pos.image, pos.anchor], pos.gt)
    label = batch.gt_labels[pos.image, pos.gt, 0].long()
    assert torch.equal(labels[pos.image, pos.anchor], label)
    assert torch.equal(scores[pos.image, pos.anchor, label], pos.score)
    assert torch.equal(boxes[pos.image, pos.anchor], batch.gt_bboxes[pos.image, pos.gt])
    # ranks: inside the top-k, and -1 only for an anchor won in a conflict
    assert bool((pos.rank < problem.topk).all())
    assert bool((pos.won_conflict | (pos.rank >= 0)).all())
    assert bool(((pos.proposers > 1) == pos.won_conflict).all())
    # a positive's metric and CIoU are those of its candidate pair
    n, na = batch.gt_bboxes.shape[1], problem.num_anchors
    key = (cand.image * n + cand.gt) * na + cand.anchor
    where = torch.searchsorted(key, (pos.image * n + pos.gt) * na + pos.anchor).clamp(
        max=len(key) - 1
    )
    found = key[where] == (pos.image * n + pos.gt) * na + pos.anchor
    assert torch.equal(pos.align[found], cand.align[where[found]])
    assert torch.equal(pos.ciou[found], cand.ciou[where[found]])
    assert bool((pos.align[~found] == 0).all())  # a non-candidate winner: metric 0
    if semantics == "strict":
        assert bool((pos.align > 0).all()) and bool(found.all())
        assert bool((pos.rank >= 0).all())  # strict winners are proposers
    # a tie in a positive's own decisions leaves its anchor unsettled (others may too)
    flagged = pos.topk_tie | pos.conflict_tie | pos.topk2_tie
    assert not result.decisions.settled[pos.image, pos.anchor][flagged].any()


def test_zero_scores_give_zero_metric_positives_only_under_ultralytics() -> None:
    problem = PROBLEMS["p5"]
    batch = make_batch(problem, seed=2, kind="zero-scores", n=5, padding="trailing")
    ours = run_reference(problem, batch)
    assert len(ours.positives.image) > 0
    assert bool((ours.positives.align == 0).all()) and bool((ours.target_scores == 0).all())
    assert bool(ours.positives.topk_tie.all())  # chosen among zeros: every one a tie
    strict = run_reference(problem, batch, "strict")
    assert not strict.fg_mask.any() and bool((strict.target_labels == problem.num_classes).all())


def test_training_scale_batch_is_bit_exact() -> None:
    """Batch 16 at 640 x 640 (8400 anchor points), 80 classes, up to 50 GTs per image."""
    adapter = ultralytics_adapter()
    problem = TalProblem.preset("ultralytics", batch_size=16)
    batch = make_batch(problem, seed=50, kind="near-gt", n=50, padding="trailing")
    expected = adapter.make_assigner(problem, "cpu")(*batch)
    actual = make_assigner(problem, "cpu")(*batch)
    for field, e, a in zip(NAMES, expected, actual):
        assert same_bits(e, a), field
    assert int(actual[3].sum()) > 1000


@pytest.mark.parametrize("kind", ["random", "identical", "small", "large"])
def test_on_the_device_both_agree_with_the_cpu_reference(device: str, kind: str) -> None:
    """On CUDA, torch.topk orders equal metrics its own way and atan/pow differ by ulps:
    compare accepts those tie-breaks and score differences, nothing else. (On the CPU the
    same calls are bit-exact.)"""
    from yolo_diagnostics.tal import compare

    adapter = ultralytics_adapter()
    problem = PROBLEMS["p6"]
    batch = make_batch(problem, seed=9, kind=kind, n=8, padding="interleaved")
    reference = run_reference(problem, batch)
    for factory in (make_assigner, adapter.make_assigner):
        outputs = factory(problem, device)(*(t.to(device) for t in batch))
        assert all(t.device == torch.device(device) for t in outputs)
        exact = torch.device(device).type == "cpu"
        diff = compare(reference, outputs, **({"score_rtol": 0, "score_atol": 0} if exact else {}))
        assert diff.equal, diff.summary()
