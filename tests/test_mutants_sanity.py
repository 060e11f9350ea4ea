"""The mutation catalog is sound, checked without the contract.

`mutants.clean` equals the reference as a multiset, bit for bit, on a fixed set of inputs;
every mutant differs from `clean` (or crashes) on exactly the fixed inputs listed in
`EXPECTED`, and equals it on the others. So each mutant is a live bug, and the table says
which input exposes it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from mutants import BUGS, MUTANTS, RULE_OF_BUG, clean

from yolo_diagnostics import Assignment, Problem, diff
from yolo_diagnostics.corpus import edge_targets, random_targets
from yolo_diagnostics.reference import make_assigner
from yolo_diagnostics.scale import pool

PROBLEMS: dict[str, Problem] = {
    "p5-640": Problem.preset("yolov5-p5", batch_size=4),  # square, 3 levels
    "p5-320x608": Problem.preset("yolov5-p5", img_size=(320, 608), batch_size=2),
    "p6-384x640": Problem.preset("yolov5-p6", img_size=(384, 640), batch_size=2),  # 4 levels
    "v7-320x608-g1": Problem.preset("yolov7", img_size=(320, 608), batch_size=2, g=1.0),
    # the other rules' problems, for their own mutants
    "yolor-320x608-v4": Problem.preset(
        "yolov5-p5", img_size=(320, 608), batch_size=2, rule="yolov5-v4"
    ),
    "yolor-p6-v4": Problem.preset("yolov5-p6", img_size=(384, 640), rule="yolov5-v4"),
    "v3-416-centre": Problem.preset("yolov3", img_size=(416, 416), batch_size=2, rule="centre"),
}
KINDS = ("edges", "random", "empty")


def _targets(problem: Problem, kind: str) -> torch.Tensor:
    if kind == "edges":
        return edge_targets(problem)
    if kind == "random":
        return random_targets(problem, 200, seed=0)
    return torch.zeros((0, 6))


CASES: dict[str, tuple[Problem, torch.Tensor]] = {
    f"{name}/{kind}": (problem, _targets(problem, kind))
    for name, problem in PROBLEMS.items()
    for kind in KINDS
}


def cases(problems: tuple[str, ...] = tuple(PROBLEMS), kinds: tuple[str, ...] = KINDS):
    return frozenset(f"{p}/{k}" for p in problems for k in kinds)


# the fixed inputs each mutant is run on: those of the rules it can be written for
YOLOV5_AND_G1 = ("p5-640", "p5-320x608", "p6-384x640", "v7-320x608-g1")
V4 = ("yolor-320x608-v4", "yolor-p6-v4")
DOMAIN = {"yolov5": cases(YOLOV5_AND_G1), "yolov5-v4": cases(V4)}
DOMAIN["five-positive"] = cases(("v7-320x608-g1",))
DOMAIN["centre"] = cases(("v3-416-centre",))

NON_EMPTY = cases(YOLOV5_AND_G1, ("edges", "random"))
NON_SQUARE = cases(("p5-320x608", "p6-384x640", "v7-320x608-g1"), ("edges", "random"))
G_HALF = cases(("p5-640", "p5-320x608", "p6-384x640"), ("edges", "random"))
P6 = cases(("p6-384x640",), ("edges", "random"))
EDGES = cases(YOLOV5_AND_G1, ("edges",))
EMPTY = cases(YOLOV5_AND_G1, ("empty",))

# mutant -> (how it shows, the fixed inputs that show it); it equals clean on all others.
EXPECTED: dict[str, tuple[str, frozenset[str]]] = {
    "clamp-out-of-place": ("differs", NON_EMPTY),  # x = 1 / y = 1 targets: tbox 0, not 1
    "clamp-off-by-one": ("differs", NON_EMPTY),  # x = 1 / y = 1 targets: gi = nx
    "gain-order": ("differs", NON_SQUARE),
    "gain-height-only": ("differs", NON_SQUARE),
    "anchors-in-pixels": ("differs", NON_EMPTY),
    "levels-hardcoded-3": ("differs", P6),  # level 3 rows missing
    "na-is-nl": ("crashes", P6),  # 4 anchor copies against 3 anchors: a shape error
    "ratio-le": ("differs", EDGES),  # only edges have wh ratios of exactly anchor_t
    "ratio-one-way": ("differs", NON_EMPTY),
    "frac-le": ("differs", G_HALF),  # frac .5 rows; with g = 1, <= 1 and < 1 agree on frac
    "no-border-test": ("differs", NON_EMPTY),
    "wh-swapped": ("differs", NON_EMPTY),
    "image-class-swapped": ("differs", NON_EMPTY),
    "round-not-trunc": ("differs", NON_EMPTY),
    "offsets-flipped": ("differs", NON_EMPTY),
    "g-one": ("differs", G_HALF),  # the same as the problem's g on the yolov7 g = 1 problem
    "empty-crash": ("crashes", EMPTY),  # yolov5 #609: 'too many values to unpack'
    "empty-hardcoded-cuda": ("crashes", EMPTY),  # not on cuda:0, see `expected`
    "inverse-square-gain": ("differs", NON_SQUARE),
    "anchor-index-interleaved": ("differs", NON_EMPTY),
    "half-precision": ("differs", NON_EMPTY),
    # at scale only (see test_scale_mutants_differ_at_training_scale)
    "chunk-drop-last": ("differs", frozenset()),
    "per-image-cap": ("differs", frozenset()),
    "class-uint8": ("differs", frozenset()),
    "cell-index-int16": ("differs", cases(("p5-640",), ("edges", "random"))),  # 4 x 3 x 6400
    "level-buffer-cap": ("differs", frozenset()),
    # under their own rules (`RULE_OF_BUG`)
    "v4-far-side-ge": ("differs", cases(V4, ("edges", "random"))),  # frac .5 rows
    # frac > .5 in the last cell: P6's edge boxes there (48 px) pass no anchor of its
    # coarse levels, where such fractions are
    "v4-far-border-n": ("differs", cases(V4, ("random",)) | cases(V4[:1], ("edges",))),
    "v4-with-v5-test": ("differs", cases(V4, ("edges", "random"))),  # integer gx
    "five-positive-half-offsets": ("differs", cases(("v7-320x608-g1",), ("edges", "random"))),
    "five-positive-g-half": ("differs", cases(("v7-320x608-g1",), ("edges", "random"))),
    "centre-with-neighbours": ("differs", cases(("v3-416-centre",), ("edges", "random"))),
}
SCALE_ONLY = ("chunk-drop-last", "per-image-cap", "class-uint8", "level-buffer-cap")


def expected(mutant: str, device: str) -> tuple[str, frozenset[str]]:
    how, where = EXPECTED[mutant]
    if mutant == "empty-hardcoded-cuda" and torch.device(device) == torch.device("cuda:0"):
        return how, frozenset()  # the hard-coded device happens to be the right one
    return how, where


def _run(factory, case: str, device: str) -> Assignment:
    problem, targets = CASES[case]
    output = factory(problem, device)(problem.feature_maps(device), targets.clone())
    return Assignment.from_yolov5(output)


def _on(table: Assignment, device: str) -> bool:
    """Whether the table's columns are on ``device`` (``cuda`` matches any ``cuda:N``)."""
    want = torch.device(device)
    have = [table.key.device, table.values.device]
    return all(d.type == want.type and want.index in (None, d.index) for d in have)


_CLEAN: dict[tuple[str, str], Assignment] = {}


def _clean(case: str, device: str) -> Assignment:
    if (case, device) not in _CLEAN:
        _CLEAN[case, device] = _run(clean, case, device)
    return _CLEAN[case, device]


def outcome(mutant: str, case: str, device: str) -> str | None:
    """``None`` when the mutant's output equals clean's as a multiset, else how it shows."""
    reference = _clean(case, device)
    try:
        table = _run(MUTANTS[mutant], case, device)
    except (RuntimeError, ValueError, IndexError):
        return "crashes"
    if not _on(table, device):
        return "differs"  # the right rows on the wrong device are a wrong answer too
    return None if diff(reference, table).equal else "differs"


@pytest.mark.parametrize("case", CASES)
def test_clean_equals_reference(case: str, device: str) -> None:
    problem, targets = CASES[case]
    reference = make_assigner(problem, device)(problem.feature_maps(device), targets.clone())
    expected_table = Assignment.from_yolov5(reference)
    actual = _clean(case, device)
    assert _on(actual, device), f"{case}: clean's output is on {actual.device}, not {device}"
    assert len(actual) == len(expected_table)
    result = diff(expected_table, actual, atol=0.0)
    assert result.equal, f"{case}: {result.summary()}"
    if case.endswith("/empty"):
        assert len(actual) == 0 and actual.num_levels == problem.nl


@pytest.mark.filterwarnings("ignore:The use of `x.T`:UserWarning")  # empty-crash's 3-D .T
@pytest.mark.parametrize("mutant", MUTANTS)
def test_mutant_is_exposed_exactly_where_expected(mutant: str, device: str) -> None:
    how, where = expected(mutant, device)
    domain = DOMAIN[RULE_OF_BUG.get(mutant, "yolov5")]
    seen = {case: outcome(mutant, case, device) for case in CASES if case in domain}
    exposed = {case for case, result in seen.items() if result is not None}
    assert exposed == where, f"{mutant}: exposed by {sorted(exposed)}, expected {sorted(where)}"
    assert all(seen[case] == how for case in where), f"{mutant}: {seen}"


def test_catalog_is_complete() -> None:
    assert len(MUTANTS) >= 16
    assert set(MUTANTS) == set(BUGS) == set(EXPECTED)
    for name, factory in MUTANTS.items():
        assert factory.__doc__ == BUGS[name] and len(BUGS[name]) > 40


def test_clean_does_not_import_the_reference() -> None:
    source = Path(__file__).with_name("mutants.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not any("reference" in name for name in imported), imported


def test_scale_mutants_differ_at_training_scale(device: str) -> None:
    """The bugs the fixed inputs above cannot show are live on one training-scale batch:
    10 000 targets, 1 203 classes, crowded images, P6 at 1 280 px."""
    problem = Problem.preset("yolov5-p6", img_size=(1280, 1280), batch_size=16, num_classes=1203)
    t = pool(problem, 10_000, idle=2, crowded=3, weight=40, piled=0.2, seed=0)
    CASES["scale"] = (problem, t)
    try:
        for mutant in SCALE_ONLY:
            assert outcome(mutant, "scale", device) == "differs", mutant
        assert outcome("half-precision", "scale", device) == "differs"  # a control
    finally:
        del CASES["scale"]
