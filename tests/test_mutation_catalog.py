"""The contract kills every mutant of the catalog within the ci profile; clean code passes.

The mutation score table (mutant, killing property and check, examples needed, seconds) is
printed at the end of the run.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from conftest import SCORE
from mutants import BUGS, MUTANTS, RULE_OF_BUG, clean

from yolo_diagnostics import check_assigner
from yolo_diagnostics.reference import make_assigner

# The checks allowed to be the first to kill each mutant (the contract runs its properties
# in a fixed order and stops at the first failure).
KILLERS: dict[str, set[str]] = {
    "clamp-out-of-place": {"geometry"},
    "clamp-off-by-one": {"bounds"},
    "gain-order": {"ratio", "geometry"},
    "gain-height-only": {"ratio", "geometry"},
    "anchors-in-pixels": {"ratio", "geometry"},
    "levels-hardcoded-3": {"shapes"},
    "na-is-nl": {"crash", "shapes"},
    "ratio-le": {"ratio"},
    "ratio-one-way": {"ratio"},
    "frac-le": {"neighbours", "offset-range"},
    "no-border-test": {"reference", "duplicates"},  # its far neighbour clamps onto the centre
    "wh-swapped": {"geometry"},
    "image-class-swapped": {"bounds", "geometry"},
    "round-not-trunc": {"neighbours", "offset-range", "geometry", "ratio"},  # centre cell empty
    "offsets-flipped": {"neighbours", "offset-range"},
    "g-one": {"offset-range", "neighbours"},
    "empty-crash": {"crash"},
    "empty-hardcoded-cuda": {"crash"},
    "inverse-square-gain": {"reference", "neighbours", "duplicates"},
    "anchor-index-interleaved": {"ratio", "geometry"},
    "half-precision": {"geometry", "ratio", "neighbours"},
    # at scale, or on part of the input space only
    "chunk-drop-last": {"scale"},
    "per-image-cap": {"scale"},
    "class-uint8": {"reference", "scale"},
    "cell-index-int16": {"bounds", "geometry", "scale"},
    "level-buffer-cap": {"scale"},
    # under their own rules
    "v4-far-side-ge": {"neighbours"},
    "v4-far-border-n": {"duplicates"},
    "v4-with-v5-test": {"duplicates"},
    "five-positive-half-offsets": {"neighbours", "duplicates"},
    "five-positive-g-half": {"neighbours", "duplicates"},
    "centre-with-neighbours": {"neighbours", "offset-range", "duplicates"},
}

# The most target rows the shrunk example of a scale-only bug may keep: the fewest that
# show it (4 096 + 1, 300 + 1, one row of class 256, a level past 16 384 rows) and a margin;
# without `contract.reduce` the class-uint8 case kept 22 rows.
# Every other mutant's minimal example is an edge-biased one of at most 12 rows.
MOST_ROWS: dict[str, int] = {
    "chunk-drop-last": 4096 + 24,
    "per-image-cap": 300 + 24,
    "class-uint8": 12,
    "level-buffer-cap": 6000,
}

# empty-crash reproduces yolov5 #609, whose `.T` on a 3-D tensor torch now warns about
pytestmark = pytest.mark.filterwarnings("ignore:The use of `x.T`:UserWarning")


def test_catalog_is_complete() -> None:
    assert set(KILLERS) == set(MUTANTS) == set(BUGS) and len(MUTANTS) >= 15


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_is_killed(name: str, record_property) -> None:
    start = time.perf_counter()
    rule = RULE_OF_BUG.get(name, "yolov5")
    result = check_assigner(MUTANTS[name], fail_fast=True, profile="ci", rule=rule)
    seconds = time.perf_counter() - start
    assert not result.passed, f"{name} survived the contract"
    (failure,) = result.failures
    needed = sum(o.examples for o in result.outcomes[:-1]) + failure.examples_to_fail
    rows = len(failure.example["targets"]["data"])
    record_property(SCORE, (name, failure.property, failure.check, needed, rows, seconds))
    assert failure.check in KILLERS[name], failure.message
    assert rows <= MOST_ROWS.get(name, 12), f"{name}: the minimal case kept {rows} rows"


@pytest.mark.parametrize("rule", ["yolov5", "yolov5-v4", "five-positive", "centre"])
@pytest.mark.parametrize("factory", [make_assigner, clean], ids=["reference", "independent"])
def test_clean_code_passes(factory, rule: str) -> None:
    result = check_assigner(factory, profile="ci", rule=rule)
    assert result.passed, [f.message for f in result.failures]
    assert {o.status for o in result.outcomes} == {"passed", "skipped"}
    assert sum(o.not_applicable for o in result.outcomes) == 0


@pytest.mark.parametrize("rule", ["yolov5-v4", "five-positive", "centre"])
def test_a_yolov5_rule_implementation_fails_under_another_rule(rule: str) -> None:
    """The clean YOLOv5 statement with g = 0.5 and v5.0's test hard-coded: right for yolov5,
    wrong for each other rule."""

    def fixed_rule(problem, device):
        return clean(dataclasses.replace(problem, rule="yolov5", g=None), device)

    assert check_assigner(fixed_rule, profile="ci", properties=["invariants"]).passed
    result = check_assigner(fixed_rule, profile="ci", rule=rule, fail_fast=True)
    (failure,) = result.failures
    assert failure.check in {"neighbours", "duplicates", "reference", "offset-range"}
