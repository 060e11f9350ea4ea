"""The TAL scan's counts against independent ones: a dense brute force (every anchor point
against every box, the ``> eps`` test on the floored boxes, in numpy, float32 and float64) and
ultralytics 8.4's own ``select_candidates_in_gts``, on real YOLO datasets of small objects
(sides 1-40 px, edges exactly on anchor centres, boxes at the image border, letterboxed and
non-square inputs) and on the bundled sample.

The scan counts in float32, the dtype of the boxes ultralytics' loss hands its assigner: the
brute force in float32 must agree on every target and level. In float64 the rounding of the
input boxes differs, so a target may change its count only where an edge of its tested box
lies within rounding distance of an anchor coordinate; the test checks that it changes nowhere
else.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yolo_diagnostics.data import load_coco, load_yolo
from yolo_diagnostics.data.boxes import BoxDataset
from yolo_diagnostics.data.sample import SAMPLE_COCO, SAMPLE_IMAGES
from yolo_diagnostics.data.training import TrainingInputs
from yolo_diagnostics.scan.candidates import count_candidates
from yolo_diagnostics.scan.tal import TalScanResult, scan_dataset_tal
from yolo_diagnostics.scan.tal_summary import tal_image_table, tal_summary
from yolo_diagnostics.tal.problem import TalProblem

EPS = 1e-9  # ultralytics' select_candidates_in_gts
# the presets as published, written out here rather than read from TAL_PRESETS:
# strides, the floor as (sides below, become), topk
PRESETS = {
    "ultralytics": ((8, 16, 32), (16.0, 16.0), 10),
    "ultralytics-8.3": ((8, 16, 32), None, 10),
    "one2one": ((8, 16, 32), (16.0, 16.0), 7),
    "tood": ((8, 16, 32), (16.0, 16.0), 13),
    "ultralytics-pre25912": ((8, 16, 32), (8.0, 16.0), 10),
    "ultralytics-p6": ((8, 16, 32, 64), (16.0, 16.0), 10),
}


# --- datasets ---------------------------------------------------------------------------------


def write_yolo(root: Path, images: dict[str, tuple[int, int]], labels: dict[str, list]) -> Path:
    """A YOLO dataset folder: a real PNG of size (w, h) per image and its label lines."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for name, (w, h) in images.items():
        texture = np.random.default_rng(len(name)).integers(0, 255, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / f"{name}.png"), texture)
        lines = [f"{c} {x!r} {y!r} {bw!r} {bh!r}" for c, x, y, bw, bh in labels[name]]
        (root / "labels" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root


def on_anchor_edges(size: int) -> list[tuple[float, float, float, float]]:
    """Pixel boxes (x0, y0, x1, y1) whose edges, or whose floored edges, lie exactly on anchor
    centres of some level, and boxes at the image border."""
    boxes = [
        (4, 4, 12, 12),  # level 0 points on both edges: none inside at level 0, 8 at level 1
        (4, 100, 20, 104),  # 16 x 4: floored about (12, 102) to (4, 94, 20, 110)
        (10, 28, 14, 36),  # 4 x 8 at centre (12, 32): floored onto points 4 and 20
        (40, 40, 56, 56),  # exactly 16 px: not floored, edges 40 and 56 off level 0's points
        (36, 36, 52, 52),  # exactly 16 px on level 0's points 36 and 52
        (8, 200, 24, 216),  # on level 1's points 8 and 24
        (16, 300, 48, 332),  # on level 2's points 16 and 48
        (100, 100, 107.5, 115.5),  # 7.5 x 15.5: under both floors' thresholds
        (200, 200, 208, 216),  # 8 x 16: floored by 8.4, not by the pre-25912 test (8 < 8 fails)
        (0, 0, 1, 1),  # 1 px at the corner: the floored box reaches out of the input
        (0, 250, 3, 290),  # at the left border
        (size - 2, 10, size, 13),  # at the right border (clipped to size - 1e-3)
        (300, size - 5, 340, size),  # at the bottom border
        (0, 0, size, size),  # the whole input
        (60, 60, 84, 84),  # 24 x 24: 9 level-0 points, 7 .. 13 in all depending on position
        (64, 64, 88, 88),
        (120, 124, 148, 152),
    ]
    return [tuple(float(v) for v in b) for b in boxes]


def dyadic_dataset(root: Path, images: int = 12, per_image: int = 70, size: int = 512) -> Path:
    """Images of ``size`` px scanned at ``size``: no letterbox scaling, labels at half-pixel
    positions -- every coordinate exact in float32 -- so that many edges sit exactly on anchor
    centres. Sides 1-40 px, and the `on_anchor_edges` boxes."""
    rng = np.random.default_rng(7)
    files, labels = {}, {}
    for k in range(images):
        sides = rng.integers(2, 81, (per_image, 2)) / 2  # 1 .. 40 px in half-pixel steps
        corner = rng.integers(0, 2 * size, (per_image, 2)) / 2
        corner = np.minimum(corner, size - sides)
        boxes = np.concatenate((corner, corner + sides), 1).tolist()
        if k == 0:
            boxes += on_anchor_edges(size)
        rows = [
            (j % 3, (x0 + x1) / 2 / size, (y0 + y1) / 2 / size, (x1 - x0) / size, (y1 - y0) / size)
            for j, (x0, y0, x1, y1) in enumerate(boxes)
        ]
        files[f"d{k:02d}"], labels[f"d{k:02d}"] = (size, size), rows
    return write_yolo(root, files, labels)


def letterbox_dataset(root: Path) -> Path:
    """Images of other sizes and aspects: letterboxed, their boxes 1-40 px at a 640 input
    (and smaller at a 384 x 640 one), some at the image border."""
    rng = np.random.default_rng(11)
    sizes = [(800, 600), (333, 517), (1000, 250), (640, 640), (97, 1203), (1280, 720)]
    files, labels = {}, {}
    for k, (w, h) in enumerate(sizes):
        scale = 640 / max(w, h)  # network pixels per image pixel at a 640 input
        n = 90
        px = rng.uniform(1, 40, (n, 2)) / scale  # image pixels
        bw, bh = px[:, 0] / w, px[:, 1] / h
        x = rng.uniform(bw / 2, 1 - bw / 2)
        y = rng.uniform(bh / 2, 1 - bh / 2)
        x[:8] = bw[:8] / 2  # touching the left border
        y[8:16] = 1 - bh[8:16] / 2  # touching the bottom border
        rows = [(j % 4, *map(float, v)) for j, v in enumerate(zip(x, y, bw, bh))]
        files[f"l{k}"], labels[f"l{k}"] = (w, h), rows
    return write_yolo(root, files, labels)


@pytest.fixture(scope="module")
def dyadic(tmp_path_factory: pytest.TempPathFactory) -> BoxDataset:
    return load_yolo(dyadic_dataset(tmp_path_factory.mktemp("dyadic")), workers=1)


@pytest.fixture(scope="module")
def letterboxed(tmp_path_factory: pytest.TempPathFactory) -> BoxDataset:
    return load_yolo(letterbox_dataset(tmp_path_factory.mktemp("letterbox")), workers=1)


# --- the independent counts -------------------------------------------------------------------


def input_targets(dataset: BoxDataset, img_size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Per target with an area at the input: its normalized float32 xywh (from the training
    inputs a user's loader yields), its class and its image."""
    inputs = TrainingInputs(dataset, img_size, pixels=False)
    xywh, cls, image = [], [], []
    for k in range(dataset.num_images):
        t = inputs.targets(k).numpy()
        t = t[(t[:, 4] > 0) & (t[:, 5] > 0)]
        xywh.append(t[:, 2:])
        cls.append(t[:, 1].astype(np.int64))
        image.append(np.full(len(t), k))
    return np.concatenate(xywh), np.concatenate(cls), np.concatenate(image)


def to_pixels(xywh: np.ndarray, img_size: tuple[int, int], dtype: type) -> np.ndarray:
    """xyxy pixels as ultralytics' loss computes them (``xywh2xyxy(xywh * (W, H, W, H))``),
    every operation in ``dtype``."""
    h, w = img_size
    t = xywh.astype(dtype) * np.array([w, h, w, h], dtype)
    half = t[:, 2:] / dtype(2)
    return np.concatenate((t[:, :2] - half, t[:, :2] + half), 1)


def floor(boxes: np.ndarray, below: float, side: float) -> np.ndarray:
    """Each side under ``below`` becomes ``side`` about the centre, in the boxes' dtype."""
    dtype = boxes.dtype.type
    centre = (boxes[:, :2] + boxes[:, 2:]) / dtype(2)
    wh = boxes[:, 2:] - boxes[:, :2]
    wh = np.where(wh < dtype(below), dtype(side), wh)
    return np.concatenate((centre - wh / dtype(2), centre + wh / dtype(2)), 1)


def brute_force(boxes: np.ndarray, img_size, strides, floored) -> np.ndarray:
    """``int64[M, nl]``: every anchor point of every level against every box, dense."""
    dtype = boxes.dtype.type
    if floored is not None:
        boxes = floor(boxes, *floored)
    x1, y1, x2, y2 = (boxes[:, k : k + 1] for k in range(4))
    out = []
    for s in strides:
        ny, nx = img_size[0] // s, img_size[1] // s
        gy, gx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        px = ((gx.ravel() + 0.5) * s).astype(dtype)[None]
        py = ((gy.ravel() + 0.5) * s).astype(dtype)[None]
        inside = (px - x1 > EPS) & (py - y1 > EPS) & (x2 - px > EPS) & (y2 - py > EPS)
        out.append(inside.sum(1))
    return np.stack(out, 1)


def ultralytics_counts(boxes: np.ndarray, img_size, strides) -> np.ndarray:
    """``int64[M, nl]`` from ultralytics 8.4's own candidate test (its floor included)."""
    from ultralytics.utils.tal import TaskAlignedAssigner, make_anchors

    feats = [torch.zeros(1, 1, img_size[0] // s, img_size[1] // s) for s in strides]
    points, stride = make_anchors(feats, torch.tensor(strides, dtype=torch.float32), 0.5)
    assigner = TaskAlignedAssigner(topk=10, num_classes=80, alpha=0.5, beta=6.0, stride=strides)
    gt = torch.from_numpy(boxes)[None]
    mask = assigner.select_candidates_in_gts(points * stride, gt, torch.ones(1, len(boxes), 1))
    starts = np.cumsum([0] + [(img_size[0] // s) * (img_size[1] // s) for s in strides])
    return np.stack([mask[0, :, a:b].sum(1).numpy() for a, b in zip(starts, starts[1:])], 1)


def near_an_anchor(boxes: np.ndarray, strides, floored, tolerance: float = 1e-3) -> np.ndarray:
    """``bool[M]``: an edge of the tested box within ``tolerance`` px of a coordinate of the
    anchor points of some level."""
    if floored is not None:
        boxes = floor(boxes.astype(np.float64), *floored)
    near = np.zeros(len(boxes), bool)
    for s in strides:
        offset = np.abs((boxes - s / 2) / s - np.round((boxes - s / 2) / s)) * s
        near |= (offset <= tolerance).any(1)
    return near


def scan(dataset: BoxDataset, preset: str, img_size=(640, 640)) -> TalScanResult:
    return scan_dataset_tal(dataset, TalProblem.preset(preset, img_size=img_size), preset=preset)


# --- the tests --------------------------------------------------------------------------------


def check_against_brute_force(result: TalScanResult, preset: str) -> dict[str, np.ndarray]:
    """Every figure of the scan against the dense count; returns the brute-force totals."""
    strides, floored, topk = PRESETS[preset]
    size = result.problem.img_size
    xywh, cls, image = input_targets(result.dataset, size)
    assert np.array_equal(xywh, result.targets) and np.array_equal(cls, result.cls)
    boxes = to_pixels(xywh, size, np.float32)
    with_floor = brute_force(boxes, size, strides, floored)
    bare = brute_force(boxes, size, strides, None)
    assert np.array_equal(result.per_level, with_floor), preset
    assert np.array_equal(result.per_level_without_floor, bare), preset

    s = tal_summary(result)
    for suffix, counts in (("", with_floor), ("_without_floor", bare)):
        total = counts.sum(1)
        assert s["targets_without_candidates" + suffix] == int((total == 0).sum())
        assert s["targets_below_topk" + suffix] == int(((total > 0) & (total < topk)).sum())
        assert s["candidates_per_level" + suffix] == counts.sum(0).tolist()
        assert s["targets_with_candidates_per_level" + suffix] == (counts > 0).sum(0).tolist()
        hist = s["candidates_per_target" + suffix]
        assert sum(hist.values()) == len(total)
        exact = Counter(total.tolist())
        for n in range(32):
            assert hist.get(str(n), 0) == exact[n], (suffix, n)
        for key, count in hist.items():  # "32-63", "64-127", ...: power-of-two buckets
            if "-" in key:
                low, high = map(int, key.split("-"))
                assert high == 2 * low - 1 and low & (low - 1) == 0
                assert count == int(((total >= low) & (total <= high)).sum()), key
    per_class = {c["class"]: c for c in s["per_class"]}
    total, bare_total = with_floor.sum(1), bare.sum(1)
    for c in np.unique(cls).tolist():
        mine = cls == c
        assert per_class[c]["targets"] == int(mine.sum())
        assert per_class[c]["without_candidates"] == int((total[mine] == 0).sum())
        assert per_class[c]["below_topk"] == int(((total[mine] > 0) & (total[mine] < topk)).sum())
        assert per_class[c]["without_candidates_without_floor"] == int(
            (bare_total[mine] == 0).sum()
        )
    table = tal_image_table(result)
    assert (
        table["without_candidates"].tolist()
        == np.bincount(image[total == 0], minlength=result.dataset.num_images).tolist()
    )
    assert s["floored_targets"] == (
        0 if floored is None else int(((boxes[:, 2:] - boxes[:, :2]) < floored[0]).any(1).sum())
    )
    return {"with_floor": total, "bare": bare_total}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_on_edges_exactly_on_anchor_centres(dyadic: BoxDataset, preset: str) -> None:
    result = scan(dyadic, preset, img_size=(512, 512))
    check_against_brute_force(result, preset)
    # the data exercises the strict test: counting with >= instead of > changes many targets
    boxes = to_pixels(result.targets, (512, 512), np.float32)
    on = near_an_anchor(boxes, PRESETS[preset][0], PRESETS[preset][1], tolerance=0)
    assert on.sum() > 200


@pytest.mark.parametrize("preset", ["ultralytics", "ultralytics-8.3", "tood"])
@pytest.mark.parametrize("img_size", [(640, 640), (384, 640)], ids=["640", "384x640"])
def test_letterboxed_and_non_square_inputs(letterboxed: BoxDataset, preset: str, img_size) -> None:
    result = scan(letterboxed, preset, img_size)
    totals = check_against_brute_force(result, preset)
    assert len(result.box) > 500 and (totals["bare"] == 0).sum() > 50  # small objects indeed


@pytest.mark.parametrize("preset", ["ultralytics", "ultralytics-p6"])
def test_equal_to_ultralytics_own_candidate_test(
    dyadic: BoxDataset, letterboxed: BoxDataset, preset: str
) -> None:
    """ultralytics 8.4.190's ``select_candidates_in_gts``, its floor at strides[1] = 16."""
    for dataset, size in ((dyadic, (512, 512)), (letterboxed, (384, 640))):
        result = scan(dataset, preset, size)
        boxes = to_pixels(result.targets, size, np.float32)
        theirs = ultralytics_counts(boxes, size, list(PRESETS[preset][0]))
        assert np.array_equal(result.per_level, theirs)


@pytest.mark.parametrize("dataset", ["dyadic", "letterboxed"])
def test_float64_differs_only_within_rounding_of_an_anchor(dataset: str, request) -> None:
    """The scan counts in float32 (TAL's dtype at the input). Computed in float64 from the same
    labels, a count changes only where a tested edge lies within 1e-3 px of an anchor
    coordinate: there float32 rounding decides. The dyadic data is exact in both."""
    ds = request.getfixturevalue(dataset)
    size = (512, 512) if dataset == "dyadic" else (640, 640)
    result = scan(ds, "ultralytics", size)
    strides, floored, _ = PRESETS["ultralytics"]
    for f in (floored, None):
        b32 = to_pixels(result.targets, size, np.float32)
        b64 = to_pixels(result.targets, size, np.float64)
        c32 = brute_force(b32, size, strides, f).sum(1)
        c64 = brute_force(b64, size, strides, f).sum(1)
        differ = c32 != c64
        assert not (differ & ~near_an_anchor(b64, strides, f)).any()
        if dataset == "dyadic":
            assert not differ.any()


def test_count_candidates_in_float64_steps_past_eps() -> None:
    """Boxes in float64 whose edges lie within eps (1e-9) of an anchor coordinate: the
    searchsorted boundary is corrected by one step, as the dense test decides."""
    p = TalProblem.preset("ultralytics-8.3", img_size=(64, 64))
    offsets = [-2e-9, -1e-9, -5e-10, 0.0, 5e-10, 1e-9, 2e-9]
    boxes = np.array(
        [[4 + a, 4 + b, 28 - b, 36 + a] for a in offsets for b in offsets], dtype=np.float64
    )
    expected = brute_force(boxes, (64, 64), (8, 16, 32), None)
    got = count_candidates(p, torch.from_numpy(boxes)).numpy()
    assert np.array_equal(got, expected)
    assert len(set(expected[:, 0].tolist())) > 2  # the offsets do change the count
    # in float32 every such box rounds onto the anchor coordinate itself
    got32 = count_candidates(p, torch.from_numpy(boxes.astype(np.float32))).numpy()
    assert np.array_equal(got32, brute_force(boxes.astype(np.float32), (64, 64), (8, 16, 32), None))


def test_presets_move_the_figures_as_they_should(dyadic: BoxDataset) -> None:
    """8.3 has no floor: more targets without a candidate; one2one (topk 7) and tood (topk 13)
    put fewer and more targets below topk than ultralytics (topk 10)."""
    s = {p: tal_summary(scan(dyadic, p, (512, 512))) for p in PRESETS}
    zero = {p: v["targets_without_candidates"] for p, v in s.items()}
    below = {p: v["targets_below_topk"] for p, v in s.items()}
    assert zero["ultralytics"] == 0 and zero["ultralytics-8.3"] > 50
    assert zero["ultralytics-8.3"] == s["ultralytics"]["targets_without_candidates_without_floor"]
    assert below["one2one"] < below["ultralytics"] < below["tood"]
    # the same candidate sets, only topk differs
    assert s["one2one"]["candidates_per_target"] == s["ultralytics"]["candidates_per_target"]
    hist = Counter(
        {int(k): v for k, v in s["ultralytics"]["candidates_per_target"].items() if "-" not in k}
    )
    assert below["ultralytics"] - below["one2one"] == sum(hist[n] for n in range(7, 10))
    assert below["tood"] - below["ultralytics"] == sum(hist[n] for n in range(10, 13))
    # before #25912 the floor's test compared with 8: sides in [8, 16) were not floored
    assert zero["ultralytics-pre25912"] > 0
    assert s["ultralytics-pre25912"]["floored_targets"] < s["ultralytics"]["floored_targets"]


def test_scale_figures_against_brute_force(dyadic: BoxDataset) -> None:
    """``candidates_by_scale``: box sizes x0.5 and x1.5 about their centres, clipped to the
    input (the anchor scan's ``bpr_by_scale`` boxes), counted densely."""
    result = scan_dataset_tal(
        dyadic, TalProblem.preset("ultralytics", img_size=(512, 512)), scale_aug=0.5
    )
    s = tal_summary(result)
    assert set(s["candidates_by_scale"]) == {"0.5", "1", "1.5"}
    for factor in (0.5, 1.0, 1.5):
        xywh = result.targets.astype(np.float64)
        half = xywh[:, 2:] * factor / 2
        low = np.clip(xywh[:, :2] - half, 0, 1)
        high = np.clip(xywh[:, :2] + half, 0, 1)
        scaled = np.concatenate(((low + high) / 2, high - low), 1).astype(np.float32)
        boxes = to_pixels(scaled, (512, 512), np.float32)
        for suffix, floored in (("", (16.0, 16.0)), ("_without_floor", None)):
            total = brute_force(boxes, (512, 512), (8, 16, 32), floored).sum(1)
            got = s["candidates_by_scale" + suffix][f"{factor:g}"]
            assert got == {
                "targets_without_candidates": int((total == 0).sum()),
                "targets_below_topk": int(((total > 0) & (total < 10)).sum()),
            }, (factor, suffix)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_the_bundled_sample(preset: str) -> None:
    result = scan(load_coco(SAMPLE_COCO, SAMPLE_IMAGES, workers=1), preset)
    totals = check_against_brute_force(result, preset)
    assert len(totals["bare"]) == 28 and (totals["bare"] == 0).sum() == 11  # the tiny boats


def test_no_targets(tmp_path: Path) -> None:
    root = write_yolo(tmp_path / "empty", {"a": (64, 48)}, {"a": []})
    s = tal_summary(scan(load_yolo(root, workers=1), "ultralytics"))
    assert s["targets"] == 0 and s["targets_without_candidates"] == 0
    assert s["candidates_per_target"] == {} and s["candidates_per_level"] == [0, 0, 0]
