"""A deterministic generator of large COCO-like datasets, for scale tests.

Image sizes are drawn from the sizes most common in COCO train2017; box sizes follow COCO's
split by area in original pixels (small < 32², medium < 96², large), about 41 %, 34 % and
24 %, with log-uniform side lengths inside each band and a log-normal aspect ratio; boxes per
image have a long tail; class frequencies fall off as in COCO (person most frequent); about 1 %
of annotations are crowd. The same ``seed`` gives the same dataset, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DiagnosticsError

# (height, width) and weight of COCO's most common image sizes
IMAGE_SIZES = (
    ((480, 640), 0.40),
    ((427, 640), 0.20),
    ((640, 480), 0.10),
    ((640, 427), 0.08),
    ((424, 640), 0.06),
    ((375, 500), 0.05),
    ((612, 612), 0.04),
    ((500, 375), 0.04),
    ((360, 640), 0.03),
)
AREA_BANDS = ((4.0, 32.0, 0.41), (32.0, 96.0, 0.35), (96.0, 360.0, 0.24))
"""(smallest, largest side of a square of the box's area in px, share of boxes)."""
CROWD_SHARE = 0.01
NUM_CLASSES = 80


def synthetic_coco(images: int, boxes: int, seed: int = 0) -> dict[str, Any]:
    """A COCO instances dict of ``images`` images and ``boxes`` annotations (crowd included)."""
    if images < 1 or boxes < 0:
        raise DiagnosticsError(
            f"synthetic dataset: need images >= 1 and boxes >= 0, got {images}, {boxes}"
        )
    rng = np.random.default_rng(seed)
    sizes = np.array([s for s, _ in IMAGE_SIZES])
    weights = np.array([w for _, w in IMAGE_SIZES])
    size = sizes[rng.choice(len(sizes), images, p=weights / weights.sum())]

    # boxes per image: a long tail (gamma-distributed image weights), exactly `boxes` in all
    share = rng.gamma(0.8, size=images)
    box_image = np.sort(rng.choice(images, boxes, p=share / share.sum()))
    band = rng.choice(len(AREA_BANDS), boxes, p=[b[2] for b in AREA_BANDS])
    lo = np.log(np.array([b[0] for b in AREA_BANDS]))[band]
    hi = np.log(np.array([b[1] for b in AREA_BANDS]))[band]
    side = np.exp(rng.uniform(lo, hi))  # sqrt of the area
    aspect = np.exp(rng.normal(0.0, 0.6, boxes))  # w / h
    h0, w0 = size[box_image, 0], size[box_image, 1]
    w = np.minimum(side * np.sqrt(aspect), w0 - 1)
    h = np.minimum(side / np.sqrt(aspect), h0 - 1)
    x = rng.uniform(0, 1, boxes) * (w0 - w)
    y = rng.uniform(0, 1, boxes) * (h0 - h)
    ranks = np.arange(1, NUM_CLASSES + 1)
    cls = rng.choice(NUM_CLASSES, boxes, p=(1 / ranks) / (1 / ranks).sum())
    crowd = rng.uniform(0, 1, boxes) < CROWD_SHARE
    bbox = np.round(np.stack((x, y, w, h), 1), 2)

    return {
        "info": {"description": f"yolo-diagnostics synthetic dataset, seed {seed}"},
        "images": [
            {"id": k + 1, "file_name": f"{k + 1:012d}.jpg", "height": int(hh), "width": int(ww)}
            for k, (hh, ww) in enumerate(size.tolist())
        ],
        "annotations": [
            {
                "id": k + 1,
                "image_id": int(i) + 1,
                "category_id": int(c) + 1,
                "bbox": b,
                "area": round(b[2] * b[3], 2),
                "iscrowd": int(z),
            }
            for k, (i, c, b, z) in enumerate(
                zip(box_image.tolist(), cls.tolist(), bbox.tolist(), crowd.tolist())
            )
        ],
        "categories": [{"id": c + 1, "name": f"class{c}"} for c in range(NUM_CLASSES)],
    }


def write_synthetic_coco(path: str | Path, images: int, boxes: int, seed: int = 0) -> Path:
    """Write `synthetic_coco` to ``path`` (compact JSON); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        json.dump(synthetic_coco(images, boxes, seed), f, separators=(",", ":"))
    return path
