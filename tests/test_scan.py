"""The scan's figures: hand-chosen boxes whose fate is known, and the chunked counts against
a brute-force count over the full assignment table and against the invariant checks."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from yolo_diagnostics import Problem, assign, check
from yolo_diagnostics.data import load_coco
from yolo_diagnostics.data.synthetic import synthetic_coco
from yolo_diagnostics.scan import REASONS, image_table, scan_dataset, summary, worst_images
from yolo_diagnostics.scan.assignment import count_assignment
from yolo_diagnostics.scan.reasons import MATCHED, unmatched_reasons

P5 = Problem.preset("yolov5-p5")

# (image, category, [x, y, w, h]) in original pixels; images 640 x 480 and 300 x 600 (w x h)
BOXES = [
    (1, 1, [100, 100, 100, 200]),  # a person: matched
    (1, 3, [300, 200, 200, 120]),  # a car: matched
    (1, 1, [10, 10, 2, 2]),  # 2 x 2 px: too small for every anchor
    (1, 1, [400, 50, 4, 300]),  # 4 x 300 px: too long for small anchors, too thin for others
    (2, 1, [50, 100, 150, 400]),  # a standing person, x 640 / 600 at the input
    (2, 3, [0, 0, 1, 1]),  # 1 x 1 px (about 1.07 px at the input): too small
]


def sample(tmp_path: Path, boxes=BOXES) -> Path:
    data = {
        "images": [
            {"id": 1, "file_name": "wide.jpg", "width": 640, "height": 480},
            {"id": 2, "file_name": "tall.jpg", "width": 300, "height": 600},
            {"id": 3, "file_name": "empty.jpg", "width": 500, "height": 500},
        ],
        "annotations": [
            {"id": k + 1, "image_id": i, "category_id": c, "bbox": b, "iscrowd": 0}
            for k, (i, c, b) in enumerate(boxes)
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    return path


def oracle_fit(boxes, problem: Problem) -> tuple[list[bool], list[int]]:
    """Per box, whether any anchor is within anchor_t and how many are, in float64 at the
    input size (the boxes are far from every threshold, so precision plays no part)."""
    sizes = {1: (640, 480), 2: (300, 600)}
    anchors = [a for level in problem.anchors for a in level]
    fits, counts = [], []
    for image, _, (_, _, w, h) in boxes:
        scale = max(problem.img_size) / max(sizes[image])
        ok = [
            max(w * scale / aw, aw / (w * scale), h * scale / ah, ah / (h * scale))
            < problem.anchor_t
            for aw, ah in anchors
        ]
        fits.append(any(ok))
        counts.append(sum(ok))
    return fits, counts


def test_known_fates(tmp_path: Path) -> None:
    result = scan_dataset(load_coco(sample(tmp_path)), P5)
    s = summary(result)
    fits, counts = oracle_fit(BOXES, P5)
    assert fits == [True, True, False, False, True, False]
    assert s["images"] == 3 and s["targets"] == 6 and s["skipped_annotations"] == {}
    assert s["unmatched_targets"] == 3
    assert s["bpr_realized"] == 1 - 3 / 6
    assert s["bpr_autoanchor"] == 3 / 6
    assert s["anchors_per_target"] == sum(counts) / 6
    assert s["unmatched_by_reason"] == {"too-small": 2, "too-large": 0, "aspect": 1}
    assert [REASONS[r] if r != MATCHED else None for r in result.reason] == [
        None,
        None,
        "too-small",
        "aspect",
        None,
        "too-small",
    ]
    assert s["tiny_targets"] == 2  # the 2 x 2 and 1 x 1 boxes
    assert s["per_class"] == [
        {"class": 0, "name": "person", "targets": 4, "unmatched": 2},
        {"class": 1, "name": "car", "targets": 2, "unmatched": 1},
    ]
    hist = Counter(result.counts.positives.sum(1).tolist())
    assert s["positives_per_target"] == {str(k): v for k, v in sorted(hist.items())}
    assert sum(s["positives_per_level"]) == result.counts.positives.sum()
    table = image_table(result)
    assert table["targets"].tolist() == [4, 2, 0] and table["unmatched"].tolist() == [2, 1, 0]
    assert worst_images(table, 2).tolist() == [0, 1]


def test_too_large_needs_small_anchors(tmp_path: Path) -> None:
    tiny_anchors = Problem(
        img_size=(640, 640), strides=(8, 16, 32), anchors=(((4, 4),), ((8, 8),), ((16, 16),))
    )
    s = summary(scan_dataset(load_coco(sample(tmp_path)), tiny_anchors))
    # sides above 64 px exceed every anchor * 4, and the 2 x 2 and 1 x 1 px boxes still fit;
    # the 4 x 300 sliver is too tall for every anchor but also too thin for the 16 x 16 one
    assert s["unmatched_by_reason"] == {"too-small": 0, "too-large": 3, "aspect": 1}
    assert s["bpr_realized"] == 1 - 4 / 6


def test_reasons_one_side_below_one_above() -> None:
    """Too thin and too tall against the same anchor is an aspect problem."""
    one = Problem(img_size=(64, 64), strides=(32,), anchors=(((8, 8),),))
    wh = torch.tensor([[1 / 64, 0.99], [1 / 64, 1 / 64], [1.0, 1.0], [8 / 64, 8 / 64]])
    assert unmatched_reasons(one, wh).tolist() == [2, 0, 1, MATCHED]


def test_scale_augmentation_extremes(tmp_path: Path) -> None:
    """bpr_by_scale at 0.5 and 1.5 equals assigning the scaled boxes for real."""
    data = synthetic_coco(40, 600, seed=3)
    path = tmp_path / "synth.json"
    path.write_text(json.dumps(data))
    result = scan_dataset(load_coco(path), P5, scale_aug=0.5)
    s = summary(result)
    assert list(s["bpr_by_scale"]) == ["0.5", "1", "1.5"]
    assert s["bpr_by_scale"]["1"] == s["bpr_realized"]
    problem = Problem.preset("yolov5-p5", batch_size=40)
    for factor in (0.5, 1.5):
        t = torch.from_numpy(np.column_stack((result.image, result.cls, result.targets)))
        t = t.float()
        x0 = (t[:, 2] - t[:, 4] * factor / 2).clamp(0, 1)
        x1 = (t[:, 2] + t[:, 4] * factor / 2).clamp(0, 1)
        y0 = (t[:, 3] - t[:, 5] * factor / 2).clamp(0, 1)
        y1 = (t[:, 3] + t[:, 5] * factor / 2).clamp(0, 1)
        t[:, 2:] = torch.stack(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), 1)
        covered = torch.zeros(len(t), dtype=torch.bool)
        covered[assign(problem, t).target] = True
        assert s["bpr_by_scale"][f"{factor:g}"] == 1 - int((~covered).sum()) / len(t)
    assert s["bpr_by_scale"]["0.5"] < s["bpr_by_scale"]["1"] <= s["bpr_by_scale"]["1.5"]


@pytest.mark.parametrize("semantics", ["yolov5", "strict"])
def test_chunked_counts_equal_brute_force(semantics: str, device: str) -> None:
    """Positives, duplicates and collisions per image, in chunks of a few images, against
    counting the whole assignment table row by row -- and the invariants' own findings."""
    rng = np.random.default_rng(7)
    n_images, n = 30, 900
    image = np.sort(rng.integers(0, n_images, n))
    xywh = rng.uniform(0.02, 0.98, (n, 4)).astype(np.float32)
    xywh[:, 2:] *= 0.3
    xywh[:200, :2] = (rng.integers(1, 20, (200, 2)) / 20).astype(np.float32)  # on grid lines
    xywh[200:260] = xywh[260:320]  # identical boxes: a collision of two targets
    image[200:260] = image[260:320]
    order = np.argsort(image, kind="stable")
    image, xywh = image[order], xywh[order]
    cls = rng.integers(0, 3, n).astype(np.float32)
    targets = np.column_stack((cls, xywh))
    problem = Problem.preset("yolov5-p5", img_size=(320, 320), num_classes=3)
    counts = count_assignment(
        problem, image, targets, n_images, semantics=semantics, device=device, chunk=50
    )

    whole = Problem.preset("yolov5-p5", img_size=(320, 320), num_classes=3, batch_size=n_images)
    t = torch.from_numpy(np.column_stack((image, targets))).float()
    table = assign(whole, t, semantics=semantics)
    rows = list(
        zip(
            *(
                c.tolist()
                for c in (table.level, table.image, table.anchor, table.gj, table.gi, table.target)
            )
        )
    )
    positives = np.zeros((n, 3), np.int64)
    for level, *_, target in rows:
        positives[target, level] += 1
    assert np.array_equal(counts.positives, positives)
    repeats = Counter(rows)
    dups = Counter({})
    for (_, b, *_), k in repeats.items():
        dups[b] += k - 1
    assert counts.duplicates.tolist() == [dups[b] for b in range(n_images)]
    claimants: dict[tuple, set] = {}
    for level, b, a, gj, gi, target in rows:
        claimants.setdefault((level, b, a, gj, gi), set()).add(target)
    shared = [slot for slot, who in claimants.items() if len(who) > 1]
    assert counts.collisions.tolist() == [
        sum(1 for slot in shared if slot[1] == b) for b in range(n_images)
    ]
    colliding = {t for slot in shared for t in claimants[slot]}
    assert set(np.flatnonzero(counts.colliding).tolist()) == colliding
    assert len(shared) > 0 and (semantics == "strict") == (counts.duplicates.sum() == 0)

    # the invariants, an independent implementation, see the same duplicate rows
    found = check(whole, t.to(device), table.to(device).to_yolov5())
    dup_rows = sum(len(v.rows) for v in found if v.check == "duplicates")
    assert dup_rows == counts.duplicates.sum()
