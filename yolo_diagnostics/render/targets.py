"""GT boxes: the `render_targets` figure, and the box drawing the assignment figure reuses."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from ..problem import Problem
from .inputs import background, check_image_index, check_problem, targets_array
from .panels import encode_png, tile_panels, with_title, zoom, zoomed
from .style import VIOLATION, class_colour, label

MAX_TARGETS = 1000  # GT boxes per image


def render_targets(
    problem: Problem,
    targets: torch.Tensor | np.ndarray,
    *,
    image: np.ndarray | None = None,
    image_index: int = 0,
    class_names: Sequence[str] | None = None,
) -> bytes:
    """GT boxes of one image, drawn at network resolution; PNG bytes.

    Args:
        problem: gives the network input ``(H, W)``.
        targets: ``[nt, 6]`` (image, class, x, y, w, h), xywh normalized to the network input;
            a box spans ``x * W +- w * W / 2`` and ``y * H +- h * H / 2`` pixels.
        image: ``uint8[H, W, 3]`` BGR background (the raw image letterboxed to the network
            input, or the training input); a grey canvas when ``None``.
        image_index: only targets of this image are drawn.
        class_names: label of class ``c`` is ``class_names[c]`` when given, else ``c``.

    Returns:
        A PNG of ``(PAD + TITLE_H + H + PAD) x (PAD + W + PAD)`` pixels.
    """
    check_problem(problem)
    t = targets_array(targets)
    base = zoomed(background(problem, image), zoom(problem))
    check_image_index(problem, image_index)
    mine = np.flatnonzero(t[:, 0] == image_index)
    panel = base.copy()
    drawn = draw_targets(panel, t, mine, {}, class_names)
    h, w = problem.img_size
    lines = [
        f"image {image_index}   {h} x {w} px (H x W)   GT boxes",
        f"{len(mine)} targets" + (f" ({drawn} drawn)" if drawn < len(mine) else ""),
    ]
    return encode_png(tile_panels([with_title(panel, lines)], columns=1))


def draw_targets(
    img: np.ndarray,
    targets: np.ndarray,
    index: np.ndarray,
    checks: dict[int, set[str]],
    class_names: Sequence[str] | None,
    stride: int | None = None,
) -> int:
    """GT boxes ``(x*W, y*H, w*W, h*H)`` of ``targets[index]`` in class colours, centre dot,
    class label, and a red label under targets named by a violation (``checks`` maps a
    target row to check ids). Non-finite rows are skipped. Returns the number drawn.
    The centre dot shrinks on a fine ``stride`` so that it does not hide the cell."""
    h, w = img.shape[:2]
    radius = 3 if stride is None else int(np.clip(stride // 5, 2, 3))
    index = index[np.isfinite(targets[index]).all(1)][:MAX_TARGETS]
    boxes = []
    for k in index.tolist():
        _, c, x, y, bw, bh = targets[k].tolist()
        x0, x1 = np.clip([(x - bw / 2) * w, (x + bw / 2) * w], -w, 2 * w)
        y0, y1 = np.clip([(y - bh / 2) * h, (y + bh / 2) * h], -h, 2 * h)
        cx, cy = np.clip([x * w, y * h], [-w, -h], [2 * w, 2 * h])
        boxes.append((k, int(c), *(round(float(v)) for v in (x0, y0, x1, y1, cx, cy))))
    for _, c, x0, y0, x1, y1, cx, cy in boxes:
        colour = class_colour(c)
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, 2, cv2.LINE_AA)
        cv2.circle(img, (cx, cy), radius + 1, (20, 20, 20), -1, cv2.LINE_AA)
        cv2.circle(img, (cx, cy), radius, colour, -1, cv2.LINE_AA)
    for k, c, x0, y0, _, y1, _, _ in boxes:  # labels last: never under another box
        name = class_names[c] if class_names is not None and 0 <= c < len(class_names) else c
        top = y0 - 2 if y0 > 18 else y0 + 18
        label(img, str(name), x0 - 1, top, class_colour(c))
        found = checks.get(k, set())
        if found:
            label(img, "! " + ",".join(sorted(found)), x0 - 1, min(y1 + 16, h - 2), VIOLATION)
    return len(boxes)
