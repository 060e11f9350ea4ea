"""The figures of a scan: the JSON summary and the per-image table.

Every figure is computed from integer counts: recalls as ``1 - unmatched / targets``, AutoAnchor's
as ``count / targets`` (its means of 0/1 values); ``None`` when there are no targets.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from .reasons import REASONS
from .run import ScanResult

AUTOANCHOR_NOTE = (
    "bpr_autoanchor is YOLOv5 AutoAnchor's best possible recall (label wh scaled so the long "
    "side is the input size, without its random jitter); without augmentation it equals "
    "bpr_realized up to rounding: the letterbox's pixel rounding and float32 rounding of sides "
    "exactly at anchor / anchor_t, since any target passing the ratio test gets its centre cell"
)


def summary(result: ScanResult) -> dict[str, Any]:
    """The JSON summary (see the README's table of keys)."""
    ds, p = result.dataset, result.problem
    nt = len(result.box)
    unmatched = result.unmatched
    reasons = Counter(result.reason[unmatched].tolist())
    per_target = Counter(result.counts.positives.sum(1).tolist())
    cls = result.cls
    targets_per_class = np.bincount(cls, minlength=ds.num_classes)
    unmatched_per_class = np.bincount(cls[unmatched], minlength=ds.num_classes)
    return {
        "source": ds.source,
        "images": ds.num_images,
        "targets": nt,
        "skipped_annotations": dict(Counter(s.reason for s in result.skipped).most_common()),
        "skipped_images": ds.skipped_image_counts(),
        "restored_jpegs": len(ds.restored),
        "clipped_targets": ds.clipped,
        "unmatched_targets": int(unmatched.sum()),
        "bpr_realized": _recall(int(unmatched.sum()), nt),
        "bpr_autoanchor": _fraction(int((result.best > 1 / p.anchor_t).sum()), nt),
        "anchors_per_target": _fraction(int(result.above.sum()), nt),
        "autoanchor_note": AUTOANCHOR_NOTE,
        "bpr_by_scale": {
            f"{factor:g}": _recall(int((~matched).sum()), nt)
            for factor, matched in result.matched_at_scale.items()
        },
        "unmatched_by_reason": {name: reasons.get(k, 0) for k, name in enumerate(REASONS)},
        "tiny_targets": int(result.tiny.sum()),
        "positives_per_level": result.counts.per_anchor.sum(1).tolist(),
        "positives_per_anchor": result.counts.per_anchor.tolist(),
        "positives_per_target": {str(k): per_target[k] for k in sorted(per_target)},
        "duplicates": int(result.counts.duplicates.sum()),
        "collisions": int(result.counts.collisions.sum()),
        "per_class": [
            {"class": c, "name": ds.class_names[c], "targets": int(n), "unmatched": int(u)}
            for c, (n, u) in enumerate(zip(targets_per_class, unmatched_per_class))
            if n
        ],
        "config": {
            "img_size": list(p.img_size),
            "strides": list(p.strides),
            "anchors": [[list(a) for a in level] for level in p.anchors],
            "anchor_t": p.anchor_t,
            "semantics": result.semantics,
            "scale_aug": result.scale_aug,
        },
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
    }


def image_table(result: ScanResult) -> dict[str, np.ndarray]:
    """Per image ``int64[N]`` columns: targets, unmatched, duplicates, collisions, tiny."""
    n, image = result.dataset.num_images, result.image
    return {
        "targets": np.bincount(image, minlength=n),
        "unmatched": np.bincount(image[result.unmatched], minlength=n),
        "duplicates": result.counts.duplicates,
        "collisions": result.counts.collisions,
        "tiny": np.bincount(image[result.tiny], minlength=n),
    }


def worst_images(table: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The ``n`` images most worth a look: most unmatched targets, then collisions, then
    duplicates, then tiny targets, then most targets; ties in dataset order."""
    keys = [-table[k] for k in ("targets", "tiny", "duplicates", "collisions", "unmatched")]
    order = np.lexsort(keys)  # the last key sorts first
    return order[: max(n, 0)]


def _fraction(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _recall(unmatched: int, targets: int) -> float | None:
    """``1 - unmatched / targets``, in that order of operations (the JSON's definition)."""
    return None if targets == 0 else 1 - unmatched / targets
