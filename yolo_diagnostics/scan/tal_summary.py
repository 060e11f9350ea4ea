"""The figures of a TAL scan: the JSON summary, the histogram buckets and the per-image table.

Every figure is an integer count of targets (or of candidate anchor points), with the preset's
small-box floor and, under the same name ending in ``_without_floor``, without it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ..tal.geometry import INSIDE_EPS
from .tal import TalScanResult, below_topk

EXACT_BUCKETS = 32
"""Counts below this get a bucket of their own in ``candidates_per_target``; larger ones share
power-of-two buckets ``"32-63"``, ``"64-127"``, ... (``topk`` is at most 13 in every preset:
the counts that decide a target's fate are all exact)."""

NOTE = (
    "a candidate is an anchor point strictly inside the target's box (min(x - x1, y - y1, "
    "x2 - x, y2 - y) > 1e-9) after the preset's small-box floor, tested in float32 as "
    "ultralytics tests the boxes its loss builds; only candidates can become positives, so a "
    "target without one is never learned, and one with fewer than topk takes all of them "
    "whatever the model predicts"
)


def bucket(count: int) -> str:
    """The ``candidates_per_target`` key of a count (see `EXACT_BUCKETS`)."""
    if count < EXACT_BUCKETS:
        return str(count)
    low = 1 << (int(count).bit_length() - 1)
    return f"{low}-{2 * low - 1}"


def histogram(total: np.ndarray) -> dict[str, int]:
    """``{bucket: targets}`` of candidates per target, buckets ascending, empty ones left out."""
    counts = Counter(total.tolist())
    out: Counter[str] = Counter()
    for count in sorted(counts):
        out[bucket(count)] += counts[count]
    return dict(out)


def tal_summary(result: TalScanResult) -> dict[str, Any]:
    """The JSON summary of a TAL scan (see the README's table of keys)."""
    ds, p = result.dataset, result.problem
    nt = len(result.box)
    figures: dict[str, Any] = {}
    for suffix, per_level, at_scale in (
        ("", result.per_level, result.at_scale),
        ("_without_floor", result.per_level_without_floor, result.at_scale_without_floor),
    ):
        total = per_level.sum(1, dtype=np.int64)
        figures[f"targets_without_candidates{suffix}"] = int((total == 0).sum())
        figures[f"targets_below_topk{suffix}"] = int(below_topk(total, p.topk).sum())
        figures[f"candidates_per_target{suffix}"] = histogram(total)
        figures[f"candidates_per_level{suffix}"] = per_level.sum(0, dtype=np.int64).tolist()
        figures[f"targets_with_candidates_per_level{suffix}"] = (per_level > 0).sum(0).tolist()
        figures[f"candidates_by_scale{suffix}"] = {
            f"{factor:g}": {
                "targets_without_candidates": int((t == 0).sum()),
                "targets_below_topk": int(below_topk(t, p.topk).sum()),
            }
            for factor, t in at_scale.items()
        }
    return {
        "source": ds.source,
        "family": "tal",
        "images": ds.num_images,
        "targets": nt,
        "skipped_annotations": dict(Counter(s.reason for s in result.skipped).most_common()),
        "skipped_images": ds.skipped_image_counts(),
        "restored_jpegs": len(ds.restored),
        "clipped_targets": ds.clipped,
        "floored_targets": int(result.floored.sum()),
        **{k: v for k, v in figures.items() if not k.endswith("_without_floor")},
        **{k: v for k, v in figures.items() if k.endswith("_without_floor")},
        "candidates_note": NOTE,
        "per_class": _per_class(result),
        "config": {
            "family": "tal",
            "preset": result.preset,
            "img_size": list(p.img_size),
            "strides": list(p.strides),
            "topk": p.topk,
            "topk2": p.topk2,
            "alpha": p.alpha,
            "beta": p.beta,
            "eps": p.eps,
            "inside_eps": INSIDE_EPS,
            "stal": p.stal,
            "stal_below": p.stal_below if p.stal else None,
            "stal_side": p.stal_side if p.stal else None,
            "dtype": "float32",
            "scale_aug": result.scale_aug,
        },
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
    }


def _per_class(result: TalScanResult) -> list[dict[str, Any]]:
    """Per class with targets: targets, without candidates and below topk, with and without
    the floor."""
    names = result.dataset.class_names
    cls, k = result.cls, result.problem.topk
    n = len(names)
    columns = {
        "targets": np.bincount(cls, minlength=n),
        "without_candidates": np.bincount(cls[result.total == 0], minlength=n),
        "below_topk": np.bincount(cls[below_topk(result.total, k)], minlength=n),
        "without_candidates_without_floor": np.bincount(
            cls[result.total_without_floor == 0], minlength=n
        ),
        "below_topk_without_floor": np.bincount(
            cls[below_topk(result.total_without_floor, k)], minlength=n
        ),
    }
    return [
        {"class": c, "name": names[c], **{key: int(v[c]) for key, v in columns.items()}}
        for c in np.flatnonzero(columns["targets"]).tolist()
    ]


IMAGE_KEYS = (
    "targets",
    "without_candidates",
    "below_topk",
    "without_candidates_without_floor",
    "below_topk_without_floor",
    "floored",
)


def tal_image_table(result: TalScanResult) -> dict[str, np.ndarray]:
    """Per image ``int64[N]`` columns, named by `IMAGE_KEYS`."""
    n, image, k = result.dataset.num_images, result.image, result.problem.topk
    bare = result.total_without_floor
    return {
        "targets": np.bincount(image, minlength=n),
        "without_candidates": np.bincount(image[result.total == 0], minlength=n),
        "below_topk": np.bincount(image[below_topk(result.total, k)], minlength=n),
        "without_candidates_without_floor": np.bincount(image[bare == 0], minlength=n),
        "below_topk_without_floor": np.bincount(image[below_topk(bare, k)], minlength=n),
        "floored": np.bincount(image[result.floored], minlength=n),
    }


def tal_worst_images(table: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The ``n`` images most worth a look: most targets without candidates, then below topk,
    then without candidates were the floor gone, then floored, then most targets; ties in
    dataset order."""
    keys = [
        -table[k]
        for k in (
            "targets",
            "floored",
            "without_candidates_without_floor",
            "below_topk",
            "without_candidates",
        )
    ]
    return np.lexsort(keys)[: max(n, 0)]
