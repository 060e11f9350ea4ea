"""Every single-call invariant passes on clean outputs and fires on a crafted bad one.

Bad outputs are made by editing a clean reference output the way a real bug would: a row
moved, added or dropped, a column in the wrong unit. The problem is one level, a 4 x 8 grid
(H = 32, W = 64, stride 8) with anchors 1 x 1 and 4 x 4 grid units, so a target of grid size
1 x 1 passes the ratio rule with anchor 0 only (anchor 1 gives ratio exactly 4).
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from yolov5_loop import build_targets_loop

from yolo_diagnostics import INVARIANTS, Problem, Violation, check
from yolo_diagnostics.reference import build_targets

GRID = Problem(
    img_size=(32, 64), strides=(8,), anchors=(((8, 8), (32, 32)),), num_classes=3, batch_size=2
)


def target(gx: float, gy: float, gw: float = 1.0, gh: float = 1.0, b: int = 0, c: int = 1):
    return [b, c, gx / 8, gy / 4, gw / 8, gh / 4]


def reference(problem: Problem, targets: torch.Tensor, semantics: str = "strict"):
    return build_targets(
        problem, problem.feature_maps(targets.device), targets, semantics=semantics
    )  # type: ignore[arg-type]


def edit(output, level: int = 0, *, keep=None, add=None):
    """A copy of ``output`` with level ``level``'s rows filtered by ``keep`` (a mask) and
    ``add`` appended: rows (b, a, gj, gi, cls, tx, ty, tw, th, aw, ah)."""
    tcls, tbox, indices, anch = copy.deepcopy(output)
    cols = [*indices[level], tcls[level], tbox[level], anch[level]]
    if keep is not None:
        cols = [c[keep] for c in cols]
    if add is not None:
        new = torch.tensor(add, dtype=torch.float64)
        ints = [new[:, k].long() for k in range(5)]
        cols = [torch.cat((c, n)) for c, n in zip(cols[:5], [*ints[:4], ints[4]])] + [
            torch.cat((cols[5], new[:, 5:9].to(cols[5].dtype))),
            torch.cat((cols[6], new[:, 9:11].to(cols[6].dtype))),
        ]
    indices[level] = tuple(cols[:4])
    tcls[level], tbox[level], anch[level] = cols[4], cols[5], cols[6]
    return tcls, tbox, indices, anch


def fired(violations: list[Violation], severity: str | None = None) -> set[str]:
    return {v.check for v in violations if severity is None or v.severity == severity}


def only(violations: list[Violation], check_id: str) -> Violation:
    found = [v for v in violations if v.check == check_id]
    assert len(found) == 1, violations
    return found[0]


TARGETS = torch.tensor([target(2.25, 1.75), target(5.5, 2.5, b=1, c=2)])


def test_registry_covers_the_design_table() -> None:
    assert list(INVARIANTS) == [
        "shapes",
        "bounds",
        "geometry",
        "offset-range",
        "ratio",
        "neighbours",
        "equivariance",
        "reference",
        "scale",
        "device",
        "duplicates",
        "missed-neighbour",
        "collisions",
        "coverage",
    ]
    severities = {k: v.severity for k, v in INVARIANTS.items()}
    assert severities["duplicates"] == severities["missed-neighbour"] == "quirk"
    assert severities["collisions"] == severities["coverage"] == "info"
    multi_call = {k for k, v in INVARIANTS.items() if not v.single_call}
    assert multi_call == {"equivariance", "reference", "scale", "device"}


def test_clean_outputs_pass(device: str) -> None:
    """Strict output: nothing but info; yolov5 output on the same targets: no error."""
    gen = torch.Generator().manual_seed(3)
    n = 200
    targets = (
        torch.cat(
            (
                torch.randint(0, 2, (n, 1), generator=gen),
                torch.randint(0, 3, (n, 1), generator=gen),
                torch.randint(0, 17, (n, 2), generator=gen) / 16,  # many integer grid coordinates
                torch.rand(n, 2, generator=gen) * 0.3 + 0.02,
            ),
            1,
        )
        .float()
        .to(device)
    )
    assert fired(check(GRID, targets, reference(GRID, targets)), "error") == set()
    assert fired(check(GRID, targets, reference(GRID, targets)), "quirk") == set()
    assert fired(check(GRID, targets, reference(GRID, targets, "yolov5")), "error") == set()


def test_an_independent_implementation_gets_the_same_findings() -> None:
    targets = torch.tensor([target(3.0, 2.25), target(1.0, 1.25), target(7.5, 0.5, gw=9)])
    ours = check(GRID, targets, reference(GRID, targets, "yolov5"))
    theirs = check(GRID, targets, build_targets_loop(GRID, targets))
    assert ours == theirs
    assert fired(ours) == {"duplicates", "missed-neighbour", "coverage"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: (o[0][:0], o[1], o[2], o[3]), r"tcls: expected a list of 1 levels, got 0"),
        (lambda o: ([o[0][0].float()], o[1], o[2], o[3]), r"tcls: dtype torch.float32"),
        (
            lambda o: (o[0], [o[1][0][:, :3]], o[2], o[3]),
            r"tbox: shape \[3, 3\], expected \[n, 4\]",
        ),
        (lambda o: (o[0], o[1], [o[2][0][:3]], o[3]), r"indices: expected \(b, a, gj, gi\)"),
        (lambda o: (o[0], o[1], o[2], [o[3][0][:1]]), r"anch: shape \[1, 2\]"),
        (lambda o: o[:3], r"expected a 4-tuple"),
    ],
)
def test_shapes_fires(mutate, message: str) -> None:
    targets = torch.tensor([target(2.25, 1.75)])
    violations = check(GRID, targets, mutate(reference(GRID, targets)))
    assert fired(violations) == {"shapes"}
    assert any(pytest.importorskip("re").search(message, v.message) for v in violations), violations


def test_shapes_fires_on_rows_for_no_targets() -> None:
    empty = torch.zeros((0, 6))
    bad = edit(reference(GRID, empty), add=[[0, 0, 1, 2, 1, 0.25, 0.75, 1, 1, 1, 1]])
    assert only(check(GRID, empty, bad), "shapes").message == "nt = 0 but the level has 1 rows"


def test_bounds_fires_on_an_unclamped_cell() -> None:
    """x = 1 without the clamp: gi = nx = 8, tbox 0."""
    targets = torch.tensor([target(8.0, 2.25)])
    bad = edit(
        reference(GRID, targets),
        keep=torch.tensor([False, True]),
        add=[[0, 0, 2, 8, 1, 0.0, 0.25, 1, 1, 1, 1]],
    )
    v = only(check(GRID, targets, bad), "bounds")
    assert v.rows == (1,) and v.level == 0 and "nx=8" in v.message


def test_geometry_fires_on_tbox_from_the_unclamped_cell() -> None:
    """An out-of-place clamp: the cell is clamped to 7 but tbox = gx - 8 = 0."""
    targets = torch.tensor([target(8.0, 2.25)])
    out = reference(GRID, targets)
    out[1][0][:, 0] = 0.0  # both rows are at gi = 7: their tbox_x should be 1.0
    v = only(check(GRID, targets, out), "geometry")
    assert v.rows == (0, 1) and "match no target of image 0 with class 1" in v.message


def test_geometry_fires_on_anchors_left_in_pixels() -> None:
    out = reference(GRID, TARGETS)
    out[3][0] = out[3][0] * 8
    v = only(check(GRID, TARGETS, out), "geometry")
    assert len(v.rows) == len(out[0][0]) and "anchors[0][0] = [1.0, 1.0]" in v.message


def test_geometry_fires_on_swapped_image_and_class_columns() -> None:
    out = reference(GRID, TARGETS)
    b, a, gj, gi = out[2][0]
    out[2][0] = (out[0][0].clone(), a, gj, gi)
    out[0][0][:] = b
    assert out[2][0][0].tolist() != b.tolist()  # the swap changed something
    assert "geometry" in fired(check(GRID, TARGETS, out), "error")


def test_offset_range_and_neighbours_fire_two_cells_away() -> None:
    """gx = 2.25 assigned also to cell 0 with tbox 2.25: geometry holds, reach does not."""
    targets = torch.tensor([target(2.25, 1.75)])
    bad = edit(reference(GRID, targets), add=[[0, 0, 1, 0, 1, 2.25, 0.75, 1, 1, 1, 1]])
    violations = check(GRID, targets, bad)
    assert fired(violations, "error") == {"offset-range", "neighbours"}
    assert only(violations, "offset-range").rows == (3,)
    assert only(violations, "offset-range").targets == (0,)


def test_ratio_fires_on_a_pair_at_the_threshold() -> None:
    """Anchor 1 (4 x 4) against a 1 x 1 target: ratio exactly 4 must not be assigned."""
    targets = torch.tensor([target(2.25, 1.75)])
    bad = edit(reference(GRID, targets), add=[[0, 1, 1, 2, 1, 0.25, 0.75, 1, 1, 4, 4]])
    v = only(check(GRID, targets, bad), "ratio")
    assert v.rows == (3,) and "max(r, 1/r) = 4 is not < anchor_t = 4" in v.message


def test_rows_of_a_target_no_anchor_keeps_are_judged_not_crashed_on() -> None:
    """Anchor 1 only (4 x 4) and a 1 x 1 target: no pair is kept, yet an output writes the
    centre row twice (YOLOv5 with ``<=``, at integer coordinates). The checks once indexed
    the empty pair table here and raised IndexError instead of reporting."""
    problem = dataclasses.replace(GRID, anchors=(((32, 32),),))
    targets = torch.tensor([target(2.0, 1.0)])
    row = [0, 0, 1, 2, 1, 0.0, 0.0, 1, 1, 4, 4]
    bad = edit(reference(problem, targets), add=[row, row])
    found = check(problem, targets, bad)
    assert only(found, "ratio").rows == (0, 1)
    assert only(found, "duplicates").rows == (1,) and only(found, "duplicates").severity == "error"


def test_ratio_fires_on_a_dropped_pair() -> None:
    """Only one way round (r, not 1/r): the 1 x 1 target's centre row is missing."""
    targets = torch.tensor([target(2.25, 1.75), target(5.5, 2.5, gw=2)])
    out = reference(GRID, targets)
    keep = ~((out[2][0][2] == 2) & (out[2][0][3] == 5))  # drop target 1's only row
    v = only(check(GRID, targets, edit(out, keep=keep)), "ratio")
    assert v.targets == (1,) and "(gj, gi) = (2, 5)" in v.message


def test_neighbours_fires_on_a_diagonal_cell() -> None:
    """Diagonal cell (gj + 1, gi - 1) of gxy = (2.25, 1.75): tbox (1.25, -0.25) is in reach."""
    targets = torch.tensor([target(2.25, 1.75)])
    bad = edit(reference(GRID, targets), add=[[0, 0, 2, 1, 1, 1.25, -0.25, 1, 1, 1, 1]])
    v = only(check(GRID, targets, bad), "neighbours")
    assert v.rows == (3,) and "neither the centre cell nor a neighbour" in v.message


def test_neighbours_fires_on_a_missing_neighbour() -> None:
    targets = torch.tensor([target(2.25, 1.75)])
    out = reference(GRID, targets)
    keep = out[2][0][3] != 1  # drop the x - 1 cell
    v = only(check(GRID, targets, edit(out, keep=keep)), "neighbours")
    assert "(gj, gi) = (1, 1)" in v.message and v.targets == (0,)


def test_neighbours_fires_on_the_wrong_side_with_g_one_reach() -> None:
    """g = 0.5 rule, frac .25: the x + 1 cell is on the far side."""
    targets = torch.tensor([target(2.25, 1.5)])
    bad = edit(reference(GRID, targets), add=[[0, 0, 1, 3, 1, -0.75, 0.5, 1, 1, 1, 1]])
    assert fired(check(GRID, targets, bad), "error") == {"neighbours", "offset-range"}


def test_duplicates_is_a_quirk_of_yolov5_at_integer_coordinates() -> None:
    targets = torch.tensor([target(3.0, 2.25)])
    yolov5 = check(GRID, targets, reference(GRID, targets, "yolov5"))
    v = only(yolov5, "duplicates")
    assert v.severity == "quirk" and v.rows == (3,) and v.targets == (0,)
    assert (
        only(
            check(GRID, targets, reference(GRID, targets, "yolov5"), strict=True), "duplicates"
        ).severity
        == "error"
    )
    assert "duplicates" not in fired(check(GRID, targets, reference(GRID, targets)))


def test_duplicates_counts_identical_targets_separately() -> None:
    """Two identical boxes: two rows per cell is right, a third is a duplicate."""
    targets = torch.tensor([target(2.25, 1.75)] * 2)
    out = reference(GRID, targets)
    assert len(out[0][0]) == 6 and fired(check(GRID, targets, out)) == {"collisions"} - {
        "collisions"
    }
    v = only(
        check(GRID, targets, edit(out, add=[[0, 0, 1, 2, 1, 0.25, 0.75, 1, 1, 1, 1]])), "duplicates"
    )
    assert v.targets == (0, 1)


def test_duplicates_beyond_what_the_rule_writes_are_errors() -> None:
    """Integer gx: yolov5 writes its centre cell twice (a quirk); a third row is no rule's."""
    targets = torch.tensor([target(3.0, 2.25)])
    out = reference(GRID, targets, "yolov5")
    third = edit(out, add=[[0, 0, 2, 3, 1, 0.0, 0.25, 1, 1, 1, 1]])
    found = [v for v in check(GRID, targets, third) if v.check == "duplicates"]
    assert [(v.severity, v.rows) for v in found] == [("error", (4,)), ("quirk", (3,))]
    assert "which the yolov5 rule never writes twice" in found[0].message


@pytest.mark.parametrize(
    ("rule", "gxy", "cell"),
    [
        ("centre", (2.25, 1.75), (1, 2)),
        ("yolov5-v4", (3.0, 2.25), (2, 3)),  # v4: integer gx has no x + 1 duplicate
        ("five-positive", (0.0, 2.5), (2, 0)),  # g = 1: the x + 1 test takes cell 1 at x = 0
    ],
)
def test_duplicates_the_rule_never_writes_are_errors(rule: str, gxy, cell) -> None:
    problem = dataclasses.replace(GRID, rule=rule, g=None)
    targets = torch.tensor([target(*gxy)])
    out = reference(problem, targets, "yolov5")
    assert "duplicates" not in fired(check(problem, targets, out))
    (gj, gi) = cell
    tx, ty = gxy[0] - gi, gxy[1] - gj
    v = only(
        check(problem, targets, edit(out, add=[[0, 0, gj, gi, 1, tx, ty, 1, 1, 1, 1]])),
        "duplicates",
    )
    assert v.severity == "error" and f"the {rule} rule never writes twice" in v.message


@pytest.mark.parametrize("rule", ["yolov5-v4", "five-positive"])
def test_x_one_duplicates_are_quirks_of_v4_and_five_positive(rule: str) -> None:
    """x = 1: gx = nx clamps to the last cell, and the x - 1 test lands on it again."""
    problem = dataclasses.replace(GRID, rule=rule, g=None)
    targets = torch.tensor([target(8.0, 2.5)])
    v = only(check(problem, targets, reference(problem, targets, "yolov5")), "duplicates")
    assert v.severity == "quirk" and "gj=2, gi=7" in v.message


def test_the_centre_rule_takes_no_neighbour() -> None:
    """A g = 0.5 output judged as a centre-rule problem: every neighbour row is foreign."""
    centre = dataclasses.replace(GRID, rule="centre", g=None)
    targets = torch.tensor([target(2.25, 1.75)])
    found = check(centre, targets, reference(GRID, targets, "strict"))
    assert fired(found, "error") == {"neighbours", "offset-range"}
    assert "the centre rule (g = 0)" in only(found, "neighbours").message
    assert only(found, "offset-range").message.endswith("tbox_xy outside [0, 1]")
    assert fired(check(centre, targets, reference(centre, targets, "yolov5"))) == set()


def test_a_centre_only_output_misses_the_neighbours_of_yolov5_and_v4() -> None:
    targets = torch.tensor([target(2.25, 1.75)])
    centre_only = reference(dataclasses.replace(GRID, rule="centre", g=None), targets)
    for rule in ("yolov5", "yolov5-v4"):
        problem = dataclasses.replace(GRID, rule=rule, g=None)
        v = only(check(problem, targets, centre_only), "neighbours")
        assert "2 neighbour cell(s)" in v.message and f"the {rule} rule" in v.message


def test_missed_neighbour_is_a_quirk_of_yolov5_at_gx_one() -> None:
    targets = torch.tensor([target(1.0, 1.25)])
    v = only(check(GRID, targets, reference(GRID, targets, "yolov5")), "missed-neighbour")
    assert v.severity == "quirk" and "lacks (gj, gi) = (1, 0)" in v.message
    assert "missed-neighbour" not in fired(check(GRID, targets, reference(GRID, targets)))


def test_collisions_reports_targets_sharing_a_slot() -> None:
    targets = torch.tensor([target(2.5, 1.5), target(2.75, 1.5, gw=2, c=0)])
    v = only(check(GRID, targets, reference(GRID, targets)), "collisions")
    assert v.severity == "info" and v.targets == (0, 1)
    assert fired(check(GRID, targets[:1], reference(GRID, targets[:1]))) == set()


def test_coverage_reports_targets_with_no_positive() -> None:
    targets = torch.tensor([target(2.5, 1.5), target(4.0, 2.0, gw=8, gh=0.1)])
    v = only(check(GRID, targets, reference(GRID, targets)), "coverage")
    assert v.severity == "info" and v.targets == (1,)
    assert "1 of 2 target(s)" in v.message and "realized recall 0.500" in v.message


def test_check_refuses_bad_targets() -> None:
    with pytest.raises(ValueError, match=r"targets row 0, field 'w': must be > 0"):
        check(GRID, torch.tensor([target(2.0, 2.0, gw=0)]), reference(GRID, torch.zeros(0, 6)))
