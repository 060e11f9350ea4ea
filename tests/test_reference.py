"""The reference assignment: hand-computed tables for each edge case, and the oracle.

Hand tables use a one-level problem with a 4 x 8 grid (H = 32, W = 64, stride 8) and one
8 x 8 px anchor (1 x 1 grid unit), so a target with grid centre (gx, gy) and grid size
(1, 1) is (x, y, w, h) = (gx / 8, gy / 4, 1 / 8, 1 / 4). Every value used is exact in
float32. A row is (gj, gi, tbox_x, tbox_y); tbox_wh is (1, 1) unless said otherwise.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from yolov5_loop import build_targets_loop

from yolo_diagnostics import OFFSET_KINDS, Assignment, Problem, assign, diff
from yolo_diagnostics.reference import build_targets, make_assigner, make_strict_assigner

GRID = Problem(img_size=(32, 64), strides=(8,), anchors=(((8, 8),),), num_classes=3)


def target(gx: float, gy: float, gw: float = 1.0, gh: float = 1.0) -> torch.Tensor:
    return torch.tensor([[0, 1, gx / 8, gy / 4, gw / 8, gh / 4]])


def cells(table: Assignment) -> list[tuple[int, int, float, float]]:
    """Rows as (gj, gi, tbox_x, tbox_y), sorted: the multiset of a one-level table."""
    return sorted(
        (int(j), int(i), x, y)
        for j, i, (x, y) in zip(table.gj, table.gi, table.tbox[:, :2].tolist())
    )


# (gx, gy): (yolov5 rows, strict rows), worked out from the rules in YOLOV5_SEMANTICS.md
EDGE_CASES = {
    # frac .25 in x: left neighbour; frac .75 in y: the y + 1 (down) neighbour
    "frac-below-and-above-half": (
        (2.25, 1.75),
        [(1, 1, 1.25, 0.75), (1, 2, 0.25, 0.75), (2, 2, 0.25, -0.25)],
        [(1, 1, 1.25, 0.75), (1, 2, 0.25, 0.75), (2, 2, 0.25, -0.25)],
    ),
    # integer gx: the x + 1 test fires on gxi = 5 and lands on the centre cell again
    "integer-gx": (
        (3.0, 2.25),
        [(1, 3, 0.0, 1.25), (2, 2, 1.0, 0.25), (2, 3, 0.0, 0.25), (2, 3, 0.0, 0.25)],
        [(1, 3, 0.0, 1.25), (2, 2, 1.0, 0.25), (2, 3, 0.0, 0.25)],
    ),
    # frac exactly .5 in both: strict < on both sides, no neighbour
    "frac-half": ((2.5, 1.5), [(1, 2, 0.5, 0.5)], [(1, 2, 0.5, 0.5)]),
    # gx == 1: YOLOv5's gx > 1 skips cell 0 and duplicates the centre; strict uses cell 0
    "gx-one": (
        (1.0, 1.25),
        [(0, 1, 0.0, 1.25), (1, 1, 0.0, 0.25), (1, 1, 0.0, 0.25)],
        [(0, 1, 0.0, 1.25), (1, 0, 1.0, 0.25), (1, 1, 0.0, 0.25)],
    ),
    # x = 1: gx = nx clamps to cell 7 with tbox 1.0; the x - 1 row is that cell again
    "x-one": (
        (8.0, 2.75),
        [(2, 7, 1.0, 0.75), (2, 7, 1.0, 0.75), (3, 7, 1.0, -0.25)],
        [(2, 7, 1.0, 0.75), (3, 7, 1.0, -0.25)],
    ),
    # x = y = 0: the x + 1 and y + 1 tests both fire and land on cell (0, 0)
    "origin": ((0.0, 0.0), [(0, 0, 0.0, 0.0)] * 3, [(0, 0, 0.0, 0.0)]),
}


@pytest.mark.parametrize("case", EDGE_CASES, ids=list(EDGE_CASES))
@pytest.mark.parametrize("semantics", ["yolov5", "strict"])
def test_edge_case_tables(case: str, semantics: str, device: str) -> None:
    (gx, gy), yolov5_rows, strict_rows = EDGE_CASES[case]
    table = assign(GRID, target(gx, gy).to(device), semantics=semantics)
    assert cells(table) == sorted(yolov5_rows if semantics == "yolov5" else strict_rows)
    assert table.tbox[:, 2:].tolist() == [[1.0, 1.0]] * len(table)
    assert table.device.type == torch.device(device).type


def test_provenance_names_target_and_offset_kind() -> None:
    """Integer gx: centre, left (j), up (k) and the x + 1 (l) duplicate, in YOLOv5 order."""
    targets = torch.cat((target(2.5, 1.5), target(3.0, 2.25)))
    table = assign(GRID, targets)
    assert table.target.tolist() == [0, 1, 1, 1, 1]
    assert [OFFSET_KINDS[k] for k in table.offset] == ["centre", "centre", "left", "up", "right"]
    assert [(int(j), int(i)) for j, i in zip(table.gj, table.gi)] == [
        (1, 2),
        (2, 3),
        (2, 2),
        (1, 3),
        (2, 3),
    ]


@pytest.mark.parametrize(
    ("gw", "gh", "kept"),
    [
        (4.0, 1.0, False),  # r = 4 exactly: dropped (strict <)
        (float(torch.tensor(4.0).nextafter(torch.tensor(0.0))), 1.0, True),
        (1.0, 0.25, False),  # 1 / r = 4 exactly
        (1.0, float(torch.tensor(0.25).nextafter(torch.tensor(1.0))), True),
    ],
)
def test_ratio_threshold_is_strict(gw: float, gh: float, kept: bool) -> None:
    targets = torch.tensor([[0, 0, 2.25 / 8, 1.5 / 4, gw / 8, gh / 4]])
    assert len(assign(GRID, targets)) == (2 if kept else 0)  # centre + left when kept


def test_empty_targets_give_empty_levels(device: str) -> None:
    problem = Problem.preset("yolov5-p5", batch_size=2)
    tcls, tbox, indices, anch = make_assigner(problem, device)(
        problem.feature_maps(device), torch.zeros((0, 6), device=device)
    )
    assert len(tcls) == len(tbox) == len(indices) == len(anch) == 3
    for i in range(3):
        assert tcls[i].shape == (0,) and tcls[i].dtype == torch.int64
        assert tbox[i].shape == (0, 4) and tbox[i].dtype == torch.float32
        assert [ix.shape for ix in indices[i]] == [(0,)] * 4
        assert anch[i].shape == (0, 2)


FOUR_LEVELS = Problem(
    img_size=(128, 256),
    strides=(8, 16, 32, 64),
    anchors=(((8, 8),), ((16, 16),), ((32, 32),), ((64, 64),)),
)


def test_four_levels_non_square_and_a_filtered_level() -> None:
    """A 16 x 16 px box at pixel centre (100, 40) on a 256 x 128 input.

    Grid centres per level: (12.5, 5), (6.25, 2.5), (3.125, 1.25), (1.5625, 0.625); grid
    wh 2, 1, 0.5, 0.25 against 1 x 1 anchors, so level 3 (ratio exactly 4) gets nothing.
    """
    targets = torch.tensor([[0, 0, 100 / 256, 40 / 128, 16 / 256, 16 / 128]])
    expected = {
        "yolov5": [
            [(4, 12, 0.5, 1.0), (5, 12, 0.5, 0.0), (5, 12, 0.5, 0.0)],  # gy = 5: up + duplicate
            [(2, 5, 1.25, 0.5), (2, 6, 0.25, 0.5)],
            [(0, 3, 0.125, 1.25), (1, 2, 1.125, 0.25), (1, 3, 0.125, 0.25)],
            [],
        ],
        "strict": [
            [(4, 12, 0.5, 1.0), (5, 12, 0.5, 0.0)],
            [(2, 5, 1.25, 0.5), (2, 6, 0.25, 0.5)],
            [(0, 3, 0.125, 1.25), (1, 2, 1.125, 0.25), (1, 3, 0.125, 0.25)],
            [],
        ],
    }
    for semantics, levels in expected.items():
        table = assign(FOUR_LEVELS, targets, semantics=semantics)
        for level, rows in enumerate(levels):
            at = table.select(table.level == level)
            assert cells(at) == sorted(rows), (semantics, level)
            assert at.tbox[:, 2:].tolist() == [[2.0 / 2**level] * 2] * len(rows)
        tcls, tbox, indices, anch = table.to_yolov5()
        assert len(tcls) == 4 and tbox[3].shape == (0, 4) and anch[3].shape == (0, 2)


@pytest.mark.parametrize(
    ("gx", "gy", "yolov5_rows", "strict_rows"),
    [
        (  # all four neighbours with g = 1 (YOLOv7's find_5_positive)
            2.25,
            1.75,
            [
                (0, 2, 0.25, 1.75),
                (1, 1, 1.25, 0.75),
                (1, 2, 0.25, 0.75),
                (1, 3, -0.75, 0.75),
                (2, 2, 0.25, -0.25),
            ],
            [
                (0, 2, 0.25, 1.75),
                (1, 1, 1.25, 0.75),
                (1, 2, 0.25, 0.75),
                (1, 3, -0.75, 0.75),
                (2, 2, 0.25, -0.25),
            ],
        ),
        (  # integer gx: YOLOv5's x + 1 test gives the cell one whole unit away (tbox -1)
            3.0,
            2.5,
            [
                (1, 3, 0.0, 1.5),
                (2, 2, 1.0, 0.5),
                (2, 3, 0.0, 0.5),
                (2, 4, -1.0, 0.5),
                (3, 3, 0.0, -0.5),
            ],
            [(1, 3, 0.0, 1.5), (2, 2, 1.0, 0.5), (2, 3, 0.0, 0.5), (3, 3, 0.0, -0.5)],
        ),
    ],
)
def test_five_positive_rule(gx, gy, yolov5_rows, strict_rows) -> None:
    problem = Problem(img_size=(32, 64), strides=(8,), anchors=(((8, 8),),), g=1.0)
    assert cells(assign(problem, target(gx, gy))) == sorted(yolov5_rows)
    assert cells(assign(problem, target(gx, gy), semantics="strict")) == sorted(strict_rows)


# (gx, gy) of each EDGE_CASES row: its rows under yolov5-v4 (YOLOR) and under centre (both
# semantics), from the tests in yolo_diagnostics/rules.py
OTHER_RULES = {
    # v4 as yolov5: left by frac .25, down by frac .75 (and 1.75 < ny - 1 = 3)
    "frac-below-and-above-half": (
        [(1, 1, 1.25, 0.75), (1, 2, 0.25, 0.75), (2, 2, 0.25, -0.25)],
        [(1, 2, 0.25, 0.75)],
    ),
    # v4 tests frac 0 > .5 for the x + 1 cell: no duplicate, as strict
    "integer-gx": ([(1, 3, 0.0, 1.25), (2, 2, 1.0, 0.25), (2, 3, 0.0, 0.25)], [(2, 3, 0.0, 0.25)]),
    "frac-half": ([(1, 2, 0.5, 0.5)], [(1, 2, 0.5, 0.5)]),
    # v4 keeps gx > 1: cell 0 left out, but no duplicate centre row
    "gx-one": ([(0, 1, 0.0, 1.25), (1, 1, 0.0, 0.25)], [(1, 1, 0.0, 0.25)]),
    # x = 1: the x - 1 row lands on the clamped centre again, as in yolov5
    "x-one": ([(2, 7, 1.0, 0.75), (2, 7, 1.0, 0.75), (3, 7, 1.0, -0.25)], [(2, 7, 1.0, 0.75)]),
    "origin": ([(0, 0, 0.0, 0.0)], [(0, 0, 0.0, 0.0)]),
}


@pytest.mark.parametrize("case", EDGE_CASES, ids=list(EDGE_CASES))
def test_yolov5_v4_and_centre_rules(case: str, device: str) -> None:
    (gx, gy), _, strict_rows = EDGE_CASES[case]
    v4_rows, centre_rows = OTHER_RULES[case]
    v4 = dataclasses.replace(GRID, rule="yolov5-v4")
    t = target(gx, gy).to(device)
    assert cells(assign(v4, t)) == sorted(v4_rows)
    assert cells(assign(v4, t, semantics="strict")) == sorted(strict_rows)  # g = 0.5, as v5
    centre = dataclasses.replace(GRID, rule="centre", g=None)
    for semantics in ("yolov5", "strict"):
        assert cells(assign(centre, t, semantics=semantics)) == centre_rows


def random_targets(problem: Problem, n: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    """Random boxes, a third of them with centres on a grid every level hits exactly."""
    gen = torch.Generator().manual_seed(seed)
    b = torch.randint(0, problem.batch_size, (n, 1), generator=gen)
    c = torch.randint(0, problem.num_classes, (n, 1), generator=gen)
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    coarse = torch.tensor(problem.feature_shapes[-1][::-1], dtype=torch.float64)
    aligned = torch.randint(0, 2 * int(coarse.max()) + 1, (n // 3, 2), generator=gen)
    xy[: n // 3] = (aligned / (2 * coarse)).clamp(max=1)  # half-cell steps: integer and .5
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 0.4 + 1e-3
    return torch.cat((b, c, xy, wh), 1).to(dtype)


PROBLEMS = {
    "p5-640": Problem.preset("yolov5-p5", batch_size=4),
    "p6-384x640": Problem.preset("yolov5-p6", img_size=(384, 640), batch_size=2),
    "v7-320x608-g1": Problem.preset("yolov7", img_size=(320, 608), batch_size=3, g=1.0),
    "v3-416": Problem.preset("yolov3", img_size=(416, 416), num_classes=5),
    "yolor-320x512-v4": Problem.preset("yolov5-p5", img_size=(320, 512), rule="yolov5-v4"),
    "yolor-p6-v4": Problem.preset("yolov5-p6", img_size=(384, 640), rule="yolov5-v4"),
    "pytorchyolo-416-centre": Problem.preset("yolov3", img_size=(416, 416), rule="centre"),
}


@pytest.mark.parametrize("name", PROBLEMS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bit_exact_with_the_loop_oracle(name: str, dtype: torch.dtype, device: str) -> None:
    """Same rows, same order, same bits as the scalar statement of YOLOv5."""
    problem = PROBLEMS[name]
    targets = random_targets(problem, 120, seed=len(name), dtype=dtype)
    expected = Assignment.from_yolov5(build_targets_loop(problem, targets))
    actual = Assignment.from_yolov5(
        make_assigner(problem, device)(problem.feature_maps(device), targets.to(device))
    ).to("cpu")
    assert len(expected) > 200
    assert torch.equal(actual.key, expected.key)
    assert torch.equal(actual.values, expected.values)
    assert actual.tbox.dtype == dtype


@pytest.mark.parametrize("name", [n for n, p in PROBLEMS.items() if p.rule == "yolov5"])
def test_strict_differs_from_yolov5_only_by_documented_quirks(name: str) -> None:
    """With g = 0.5, yolov5 minus strict is duplicates; strict minus yolov5 is the cells
    yolov5 misses at gx == 1 or gy == 1. (g = 1: see test_five_positive_rule.)"""
    problem = PROBLEMS[name]
    targets = random_targets(problem, 150, seed=7, dtype=torch.float32)
    yolov5, strict = assign(problem, targets), assign(problem, targets, semantics="strict")
    d = diff(strict, yolov5)
    assert len(d.extra) > 0  # grid-aligned boxes make duplicates
    # every extra yolov5 row repeats a row strict has for the same target
    strict_keys = {tuple(k) for k in strict.key.tolist()}
    assert all(tuple(k) in strict_keys for k in d.extra.key.tolist())
    # every row strict has and yolov5 lacks is either the x - 1 / y - 1 cell at gx == 1 or
    # gy == 1, or the x + 1 / y + 1 cell where n - g rounds to an exact .5 in float32
    missing = d.missing
    axis = torch.where((missing.offset == 1) | (missing.offset == 3), 0, 1)
    n = torch.tensor(problem.feature_shapes).flip(1)[missing.level, axis].float()
    g = targets[missing.target, 2 + axis] * n
    at_one = (missing.offset <= 2) & (g == 1)
    rounded = (missing.offset >= 3) & (g % 1 > 0.5) & ((n - g) % 1 == 0.5)
    assert bool(torch.all(at_one | rounded))
    assert bool(at_one.any())


@pytest.mark.parametrize("name", [n for n, p in PROBLEMS.items() if p.rule == "yolov5-v4"])
def test_yolov5_v4_differs_from_strict_only_at_gx_one_and_x_one(name: str) -> None:
    """YOLOR's test of the far side on gxy itself leaves two quirks: gx == 1 misses cell 0
    (the near side's gx > 1), and x = 1 (gx = n) repeats the clamped centre cell."""
    problem = PROBLEMS[name]
    targets = random_targets(problem, 300, seed=3, dtype=torch.float32)
    v4, strict = assign(problem, targets), assign(problem, targets, semantics="strict")
    d = diff(strict, v4)
    extra, missing = d.extra, d.missing
    n = torch.tensor(problem.feature_shapes).flip(1).float()  # [nl, 2] (nx, ny)
    gxy = targets[extra.target, 2:4] * n[extra.level]
    assert len(extra) and bool(((gxy == n[extra.level]).any(1)).all())  # at x = 1 or y = 1
    axis = torch.where(missing.offset == 1, 0, 1)
    g = targets[missing.target, 2 + axis] * n[missing.level, axis]
    assert len(missing) and bool(((missing.offset <= 2) & (g == 1)).all())


def test_assigner_factories_read_p_and_check_it() -> None:
    problem = Problem.preset("yolov5-p5", img_size=(320, 640))
    targets = random_targets(problem, 30, seed=1, dtype=torch.float32)
    p = problem.feature_maps()
    assert diff(
        Assignment.from_yolov5(make_strict_assigner(problem, "cpu")(p, targets)),
        assign(problem, targets, semantics="strict"),
    ).equal
    with pytest.raises(ValueError, match=r"p\[1\]: grid \(40, 80\) does not match .* \(20, 40\)"):
        build_targets(problem, [p[0], p[0], p[2]], targets)
    with pytest.raises(ValueError, match=r"p: expected 3 levels, got 2"):
        build_targets(problem, p[:2], targets)
    with pytest.raises(ValueError, match=r"semantics: expected one of"):
        assign(problem, targets, semantics="yolov7")  # type: ignore[arg-type]


def test_build_targets_output_is_the_assignment_without_provenance() -> None:
    """build_targets goes level by level on its own path; it must give assign's rows."""
    problem = Problem.preset("yolov5-p5", batch_size=4)
    targets = random_targets(problem, 500, seed=3, dtype=torch.float32)
    for semantics in ("yolov5", "strict"):
        table = assign(problem, targets, semantics=semantics)
        output = build_targets(problem, problem.feature_maps(), targets, semantics=semantics)
        for i, (tcls, tbox, (b, a, gj, gi), anch) in enumerate(zip(*output)):
            rows = table.select(table.level == i)
            for ours, theirs in zip(
                (tcls, b, a, gj, gi), (rows.cls, rows.image, rows.anchor, rows.gj, rows.gi)
            ):
                assert torch.equal(ours, theirs)
            assert torch.equal(tbox, rows.tbox) and torch.equal(anch, rows.anch)


def test_no_host_synchronization_yolov5_does_not_have(device: str) -> None:
    """CUDA: one call of the reference synchronizes with the host no more often than the
    yolov5 package's build_targets (validation once, one nonzero per level)."""
    if not device.startswith("cuda"):
        pytest.skip("host synchronization is a CUDA notion (run with --device cuda)")
    import warnings

    from yolo_diagnostics.adapters.yolov5 import make_assigner as yolov5_assigner
    from yolo_diagnostics.bench import random_targets as realistic_targets

    problem = Problem.preset("yolov5-p5", batch_size=16)
    p = problem.feature_maps(device)
    targets = realistic_targets(problem, 1000, seed=0, device=device)
    ours, theirs = make_assigner(problem, device), yolov5_assigner(problem, device)

    def syncs(build) -> int:
        build(p, targets)  # warm: constants cached, kernels loaded
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                build(p, targets)
            finally:
                torch.cuda.set_sync_debug_mode(0)
        return sum("synchroniz" in str(w.message) for w in caught)

    assert 0 < syncs(ours) <= syncs(theirs)
