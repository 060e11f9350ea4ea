"""Tests for the OpenCV overlays: real rendering, decoded PNG pixels checked at hand-computed
places.

Most tests use one target on the YOLOv5 P5 problem at 320 x 640 (H x W) and read the level-2
panel (stride 32, grid 10 x 20), the first panel of the second tile row. The target's centre
is at grid (10.3, 4.3) on that level, so YOLOv5 assigns the centre cell (gi, gj) = (10, 4) and
the left (9, 4) and up (10, 3) neighbours, for each of the three anchors. Its box is
120 x 100 px: every level-2 anchor edge and box edge stays clear of the cell interiors read
below, so the most common colour of a cell's interior is its fill colour.
"""

from __future__ import annotations

import re
from collections import Counter

import cv2
import numpy as np
import pytest
import torch

from yolo_diagnostics import Assignment, Problem, Violation, assign, diff, render
from yolo_diagnostics.render import (
    BACKGROUND,
    CENTRE,
    CENTRE_ALPHA,
    EXTRA,
    LEGEND_ROW_H,
    MISSING,
    NEIGHBOUR,
    PAD,
    PALETTE,
    TITLE_H,
    VIOLATION,
    class_colour,
    layout_size,
    render_assignment,
    render_targets,
    tile_panels,
    zoom,
)

H, W = 320, 640
PROBLEM = Problem.preset("yolov5-p5", img_size=(H, W), batch_size=2)
STRIDE = 32  # level 2
TARGET = torch.tensor([[0.0, 3.0, 10.3 / 20, 4.3 / 10, 120 / W, 100 / H]])
CENTRE_CELL, LEFT_CELL, UP_CELL, EMPTY_CELL = (10, 4), (9, 4), (10, 3), (18, 1)


def decode(png: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a PNG"
    return img


def panel(img: np.ndarray, k: int, columns: int = 2) -> np.ndarray:
    """Panel ``k`` of a tiled render (title strip cut off): ``uint8[H, W, 3]``."""
    y = PAD + (k // columns) * (TITLE_H + H + PAD) + TITLE_H
    x = PAD + (k % columns) * (W + PAD)
    return img[y : y + H, x : x + W]


def interior(p: np.ndarray, cell: tuple[int, int], stride: int = STRIDE) -> np.ndarray:
    """Pixels of cell (gi, gj), less a 3 px border (outlines), as ``[n, 3]``."""
    gi, gj = cell
    return p[gj * stride + 3 : (gj + 1) * stride - 3, gi * stride + 3 : (gi + 1) * stride - 3]


def mode(p: np.ndarray, cell: tuple[int, int]) -> tuple[int, int, int]:
    """The most common colour in the interior of a cell."""
    return Counter(map(tuple, interior(p, cell).reshape(-1, 3).tolist())).most_common(1)[0][0]


def count(pixels: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int((pixels.reshape(-1, 3) == colour).all(1).sum())


def blend(under: tuple[int, ...], over: tuple[int, ...], alpha: float) -> np.ndarray:
    mixed = np.float32(under) * np.float32(1 - alpha) + np.float32(alpha) * np.float32(over)
    return np.rint(mixed).astype(int)


def close(actual: tuple[int, ...], expected: object) -> bool:
    return bool(np.abs(np.asarray(actual, int) - np.asarray(expected, int)).max() <= 1)


def reddish(colour: tuple[int, int, int]) -> bool:
    b, g, r = colour
    return r > g + 60 and r > b + 60


def level2_row(a: Assignment, cell: tuple[int, int], offset: int, anchor: int = 0) -> int:
    hit = ((a.level == 2) & (a.gi == cell[0]) & (a.gj == cell[1]) & (a.anchor == anchor)) & (
        a.offset == offset
    )
    (rows,) = torch.nonzero(hit, as_tuple=True)
    assert len(rows) == 1
    return int(rows[0])


@pytest.fixture(scope="module")
def table() -> Assignment:
    a = assign(PROBLEM, TARGET)
    level2 = a.level == 2
    cells = set(zip(a.gi[level2].tolist(), a.gj[level2].tolist()))
    assert cells == {CENTRE_CELL, LEFT_CELL, UP_CELL}  # the hand computation above
    return a


@pytest.fixture(scope="module")
def plain(table: Assignment) -> np.ndarray:
    return decode(render_assignment(PROBLEM, TARGET, table))


# ----------------------------------------------------------------------------- layout
def test_layout_three_levels_non_square() -> None:
    # 2 columns x 2 rows of (44 + 320) x 640 panels, 10 px padding, one 28 px legend row.
    assert layout_size(PROBLEM) == (2 * (44 + 320) + 3 * 10 + 28 + 10, 2 * 640 + 3 * 10)
    assert layout_size(PROBLEM) == (796, 1310)


def test_rendered_size_matches_layout(table: Assignment, plain: np.ndarray) -> None:
    assert plain.shape == (796, 1310, 3)
    per_anchor = decode(render_assignment(PROBLEM, TARGET, table, per_anchor=True))
    # 3 levels x 3 anchors: rows = levels, columns = anchors.
    assert per_anchor.shape == (3 * (44 + 320) + 4 * 10 + 38, 3 * 640 + 4 * 10, 3)
    assert per_anchor.shape[:2] == layout_size(PROBLEM, per_anchor=True)


def test_four_levels_empty_assignment() -> None:
    p6 = Problem.preset("yolov5-p6", img_size=(512, 768))
    empty = torch.zeros((0, 6))
    img = decode(render_assignment(p6, empty, assign(p6, empty)))
    assert img.shape[:2] == layout_size(p6) == (2 * (44 + 512) + 30 + 38, 2 * 768 + 30)
    level3 = img[PAD + 2 * TITLE_H + 512 + PAD :, PAD + 768 + PAD :][:512, :768]
    # Nothing but background and the grid lines at stride 64.
    off_grid = np.ones((512, 768), bool)
    off_grid[::64, :] = off_grid[:, ::64] = False
    off_grid[-1, :] = off_grid[:, -1] = False
    assert (level3[off_grid] == BACKGROUND).all()
    assert not (level3[~off_grid] == BACKGROUND).all(1).any()


def test_small_inputs_are_zoomed() -> None:
    """A 64 x 96 input (a shrunk case) is drawn 5 times larger: 96 * 5 >= MIN_PANEL_SIDE."""
    small = Problem(img_size=(64, 96), strides=(8,), anchors=(((8, 8),),))
    assert zoom(small) == 5 and zoom(PROBLEM) == 1
    target = torch.tensor([[0, 0, 20 / 96, 12 / 64, 8 / 96, 8 / 64]])  # gx = 2.5, gy = 1.5
    img = decode(render_assignment(small, target, assign(small, target)))
    assert img.shape[:2] == layout_size(small) and img.shape[1] == 5 * 96 + 2 * PAD
    panel = img[PAD + TITLE_H :, PAD:][: 5 * 64, : 5 * 96]
    # the centre cell (gi, gj) = (2, 1) spans x in [80, 120), y in [40, 80) when zoomed
    assert panel[44, 84].tolist() != panel[44 + 40, 84].tolist()  # the cell below is empty
    assert (panel[44 + 40, 84 + 40] == BACKGROUND).all()


def test_render_targets_size() -> None:
    img = decode(render_targets(PROBLEM, TARGET))
    assert img.shape == (PAD + TITLE_H + H + PAD, PAD + W + PAD, 3)


def test_tile_panels_pads_and_places() -> None:
    a = np.full((4, 6, 3), 1, np.uint8)
    b = np.full((2, 3, 3), 2, np.uint8)
    out = tile_panels([a, b, a], columns=2)
    assert out.shape == (2 * 4 + 3 * PAD, 2 * 6 + 3 * PAD, 3)
    assert (out[PAD : PAD + 4, PAD : PAD + 6] == 1).all()
    assert (out[PAD : PAD + 2, 2 * PAD + 6 : 2 * PAD + 9] == 2).all()
    assert (out[2 * PAD + 4 : 2 * PAD + 8, PAD : PAD + 6] == 1).all()
    assert (out[0, 0] != 1).all()


# ----------------------------------------------------------------------------- cells
def test_centre_cell_has_the_centre_fill(plain: np.ndarray) -> None:
    level2 = panel(plain, 2)
    assert close(mode(level2, CENTRE_CELL), blend(BACKGROUND, CENTRE, CENTRE_ALPHA))
    # a solid fill: one colour away from the GT centre dot (top-left of the cell)
    assert len({tuple(c) for c in interior(level2, CENTRE_CELL)[12:22, 12:22].reshape(-1, 3)}) == 1


def test_neighbour_cells_are_hatched_not_solid(plain: np.ndarray) -> None:
    level2 = panel(plain, 2)
    centre_fill = mode(level2, CENTRE_CELL)
    for cell in (LEFT_CELL, UP_CELL):
        pixels = interior(level2, cell)
        assert mode(level2, cell) != centre_fill
        assert count(pixels, centre_fill) == 0
        colours = Counter(map(tuple, pixels.reshape(-1, 3).tolist())).most_common(2)
        # light fill and hatch lines, both amber-tinted (red, green above blue)
        assert colours[1][1] > 0.15 * pixels.size / 3
        for (b, g, r), _ in colours:
            assert r > b and g > b


def test_unassigned_cell_is_background(plain: np.ndarray) -> None:
    assert (interior(panel(plain, 2), EMPTY_CELL) == BACKGROUND).all()


def test_unknown_provenance_is_decided_geometrically(table: Assignment) -> None:
    without = Assignment.from_yolov5(table.to_yolov5())
    assert (without.offset == -1).all()
    assert render_assignment(PROBLEM, TARGET, without) == render_assignment(PROBLEM, TARGET, table)


def test_per_anchor_panels_show_only_their_anchor() -> None:
    # 40 x 30 px passes the ratio test of level-2 anchor 0 (116, 90) only.
    small = torch.tensor([[0.0, 1.0, 10.5 / 20, 4.5 / 10, 40 / W, 30 / H]])
    img = decode(render_assignment(PROBLEM, small, assign(PROBLEM, small), per_anchor=True))
    fill = blend(BACKGROUND, CENTRE, CENTRE_ALPHA)
    anchor0, anchor1 = panel(img, 6, columns=3), panel(img, 7, columns=3)
    assert close(mode(anchor0, CENTRE_CELL), fill)
    assert mode(anchor1, CENTRE_CELL) == BACKGROUND


# ----------------------------------------------------------------------------- GT boxes
def test_gt_box_edge_has_the_class_colour(plain: np.ndarray) -> None:
    colour = class_colour(3)
    x0 = round((10.3 / 20 - 60 / W) * W)  # left edge, at the target's centre row
    y = round(4.3 / 10 * H)
    for k in range(3):  # every level panel draws the GT boxes
        assert tuple(panel(plain, k)[y, x0]) == colour
    assert class_colour(3) == PALETTE[3] and class_colour(3 + len(PALETTE)) == PALETTE[3]
    assert len(set(PALETTE)) == len(PALETTE)


def test_gt_x_scales_by_width_and_y_by_height() -> None:
    # Near the right edge of a 320 x 640 (H x W) input: x = 0.9 is pixel 576, not 288.
    t = torch.tensor([[0.0, 5.0, 0.9, 0.25, 0.05, 0.1]])
    for png in (render_targets(PROBLEM, t), render_assignment(PROBLEM, t, assign(PROBLEM, t))):
        p = panel(decode(png), 0)
        colour = class_colour(5)
        left, right = round(0.875 * W), round(0.925 * W)  # 560, 592
        top, bottom = round(0.2 * H), round(0.3 * H)  # 64, 96
        row = round(0.25 * H)
        assert tuple(p[row, left]) == colour and tuple(p[row, right]) == colour
        assert tuple(p[top, 576]) == colour and tuple(p[bottom, 576]) == colour
        assert count(p[:, 240:330], colour) == 0  # where the H-scaled (seed) bug would draw


def test_class_names_label_the_box() -> None:
    t = torch.tensor([[0.0, 1.0, 0.5, 0.5, 0.3, 0.3]])
    by_id = decode(render_targets(PROBLEM, t))
    by_name = decode(render_targets(PROBLEM, t, class_names=["person", "bicycle"]))
    label = np.s_[:, 220:330]  # the label strip above the box's top-left corner
    assert (by_id[label] != by_name[label]).any()
    assert count(by_name, class_colour(1)) > count(by_id, class_colour(1))  # a longer label


# ----------------------------------------------------------------------------- red
def test_violation_row_is_red_at_its_cell(table: Assignment) -> None:
    row = level2_row(table, CENTRE_CELL, offset=0)
    v = Violation("geometry", "error", 2, (row,), (), "hand-made")
    img = decode(render_assignment(PROBLEM, TARGET, table, violations=[v]))
    level2 = panel(img, 2)
    assert reddish(mode(level2, CENTRE_CELL))
    x0, y0 = CENTRE_CELL[0] * STRIDE, CENTRE_CELL[1] * STRIDE
    assert tuple(level2[y0 + 20, x0 + 1]) == VIOLATION  # the 2 px outline
    # its check id is written right of the cell, in a red box
    assert count(level2[y0 : y0 + STRIDE, x0 + STRIDE : x0 + STRIDE + 70], VIOLATION) > 200
    assert not reddish(mode(level2, LEFT_CELL))
    assert not reddish(mode(panel(img, 0), CENTRE_CELL))


def test_violation_target_gets_a_red_label(table: Assignment, plain: np.ndarray) -> None:
    v = Violation("coverage", "info", None, (), (0,), "hand-made")
    img = decode(render_assignment(PROBLEM, TARGET, table, violations=[v]))
    bottom = round((4.3 / 10 + 50 / H) * H)
    x0 = round((10.3 / 20 - 60 / W) * W)
    under = np.s_[bottom : bottom + 16, x0 : x0 + 60]
    for k in range(3):
        assert count(panel(img, k)[under], VIOLATION) > 100
        assert count(panel(plain, k)[under], VIOLATION) == 0


def test_out_of_grid_and_nan_rows_are_red(table: Assignment) -> None:
    gi, gj, tbox = table.gi.clone(), table.gj.clone(), table.tbox.clone()
    far = level2_row(table, CENTRE_CELL, offset=0)
    below = level2_row(table, LEFT_CELL, offset=1)
    nan = level2_row(table, UP_CELL, offset=2)
    gi[far] = 10**12  # drawn clamped into column 19
    gj[below] = -3  # drawn clamped into row 0
    tbox[nan, 0] = float("nan")
    broken = Assignment(
        **{**{k: getattr(table, k) for k in ("level", "image", "anchor", "cls", "anch")}},
        gi=gi,
        gj=gj,
        tbox=tbox,
        target=table.target,
        offset=torch.full_like(table.offset, -1),
        num_levels=table.num_levels,
    )
    level2 = panel(decode(render_assignment(PROBLEM, TARGET, broken)), 2)
    for cell in ((19, CENTRE_CELL[1]), (LEFT_CELL[0], 0), UP_CELL):
        assert reddish(mode(level2, cell)), cell
        assert tuple(level2[cell[1] * STRIDE + 20, cell[0] * STRIDE + 1]) == VIOLATION


def test_row_cap_keeps_red_rows_first(table: Assignment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render.levels, "MAX_ROWS", 1)
    v = Violation("neighbours", "error", 2, (level2_row(table, UP_CELL, offset=2),), (), "x")
    level2 = panel(decode(render_assignment(PROBLEM, TARGET, table, violations=[v])), 2)
    assert reddish(mode(level2, UP_CELL))
    assert mode(level2, CENTRE_CELL) == BACKGROUND  # over the cap: not drawn
    assert mode(level2, LEFT_CELL) == BACKGROUND


# ----------------------------------------------------------------------------- diff
def test_diff_extra_and_missing_have_their_styles(table: Assignment) -> None:
    keep = ~((table.level == 2) & (table.gi == UP_CELL[0]) & (table.gj == UP_CELL[1]))
    actual = table.select(keep)
    spurious = table.select(torch.tensor([level2_row(table, CENTRE_CELL, offset=0)]))
    spurious = Assignment(
        **{
            k: getattr(spurious, k)
            for k in ("level", "image", "anchor", "cls", "tbox", "anch", "target", "offset")
        },
        gi=torch.tensor([EMPTY_CELL[0]]),
        gj=torch.tensor([EMPTY_CELL[1]]),
        num_levels=3,
    )
    actual = Assignment(
        **{
            k: torch.cat((getattr(actual, k), getattr(spurious, k)))
            for k in ("level", "image", "anchor", "gj", "gi", "cls", "tbox", "anch")
            + ("target", "offset")
        },
        num_levels=3,
    )
    d = diff(table, actual)
    assert (len(d.missing), len(d.extra)) == (3, 1)
    img = decode(render_assignment(PROBLEM, TARGET, actual, diff=d))
    assert img.shape[:2] == layout_size(PROBLEM, with_diff=True)
    level2 = panel(img, 2)

    def whole(cell: tuple[int, int]) -> np.ndarray:
        gi, gj = cell
        return level2[gj * STRIDE : (gj + 1) * STRIDE, gi * STRIDE : (gi + 1) * STRIDE]

    assert count(whole(EMPTY_CELL), EXTRA) > 100  # cross-hatch, outline and "+"
    assert count(whole(EMPTY_CELL), MISSING) == 0
    assert count(whole(UP_CELL), MISSING) > 40  # dashed outline and "-"
    assert count(whole(UP_CELL), EXTRA) == 0
    assert count(whole(UP_CELL), NEIGHBOUR) == 0  # no longer assigned
    assert count(whole(CENTRE_CELL), EXTRA) == count(whole(CENTRE_CELL), MISSING) == 0


# ----------------------------------------------------------------------------- image, misc
def test_image_shows_through_unassigned_cells(table: Assignment) -> None:
    colour = (200, 120, 30)
    image = np.empty((H, W, 3), np.uint8)
    image[:] = colour
    img = decode(render_assignment(PROBLEM, TARGET, table, image=image))
    assert (interior(panel(img, 2), EMPTY_CELL) == colour).all()
    assert close(mode(panel(img, 2), CENTRE_CELL), blend(colour, CENTRE, CENTRE_ALPHA))
    targets_only = panel(decode(render_targets(PROBLEM, TARGET, image=image)), 0)
    assert (interior(targets_only, EMPTY_CELL) == colour).all()


def test_only_the_chosen_image_is_drawn(table: Assignment) -> None:
    other = decode(render_assignment(PROBLEM, TARGET, table, image_index=1))
    level2 = panel(other, 2)
    assert mode(level2, CENTRE_CELL) == BACKGROUND
    assert count(level2, class_colour(3)) == 0


def test_same_inputs_same_bytes(table: Assignment) -> None:
    v = [Violation("ratio", "error", 2, (0, 5), (0,), "x")]
    first = render_assignment(PROBLEM, TARGET, table, violations=v, diff=diff(table, table))
    again = render_assignment(PROBLEM, TARGET, table, violations=v, diff=diff(table, table))
    assert first == again
    assert first[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"image": np.zeros((H, W), np.uint8)}, "image"),
        ({"image": np.zeros((W, H, 3), np.uint8)}, "image"),
        ({"image": np.zeros((H, W, 3), np.float32)}, "image"),
        ({"image_index": 2}, "image_index"),
        ({"violations": ["geometry"]}, "violations[0]"),
    ],
)
def test_bad_input_names_the_field(table: Assignment, kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field) + ":"):
        render_assignment(PROBLEM, TARGET, table, **kwargs)


def test_bad_targets_and_assignment_are_refused(table: Assignment) -> None:
    with pytest.raises(ValueError, match=r"^targets: expected shape \[nt, 6\]"):
        render_targets(PROBLEM, torch.zeros(3, 5))
    with pytest.raises(ValueError, match="^assignment: expected an Assignment"):
        render_assignment(PROBLEM, TARGET, table.to_yolov5())  # type: ignore[arg-type]


def test_legend_wraps_to_the_width() -> None:
    narrow = Problem(img_size=(64, 96), strides=(32,), anchors=(((40, 40),),))
    h, w = layout_size(narrow, with_diff=True)
    assert w == 5 * 96 + 2 * PAD  # zoomed 5 times to MIN_PANEL_SIDE
    rows = (h - (TITLE_H + 5 * 64 + 2 * PAD) - PAD) // LEGEND_ROW_H
    assert rows >= 2  # seven entries do not fit in one row of 500 px
    empty = torch.zeros((0, 6))
    a = assign(narrow, empty)
    img = decode(render_assignment(narrow, empty, a, diff=diff(a, a)))
    assert img.shape[:2] == (h, w)
