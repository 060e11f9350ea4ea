"""The faster `invariants.check` returns exactly what its previous formulation returned.

`legacy_invariants` and `legacy_attribution` are the checks as they were before they were
made faster (frozen copies). On many outputs -- the reference's under both semantics, every
mutant of `mutants` under its own rule, the yolov5 package's own, and edited ones -- for all
four rules, float32 and float64 targets, empty, edge-case, random and 10 000-target batches,
both must return the same violations (check, severity, level, rows, targets, message, in
order), with and without ``strict``.

Outputs that are row for row the reference's take a fast path (`attribution_known`): each
row's target comes from the reference's provenance instead of a tolerance search. It must
give the same `Context` fields as the search; that is shown here on batches with targets
crowded within and just outside the tolerance, identical targets, and float64 targets finer
than float32.
"""

from __future__ import annotations

from collections.abc import Callable

import legacy_attribution
import legacy_invariants
import pytest
import torch
from mutants import MUTANTS, RULE_OF_BUG, clean

from yolo_diagnostics import Problem, invariants
from yolo_diagnostics.assignment import Assignment
from yolo_diagnostics.attribution import Context
from yolo_diagnostics.attribution_known import _crowded, _tied, attribute_known, known_targets
from yolo_diagnostics.attribution_search import attribute_search
from yolo_diagnostics.bench.boxes import random_targets as realistic_targets
from yolo_diagnostics.corpus import edge_targets, problems
from yolo_diagnostics.corpus import random_targets as grid_targets
from yolo_diagnostics.reference import assign, build_targets

RULES = ("yolov5", "yolov5-v4", "five-positive", "centre")
DTYPES = (torch.float32, torch.float64)
P5 = Problem.preset("yolov5-p5", batch_size=16)
SCALE = 1100  # targets: about 11 000 rows at 640 with P5 anchors


def _found(check: Callable, problem: Problem, targets: torch.Tensor, output, strict: bool):
    """Violations as plain tuples, or the error raised."""
    try:
        found = check(problem, targets, output, strict=strict)
    except Exception as error:  # both must raise alike
        return ("raised", type(error).__name__, str(error))
    return [(v.check, v.severity, v.level, v.rows, v.targets, v.message) for v in found]


def assert_same(
    problem: Problem, targets: torch.Tensor, output, label: str, stricts=(False, True)
) -> None:
    """`invariants.check` and the frozen one agree on ``output``, strict or not."""
    for strict in stricts:
        new = _found(invariants.check, problem, targets, output, strict)
        old = _found(legacy_invariants.check, problem, targets, output, strict)
        assert new == old, f"{label}, strict={strict}"


def reference(problem: Problem, targets: torch.Tensor, semantics: str = "yolov5"):
    return build_targets(problem, problem.feature_maps(), targets, semantics=semantics)


def crowded(problem: Problem, n: int, seed: int) -> torch.Tensor:
    """``n`` realistic targets, then copies of some of them moved by less than, about and
    more than the attribution's tolerance (a few float32 ulps of the grid size) in x, in
    y or w only, or not at all: groups whose candidate windows overlap."""
    base = realistic_targets(problem, n, seed=seed).double()
    gen = torch.Generator().manual_seed(seed)
    picked = base[torch.randint(0, n, (max(n // 20, 8),), generator=gen)]
    copies = []
    for dx in (0.0, 1e-7, 2e-6, 7e-6, 1.5e-5, 3e-5, -4e-6):
        moved = picked.clone()
        moved[:, 2] = (moved[:, 2] + dx).clamp(0, 1)
        copies.append(moved)
    nudged = picked.clone()
    nudged[:, 3] = (nudged[:, 3] + 1e-6).clamp(0, 1)  # same x, another y
    nudged[:, 4] *= 1.0000001
    copies.append(nudged)
    return torch.cat([base, *copies])


# ------------------------------------------------------------------ small outputs, every rule
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_reference_outputs_on_the_corpus(rule: str, dtype: torch.dtype) -> None:
    for name, problem in problems(rule).items():
        for kind, targets in (
            ("edges", edge_targets(problem)),
            ("random", grid_targets(problem, 200, seed=1)),
            ("empty", torch.zeros((0, 6))),
        ):
            targets = targets.to(dtype)
            for semantics in ("yolov5", "strict"):
                output = reference(problem, targets, semantics)
                assert_same(problem, targets, output, f"{name}/{kind}/{semantics}")


@pytest.mark.parametrize("bug", sorted(MUTANTS))
def test_every_mutant_under_its_rule(bug: str) -> None:
    rule = RULE_OF_BUG.get(bug, "yolov5")
    edges = [(name, problem, edge_targets(problem)) for name, problem in problems(rule).items()]
    grid = [(name, problem, grid_targets(problem, 200, seed=2)) for name, problem, _ in edges[:2]]
    cases = [(torch.float32, case) for case in edges + grid]
    cases += [(torch.float64, case) for case in edges[:2]]
    for dtype, (name, problem, targets) in cases:
        targets = targets.to(dtype)
        try:
            output = MUTANTS[bug](problem, "cpu")(problem.feature_maps(), targets)
        except Exception:  # a mutant that crashes is the contract's business
            continue
        assert_same(problem, targets, output, f"{bug} on {name}, {dtype}")


# ------------------------------------------------------------------ training-scale outputs
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_scale_outputs(rule: str, dtype: torch.dtype) -> None:
    """About 10 000 and 20 000 rows: the reference's (the fast path), strict's and
    `mutants.clean`'s (the search); crowded targets, identical ones, none at all."""
    problem = Problem.preset("yolov5-p5", batch_size=16, rule=rule)
    n = 3 * SCALE if rule == "centre" else SCALE  # rows: one cell per pair, not three
    cases = [("realistic", realistic_targets(problem, n, seed=3))]
    if dtype == torch.float32:  # float64 crowds: `test_known_targets_give_the_searched_fields`
        cases.append(("crowded", crowded(problem, n, seed=4)))
    cases.append(("nothing assignable", torch.tensor([[0, 0, 0.5, 0.5, 1e-4, 1e-4]]).repeat(50, 1)))
    for name, targets in cases:
        targets = targets.to(dtype)
        for semantics in ("yolov5", "strict"):
            assert_same(problem, targets, reference(problem, targets, semantics), name)
        output = clean(problem, "cpu")(problem.feature_maps(), targets)
        assert_same(problem, targets, output, f"{name}, mutants.clean", stricts=(False,))


def test_ten_thousand_targets() -> None:
    targets = realistic_targets(P5, 10_000, seed=5)
    assert_same(P5, targets, reference(P5, targets), "reference", stricts=(True,))
    yolov5 = pytest.importorskip("yolo_diagnostics.adapters.yolov5")
    output = yolov5.make_assigner(P5, "cpu")(P5.feature_maps(), targets)
    assert_same(P5, targets, output, "yolov5", stricts=(False,))


@pytest.mark.parametrize("bug", sorted(b for b in MUTANTS if b not in RULE_OF_BUG))
def test_every_yolov5_mutant_at_scale(bug: str) -> None:
    targets = realistic_targets(P5, SCALE, seed=6)
    try:
        output = MUTANTS[bug](P5, "cpu")(P5.feature_maps(), targets)
    except Exception:
        pytest.skip(f"{bug} crashes on P5")
    assert_same(P5, targets, output, bug, stricts=(False,))


def test_edited_reference_outputs() -> None:
    """Outputs one edit away from the reference's: they take the search, and agree."""
    targets = crowded(P5, SCALE, seed=7).float()
    tcls, tbox, indices, anch = reference(P5, targets)
    n = len(tcls[0])
    edits = {
        "rows swapped": lambda c: c[torch.cat((torch.tensor([1, 0]), torch.arange(2, n)))],
        "row dropped": lambda c: c[1:],
        "row repeated": lambda c: torch.cat((c[:1], c)),
    }
    for label, edit in edits.items():
        output = (
            [edit(tcls[0]), *tcls[1:]],
            [edit(tbox[0]), *tbox[1:]],
            [tuple(edit(i) for i in indices[0]), *indices[1:]],
            [edit(anch[0]), *anch[1:]],
        )
        assert_same(P5, targets, output, label)
    moved = tbox[0].clone()
    moved[5, 0] = moved[5, 0].nextafter(torch.tensor(9.0))  # one float32 ulp
    output = (tcls, [moved, *tbox[1:]], indices, anch)
    assert known_targets(P5, targets, Assignment.from_yolov5(output)) is None
    assert_same(P5, targets, output, "tbox one ulp off")


# ------------------------------------------------------------------ the fast path's fields
FIELDS = ("row_group", "row_pair", "row_kind", "counts", "group", "mult", "in_bounds")
PAIR_FIELDS = ("level", "a", "u", "cells", "y5", "strict", "y5_rows")


def assert_same_context(problem: Problem, targets: torch.Tensor, output) -> Context:
    """The fast path's `Context` has the frozen search's fields, value for value."""
    table = Assignment.from_yolov5(output)
    ctx = Context(problem, targets, table)
    old = legacy_attribution.Context(problem, targets, table)
    for name in FIELDS:
        assert torch.equal(getattr(ctx, name), getattr(old, name)), name
    assert torch.equal(ctx.attributed, old.attributed)
    for name in PAIR_FIELDS:
        assert torch.equal(getattr(ctx.pairs, name), getattr(old.pairs, name)), name
    assert torch.equal(ctx.group_targets, old.group_targets)
    return ctx


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_known_targets_give_the_searched_fields(rule: str, dtype: torch.dtype) -> None:
    problem = Problem.preset("yolov5-p5", batch_size=16, rule=rule)
    targets = crowded(problem, 3 * SCALE if rule == "centre" else SCALE, seed=8).to(dtype)
    ctx = assert_same_context(problem, targets, reference(problem, targets))
    assert ctx.known  # the fast path was taken
    assert bool(_crowded(ctx).any())  # and had groups to search for
    assert ctx.all_attributed


def test_the_yolov5_package_takes_the_fast_path() -> None:
    yolov5 = pytest.importorskip("yolo_diagnostics.adapters.yolov5")
    targets = crowded(P5, SCALE, seed=9).float()
    output = yolov5.make_assigner(P5, "cpu")(P5.feature_maps(), targets)
    assert assert_same_context(P5, targets, output).known


def test_other_outputs_take_the_search() -> None:
    targets = realistic_targets(P5, SCALE, seed=10)
    table = Assignment.from_yolov5(reference(P5, targets, "strict"))
    assert known_targets(P5, targets, table) is None
    assert not Context(P5, targets, table).known
    small = Assignment.from_yolov5(reference(P5, targets[:3]))  # small ones too
    assert torch.equal(known_targets(P5, targets[:3], small).target, assign(P5, targets[:3]).target)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_known_targets_on_edge_cases(rule: str, dtype: torch.dtype) -> None:
    """Called directly: on the corpus' edge cases (gx == 1, x = 0 and 1, duplicates) and
    crowded ones, the groups it gives are the search's, and each row's known target and
    offset kind are the reference's."""
    for name, problem in problems(rule).items():
        for targets in (edge_targets(problem), crowded(problem, 40, seed=11)):
            targets = targets.to(dtype)
            table = Assignment.from_yolov5(reference(problem, targets))
            ctx = Context(problem, targets, table)
            known = known_targets(problem, targets, table)
            expected = assign(problem, targets)
            assert known is not None and torch.equal(known.target, expected.target)
            assert torch.equal(known.kind, expected.offset)
            searched = attribute_search(ctx)
            groups, exact = attribute_known(ctx, known.target)
            assert torch.equal(groups, searched), name
            # exact: the search takes every row for its own target's group
            assert exact == torch.equal(searched, ctx.group[known.target]), name
            old = legacy_attribution.Context(problem, targets, table)
            assert torch.equal(searched, old.row_group), name


@pytest.mark.parametrize("rule", RULES)
def test_reference_outputs_take_the_exact_path(rule: str) -> None:
    """The reference's rows of the corpus' edge cases are read off its plan (`ExactRows`):
    the second rows into a centre cell are those a second formulation finds in the
    reference's provenance (a non-centre row in the cell of its own centre row), and the
    lost targets those with no row."""
    for name, problem in problems(rule).items():
        targets = edge_targets(problem)
        table = Assignment.from_yolov5(reference(problem, targets))
        exact = Context(problem, targets, table).exact
        assert exact is not None, name
        rows = assign(problem, targets)
        columns = zip(*(c.tolist() for c in (rows.level, rows.target, rows.anchor, rows.offset)))
        cells = list(zip(columns, rows.gi.tolist(), rows.gj.tolist()))
        centres = {(key[:3], gi, gj) for key, gi, gj in cells if key[3] == 0}
        twice = [
            r for r, (key, gi, gj) in enumerate(cells) if key[3] and (key[:3], gi, gj) in centres
        ]
        assert exact.repeat_rows.tolist() == twice, name
        assert (rule == "centre") == (not twice), name  # the corpus has them for every rule
        lost = sorted(set(range(len(targets))) - set(rows.target.tolist()))
        assert exact.lost_targets().tolist() == lost, name


def test_targets_only_their_bits_tell_apart() -> None:
    """Two targets whose x differ by one float32 ulp but whose ``x * nx`` round alike at
    every level: each row reproduces both, the search takes the first group for the rows
    of both, so the rows are not each their own target's and the checks take the general
    path, with the frozen checks' answer."""
    x = torch.tensor(0.9437140226364136)
    twin = torch.nextafter(x, torch.tensor(2.0))
    assert all(float(x * nx) == float(twin * nx) for _, nx in P5.feature_shapes)
    targets = torch.tensor([[0, 3, x, 0.5, 0.1, 0.1], [0, 3, twin, 0.5, 0.1, 0.1]])
    output = reference(P5, targets)
    ctx = Context(P5, targets, Assignment.from_yolov5(output))
    assert ctx.known and ctx.exact is None
    assert set(ctx.row_group.tolist()) == {0}
    both = torch.tensor([0, 1])
    assert _tied(ctx, both)
    apart = targets.clone()
    apart[1, 2] = torch.nextafter(twin, torch.tensor(2.0))  # two ulps: the products differ
    ctx = Context(P5, apart, Assignment.from_yolov5(reference(P5, apart)))
    assert torch.equal(_crowded(ctx).nonzero().flatten(), both) and not _tied(ctx, both)
    assert ctx.exact is not None
    assert_same(P5, targets, output, "one ulp apart")


def test_rows_where_no_pair_is_kept() -> None:
    """The one input where the two differ: the previous formulation raised an IndexError in
    ``duplicates`` when rows exist but the ratio rule keeps no (target, anchor) pair (a
    `ratio-le` mutant at a ratio of exactly anchor_t); now each check says what is wrong."""
    problem = Problem(img_size=(64, 64), strides=(8,), anchors=(((0.5, 0.5),),))
    targets = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1 / 32, 1 / 32]])  # 0.25 grid, anchor 0.0625
    output = MUTANTS["ratio-le"](problem, "cpu")(problem.feature_maps(), targets)
    assert len(output[0][0]) == 3  # the centre cell three times: x = 0 and y = 0 quirks
    with pytest.raises(IndexError):
        legacy_invariants.check(problem, targets, output)
    found = invariants.check(problem, targets, output)
    assert [(v.check, v.severity, v.level, v.rows, v.targets) for v in found] == [
        ("ratio", "error", 0, (0, 1, 2), (0,)),
        ("duplicates", "error", 0, (1, 2), (0,)),
    ]
    assert "max(r, 1/r) = 4 is not < anchor_t = 4" in found[0].message
    assert "which the yolov5 rule never writes twice" in found[1].message
