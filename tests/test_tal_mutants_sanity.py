"""The TAL mutation catalog is sound, checked without the contract.

`tal_mutants.clean` equals the reference bit for bit on fixed `corpus.make_batch` inputs
(every kind, the three floors, float32, float16 and AMP); every mutant differs from `clean`
on the fixed inputs listed in `SHOWN` (so each is a live bug, and the table says which input
exposes it) and nowhere outside those `POSSIBLE` for it (a no-GT bug shows only without GT
rows, topk2 only where a second selection runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from tal_mutants import BUGS, MUTANTS, clean

from yolo_diagnostics.tal import TalProblem, make_assigner
from yolo_diagnostics.tal.corpus import KINDS, TalBatch, make_batch

PROBLEMS: dict[str, TalProblem] = {
    "p5": TalProblem.preset("ultralytics", num_classes=4, batch_size=2, img_size=(96, 128)),
    "p6": TalProblem.preset("ultralytics-p6", num_classes=4, batch_size=2, img_size=(128, 128)),
    "one2one": TalProblem.preset("one2one", num_classes=3, batch_size=2, img_size=(64, 96)),
    # 1 344 anchor points: enough that torch.topk of an all-zero row lists anchor 0
    "p5-256": TalProblem.preset("ultralytics", num_classes=4, batch_size=2, img_size=(256, 256)),
    # the floor's other versions, for clean alone
    "8.3": TalProblem.preset("ultralytics-8.3", num_classes=3, batch_size=2, img_size=(64, 96)),
    "pre25912": TalProblem.preset(
        "ultralytics-pre25912", num_classes=3, batch_size=2, img_size=(64, 96)
    ),
}


def _cases() -> dict[str, tuple[TalProblem, TalBatch]]:
    cases = {}
    for name in ("p5", "p6", "one2one"):
        problem = PROBLEMS[name]
        for kind in KINDS:  # six GT rows per image, trailing padding as the loss pads
            cases[f"{name}/{kind}"] = (problem, make_batch(problem, seed=0, kind=kind, n=6))
        cases[f"{name}/empty"] = (problem, make_batch(problem, seed=0, n=0))
    p5 = PROBLEMS["p5"]
    # padded rows between real ones, half of them holding a stale box
    cases["p5/interleaved"] = (p5, make_batch(p5, seed=0, kind="large", n=6, padding="interleaved"))
    # no padding, boxes larger than the input: every GT a candidate almost everywhere
    cases["p5/crowded"] = (p5, make_batch(p5, seed=0, kind="large", n=6, padding="none"))
    cases["p5/float16"] = (p5, make_batch(p5, seed=0, kind="near-gt", n=6, dtype=torch.float16))
    cases["p5/amp"] = (
        p5,
        make_batch(p5, seed=0, kind="near-gt", n=6, score_dtype=torch.float16),
    )
    cases["p5-256/random"] = (PROBLEMS["p5-256"], make_batch(PROBLEMS["p5-256"], seed=0, n=6))
    return cases


CASES = _cases()
MUTANT_CASES = tuple(c for c in CASES if c.split("/")[0] in ("p5", "p6", "one2one", "p5-256"))
CLEAN_CASES = {
    **CASES,
    **{
        f"{name}/{kind}": (PROBLEMS[name], make_batch(PROBLEMS[name], seed=1, kind=kind, n=5))
        for name in ("8.3", "pre25912")
        for kind in ("small", "edges", "random")
    },
}


def cases(*patterns: str) -> frozenset[str]:
    """The mutant cases whose name matches one of ``patterns`` (``"p5/*"``, ``"*/edges"``)."""

    def match(case: str, pattern: str) -> bool:
        problem, kind = case.split("/")
        want_problem, want_kind = pattern.split("/")
        return want_problem in ("*", problem) and want_kind in ("*", kind)

    return frozenset(c for c in MUTANT_CASES if any(match(c, p) for p in patterns))


EMPTY = cases("*/empty")
NON_EMPTY = frozenset(MUTANT_CASES) - EMPTY
ONE2ONE = cases("one2one/*") - EMPTY - cases("*/zero-scores")  # zero scores: no positive

# mutant -> the fixed inputs that show it (a sample of where it does, with the reason)
SHOWN: dict[str, frozenset[str]] = {
    # sides in [8, 16) floored by clean only: the corpus' boxes of 8 px and up
    "floor-threshold-stride0": cases("p5/random", "p6/random", "p6/edges", "*/identical"),
    "no-floor": cases("*/random", "*/near-gt", "*/identical", "one2one/small"),
    # a GT whose top-k lies elsewhere has the largest CIoU at an anchor two others claim
    "conflict-among-claimants": cases("p5/crowded"),
    # large and edge boxes overlap: contested anchors, lost by a lower row
    "conflict-keeps-losers": cases("*/large", "*/edges"),
    # all-zero trailing rows: topk of 1 344 zeros lists anchor 0, inside the floored zero
    # box (PaddleDetection#5710's symptom); stale boxes of interleaved rows claim anchors
    "padding-unmasked": cases("p5-256/random", "p5/interleaved"),
    "empty-wrong-arity": EMPTY,
    "empty-float-fg": EMPTY,
    "metric-sum": NON_EMPTY,  # zero-score images too: ciou**beta alone is a metric
    "iou-not-ciou": NON_EMPTY - cases("*/identical", "*/zero-scores"),
    "iou-reads-xywh": NON_EMPTY - cases("*/zero-scores"),
    "winner-value-not-index": cases("*/large", "*/edges"),
    "background-label-unset": NON_EMPTY,  # background: 0, not row 0's label (3, 2 or 1)
    "normalise-pre-conflict": cases("*/large", "p6/edges", "one2one/edges"),
    "inside-closed": cases("*/small", "*/edges"),  # edges through anchor centres
    "ciou-unclamped": cases("*/random", "*/near-gt", "*/identical", "*/small", "*/edges"),
    "gt-idx-batch-offset": NON_EMPTY,  # image 1's background rows say row 6
    "no-topk2": ONE2ONE,
    "per-image-drop-last": NON_EMPTY,
}

# mutant -> the fixed inputs it can show on at all (every non-empty one when not listed)
POSSIBLE: dict[str, frozenset[str]] = {
    "empty-wrong-arity": EMPTY,
    "empty-float-fg": EMPTY,
    "no-topk2": ONE2ONE,
}


def _same(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> bool:
    """The same five outputs: dtypes, shapes and values (NaN equal to NaN)."""
    if not isinstance(b, (tuple, list)) or len(a) != len(b):
        return False
    return all(
        x.dtype == y.dtype
        and x.shape == y.shape
        and x.device == y.device
        and torch.equal(
            torch.nan_to_num(x.double(), nan=-7.0), torch.nan_to_num(y.double(), nan=-7.0)
        )
        for x, y in zip(a, b)
    )


def _run(factory, case: str) -> tuple[torch.Tensor, ...]:
    problem, batch = CLEAN_CASES[case]
    return factory(problem, "cpu")(*(t.clone() for t in batch))


def exposed(mutant: str) -> set[str]:
    """The mutant cases where the mutant's output is not clean's (or it raises)."""
    found = set()
    for case in MUTANT_CASES:
        try:
            output = _run(MUTANTS[mutant], case)
        except (RuntimeError, IndexError, ValueError):
            found.add(case)
            continue
        if not _same(_run(clean, case), output):
            found.add(case)
    return found


@pytest.mark.parametrize("case", CLEAN_CASES)
def test_clean_equals_reference_bit_for_bit(case: str) -> None:
    expected, actual = _run(make_assigner, case), _run(clean, case)
    assert _same(expected, actual), [
        name
        for name, x, y in zip(("labels", "bboxes", "scores", "fg", "gt_idx"), expected, actual)
        if not _same((x,), (y,))
    ]


def test_the_cases_hold_what_they_are_for() -> None:
    """The edges the mutants need are in the fixed inputs, not hoped for."""
    fg = {case: int(_run(clean, case)[3].sum()) for case in MUTANT_CASES}
    scored = NON_EMPTY - cases("*/zero-scores")  # all-zero metrics: positives by tie order
    assert all(fg[c] > 0 for c in scored) and all(fg[c] == 0 for c in EMPTY)
    # background rows carry row 0's label: one image of every case has a label other than 0
    assert all((CASES[c][1].gt_labels[:, 0] != 0).any() for c in NON_EMPTY)
    problem, batch = CASES["p5-256/random"]
    assert (batch.mask_gt == 0).any() and problem.num_anchors == 1344
    _, batch = CASES["p5/interleaved"]
    stale = (batch.mask_gt[..., 0] == 0) & (batch.gt_bboxes.abs().sum(-1) > 0)
    assert stale.any()
    assert CASES["p5/float16"][1].pd_scores.dtype == torch.float16
    assert CASES["p5/amp"][1].gt_bboxes.dtype == torch.float32


@pytest.mark.parametrize("mutant", MUTANTS)
def test_mutant_differs_from_clean_where_expected(mutant: str) -> None:
    found = exposed(mutant)
    missing = SHOWN[mutant] - found
    assert not missing, f"{mutant} equals clean on {sorted(missing)}"
    outside = found - POSSIBLE.get(mutant, NON_EMPTY)
    assert not outside, f"{mutant} differs on {sorted(outside)}, where it cannot apply"


def test_padded_rows_claim_anchor_0() -> None:
    """PaddleDetection#5710's symptom, exactly: the all-zero trailing rows floor to a 16 px box
    around (0, 0) that holds anchor 0, each proposes it, and the conflict among them (CIoU 0
    everywhere) hands it to row 0 -- a real GT, no candidate there -- with a zero score."""
    problem, batch = CASES["p5-256/random"]
    good, bad = _run(clean, "p5-256/random"), _run(MUTANTS["padding-unmasked"], "p5-256/random")
    assert batch.mask_gt[:, -1, 0].tolist() == [0.0, 0.0]  # both images end in padding
    assert problem.anchor_points()[0].tolist() == [4.0, 4.0]
    changed = (good[3] != bad[3]) | (good[4] != bad[4])
    assert changed.nonzero().tolist() == [[0, 0], [1, 0]]
    assert not good[3][:, 0].any() and bad[3][:, 0].all()
    assert bad[4][:, 0].tolist() == [0, 0]
    assert torch.equal(bad[1][:, 0], batch.gt_bboxes[:, 0])
    assert not bad[2][:, 0].any()


def test_catalog_is_complete() -> None:
    assert len(MUTANTS) >= 10
    assert set(MUTANTS) == set(BUGS) == set(SHOWN)
    assert all(SHOWN[m] for m in MUTANTS)  # each one shown by some fixed input


def test_clean_does_not_import_the_reference() -> None:
    source = Path(__file__).with_name("tal_mutants.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert imported, "no imports found: the check would pass vacuously"
    assert not any("reference" in name or name.endswith(".tal") for name in imported), imported
