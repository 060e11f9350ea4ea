"""The seed notebook's views of one scanned image, and the table of its targets.

`image_views` draws, for image ``k`` of a `ScanResult`: GT on the original image, GT on the
letterboxed network input, the assignment per level and, when some target gets no positive,
a close-up of those targets. The targets without a positive are dashed yellow on every view;
boxes carry their row number in the targets table (and their class when there are few). The
dataset report's pages and ``yolo-diagnostics show`` use the same views.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import torch

from ..data.letterbox import letterbox
from ..reference import assign
from ..render import assignment_figure, original_figure, targets_figure
from ..render.closeup import closeup_figure, closeup_region
from ..scan.reasons import REASONS
from ..scan.run import ScanResult

FEW_TARGETS = 8  # up to this many, boxes are labelled with their class too


@dataclass(frozen=True)
class ImageViews:
    """What `image_views` made.

    Attributes:
        figures: ``{"original" | "input" | "assignment" | "closeup": uint8[h, w, 3] BGR}``.
        targets: one dict per target (id, name, box, input_wh, positives per level, reason,
            colliding, tiny), in the order their labels number them.
        closeup: the close-up's region ``(x0, y0, x1, y1)`` in input pixels, or ``None``.
        missing: why the views are drawn on grey instead of the image ('' when they are not).
    """

    figures: dict[str, np.ndarray]
    targets: list[dict[str, Any]]
    closeup: tuple[int, int, int, int] | None
    missing: str


def image_views(result: ScanResult, k: int) -> ImageViews:
    """Draw image ``k``'s views (see the module docstring)."""
    ds = result.dataset
    mine = result.targets_of(k)  # in dataset order
    rows = ds.boxes_of(k)
    pixels, missing = image_pixels(result, k)
    names = ds.class_names
    cls = result.cls[mine]
    reasons = {j: REASONS[result.reason[i]] for j, i in enumerate(mine) if result.reason[i] >= 0}
    few = len(mine) <= FEW_TARGETS
    text = {
        j: f"{j} {names[c]}" + (f": {reasons[j]}" if j in reasons else "") if few else str(j)
        for j, c in enumerate(cls.tolist())
    }

    # GT on the original image: every box of the image, numbered like its target
    raw = np.column_stack((np.zeros(rows.stop - rows.start), ds.box_class[rows], ds.boxes[rows]))
    row_of = {j: int(result.box[i]) - rows.start for j, i in enumerate(mine.tolist())}
    h0, w0 = (int(v) for v in ds.sizes[k])
    figures = {
        "original": original_figure(
            pixels,
            (h0, w0),
            raw,
            title=[f"{ds.image_files[k]}   original {w0} x {h0} px (W x H)", f"{len(raw)} boxes"],
            class_names=names,
            unmatched={row_of[j]: r for j, r in reasons.items()},
            labels={row_of[j]: t for j, t in text.items()},
        )
    }

    # the network input and the assignment, of this image alone (batch independence)
    problem = replace(result.problem, batch_size=1)
    targets = torch.from_numpy(
        np.column_stack((np.zeros(len(mine)), cls, result.targets[mine]))
    ).float()
    boxed = None if pixels is None else letterbox(pixels, problem.img_size).image
    shared = {"image": boxed, "class_names": names, "unmatched": reasons, "labels": text}
    figures["input"] = targets_figure(problem, targets, **shared)
    assignment = assign(problem, targets, semantics=result.semantics)
    figures["assignment"] = assignment_figure(problem, targets, assignment, **shared)
    height, width = problem.img_size
    xywh = result.targets[mine[sorted(reasons)]] * [width, height, width, height]
    region = closeup_region(
        problem, np.column_stack((xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2))
    )
    if region is not None:
        figures["closeup"] = closeup_figure(problem, targets, assignment, region, **shared)

    table = [
        {
            "id": int(ds.box_ids[result.box[i]]),
            "name": names[c],
            "box": (x0, y0, x1 - x0, y1 - y0),
            "input_wh": (result.targets[i, 2] * width, result.targets[i, 3] * height),
            "positives": result.counts.positives[i].tolist(),
            "reason": reasons.get(j),
            "colliding": bool(result.counts.colliding[i]),
            "tiny": bool(result.tiny[i]),
        }
        for j, (i, c, (x0, y0, x1, y1)) in enumerate(
            zip(mine.tolist(), cls.tolist(), ds.pixel_boxes(result.box[mine]).tolist())
        )
    ]
    return ImageViews(figures, table, region, missing)


def image_pixels(result: ScanResult, k: int) -> tuple[np.ndarray | None, str]:
    """Image ``k``'s BGR pixels at its recorded size, or ``None`` and why not."""
    path = result.dataset.image_path(k)
    if path is None:
        return None, "no image folder was given"
    if not path.is_file():
        return None, f"image file {path.name} not found"
    pixels = cv2.imread(str(path))
    if pixels is None:
        return None, f"image file {path.name} cannot be decoded"
    if pixels.shape[:2] != tuple(result.dataset.sizes[k]):
        h, w = pixels.shape[:2]
        return None, f"image file {path.name} is {w} x {h} px, not the size the labels give"
    return pixels, ""
