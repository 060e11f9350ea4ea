"""The TAL contract kills every mutant of the TAL catalog within the ci profile; the clean
statement and ultralytics' own assigner pass it.

Each mutant runs ``check_tal_assigner(mutant, profile="ci", fail_fast=True)``, the reference
(ultralytics semantics) as the comparison. The mutation score table (mutant, killing property
and check, examples needed, the shrunk case's images x GT rows, seconds) is printed at the end
of the run (``conftest.pytest_terminal_summary``).
"""

from __future__ import annotations

import time

import pytest
from conftest import TAL_SCORE
from tal_mutants import BUGS, MUTANTS, clean

from yolo_diagnostics.tal.contract import check_tal_assigner

# The checks allowed to be the first to kill each mutant (the contract runs its properties
# in a fixed order -- invariants, reference, scale, batch, ... -- and stops at the first
# failure). Measured in the ci profile; the sets name the checks the bug can trip first.
KILLERS: dict[str, set[str]] = {
    # zero-metric candidates are ties compare accepts: only a floored candidate with a
    # non-zero metric tells, which the small cases do not draw (see MOST_ROWS)
    "floor-threshold-stride0": {"reference", "scale"},
    "no-floor": {"reference", "scale"},
    "conflict-among-claimants": {"reference", "scale"},
    "conflict-keeps-losers": {"normalised", "owner", "reference"},
    "padding-unmasked": {"padded-owner", "row0-tie", "reference"},
    # the small cases of the ci profile draw no n == 0 batch; the first scale batch does
    "empty-wrong-arity": {"shapes", "scale"},
    "empty-float-fg": {"shapes", "scale"},
    "metric-sum": {"normalised", "fg-score", "reference"},
    "iou-not-ciou": {"normalised", "reference"},
    "iou-reads-xywh": {"normalised", "inside", "reference"},
    # a CIoU of exactly 1 (a prediction equal to its GT) cast to row 1 of a one-row table
    "winner-value-not-index": {"crash", "inside", "reference"},
    "background-label-unset": {"reference"},
    "normalise-pre-conflict": {"normalised", "reference"},
    "inside-closed": {"inside", "reference"},
    "ciou-unclamped": {"normalised", "reference"},
    "gt-idx-batch-offset": {"gt-index"},
    "no-topk2": {"topk2"},
    "per-image-drop-last": {"reference", "batch"},
}

# The most GT rows (images x rows per image) the shrunk case may keep. Small cases shrink to
# a row or two; a scale case keeps its 16 images (the fewest `large_tal_problems` draws), one
# row each. conflict-among-claimants needs a GT that proposes an anchor and a larger one that
# does not; the small cases find it (2 x 8 rows) when the catalog runs alone, the scale
# property first (16 x 23) in the whole suite -- Hypothesis also draws the literals of the
# modules loaded, so the same seed finds other cases -- and no pass cuts a TAL scale case's
# rows further (the anchor family's `contract.reduce` has no TAL counterpart yet).
MOST_ROWS: dict[str, int] = {
    "floor-threshold-stride0": 16,
    "conflict-among-claimants": 16 * 32,
    "empty-wrong-arity": 0,
    "empty-float-fg": 0,
}
DEFAULT_ROWS = 4


def test_catalog_is_complete() -> None:
    assert set(KILLERS) == set(MUTANTS) == set(BUGS) and len(MUTANTS) >= 10
    assert set(MOST_ROWS) <= set(MUTANTS)
    for name, factory in MUTANTS.items():
        assert factory.__doc__ == BUGS[name] and len(BUGS[name]) > 60


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_is_killed(name: str, record_property) -> None:
    start = time.perf_counter()
    result = check_tal_assigner(MUTANTS[name], profile="ci", fail_fast=True)
    seconds = time.perf_counter() - start
    assert not result.passed, f"{name} survived the TAL contract"
    (failure,) = result.failures
    needed = sum(o.examples for o in result.outcomes[:-1]) + failure.examples_to_fail
    images, rows = failure.example["gt_bboxes"]["shape"][:2]
    size = f"{images}x{rows}"
    record_property(TAL_SCORE, (name, failure.property, failure.check, needed, size, seconds))
    assert failure.check in KILLERS[name], failure.message
    most = MOST_ROWS.get(name, DEFAULT_ROWS)
    assert images * rows <= most, f"{name}: the shrunk case kept {images} x {rows} GT rows"


@pytest.mark.parametrize(
    "factory",
    [clean, "yolo_diagnostics.adapters.ultralytics:make_assigner"],
    ids=["clean", "ultralytics"],
)
def test_clean_code_passes(factory) -> None:
    if isinstance(factory, str):
        pytest.importorskip("ultralytics", reason="ultralytics is not installed")
    result = check_tal_assigner(factory, profile="ci")
    assert result.passed, [f"{f.property}/{f.check}: {f.message}" for f in result.failures]
    status = {o.property: o.status for o in result.outcomes}
    assert status.pop("device") == "skipped"  # no second device on a CPU run
    assert set(status.values()) == {"passed"}, status
    assert sum(o.not_applicable for o in result.outcomes) == 0
