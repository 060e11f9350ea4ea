"""GT boxes: on the network input (`render_targets`), on the original image
(`original_figure`), and the box drawing the assignment figure reuses.

A target without a positive (``unmatched``: target row -> reason) is drawn dashed in yellow
and black on every view, labelled with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from ..errors import DiagnosticsError
from ..problem import Problem
from .inputs import background, check_image_index, check_problem, targets_array
from .panels import encode_png, tile_panels, with_title, zoom, zoomed
from .style import (
    BACKGROUND,
    MIN_MARK,
    UNMATCHED,
    VIOLATION,
    class_colour,
    hazard_rectangle,
    label,
)

MAX_TARGETS = 1000  # GT boxes per image


def render_targets(problem: Problem, targets: torch.Tensor | np.ndarray, **options: Any) -> bytes:
    """`targets_figure` (same arguments) encoded as PNG bytes."""
    return encode_png(targets_figure(problem, targets, **options))


def targets_figure(
    problem: Problem,
    targets: torch.Tensor | np.ndarray,
    *,
    image: np.ndarray | None = None,
    image_index: int = 0,
    class_names: Sequence[str] | None = None,
    unmatched: Mapping[int, str] | None = None,
    labels: Mapping[int, str] | None = None,
) -> np.ndarray:
    """GT boxes of one image, drawn at network resolution; ``uint8[h, w, 3]`` BGR.

    Args:
        problem: gives the network input ``(H, W)``.
        targets: ``[nt, 6]`` (image, class, x, y, w, h), xywh normalized to the network input;
            a box spans ``x * W +- w * W / 2`` and ``y * H +- h * H / 2`` pixels.
        image: ``uint8[H, W, 3]`` BGR background (the raw image letterboxed to the network
            input, or the training input); a grey canvas when ``None``.
        image_index: only targets of this image are drawn.
        class_names: label of class ``c`` is ``class_names[c]`` when given, else ``c``.
        unmatched: target rows without a positive, and why: drawn dashed yellow.
        labels: text drawn on a target row instead of its class name (and reason).

    Returns:
        ``(PAD + TITLE_H + H + PAD) x (PAD + W + PAD)`` pixels.
    """
    check_problem(problem)
    t = targets_array(targets)
    base = zoomed(background(problem, image), zoom(problem))
    check_image_index(problem, image_index)
    mine = np.flatnonzero(t[:, 0] == image_index)
    panel = base.copy()
    drawn = draw_targets(panel, t, mine, {}, class_names, unmatched=unmatched, labels=labels)
    h, w = problem.img_size
    lost = sum(1 for k in mine.tolist() if unmatched and k in unmatched)
    lines = [
        f"image {image_index}   {h} x {w} px (H x W)   GT boxes",
        f"{len(mine)} targets"
        + (f", {lost} without a positive" if lost else "")
        + left_out(drawn, len(mine)),
    ]
    return tile_panels([with_title(panel, lines)], columns=1)


def original_figure(
    image: np.ndarray | None,
    size: tuple[int, int],
    targets: torch.Tensor | np.ndarray,
    *,
    title: Sequence[str] = (),
    class_names: Sequence[str] | None = None,
    unmatched: Mapping[int, str] | None = None,
    labels: Mapping[int, str] | None = None,
    max_side: int = 1024,
) -> np.ndarray:
    """GT boxes on the original image, before any resizing; ``uint8[h, w, 3]`` BGR.

    Args:
        image: ``uint8[h0, w0, 3]`` BGR, or ``None`` for a grey canvas of ``size``.
        size: ``(h0, w0)`` of the original image.
        targets: ``[k, 6]`` (image, class, x, y, w, h), xywh normalized to the original
            image; every row is drawn.
        title: up to two lines above the image.
        class_names, unmatched, labels: as for `render_targets`.
        max_side: images larger than this are shown shrunk to it (boxes with them).
    """
    h0, w0 = (int(v) for v in size)
    if image is None:
        image = np.empty((h0, w0, 3), np.uint8)
        image[:] = BACKGROUND
    elif image.shape != (h0, w0, 3) or image.dtype != np.uint8:
        raise DiagnosticsError(
            f"image: expected uint8[{h0}, {w0}, 3], got {image.dtype}{list(image.shape)}"
        )
    scale = min(1.0, max_side / max(h0, w0))
    if scale < 1:
        shown = (max(1, round(w0 * scale)), max(1, round(h0 * scale)))
        image = cv2.resize(image, shown, interpolation=cv2.INTER_AREA)
    panel = np.ascontiguousarray(image).copy()
    t = targets_array(targets)
    drawn = draw_targets(
        panel, t, np.arange(len(t)), {}, class_names, unmatched=unmatched, labels=labels
    )
    lines = list(title)[:2] or [f"{w0} x {h0} px (W x H)", f"{len(t)} boxes"]
    lines[-1] += left_out(drawn, len(t))
    return tile_panels([with_title(panel, lines)], columns=1)


def left_out(drawn: int, total: int) -> str:
    """What a title adds when the cap (`MAX_TARGETS`) or the view left boxes undrawn."""
    return f" ({drawn:,} drawn, {total - drawn:,} left out)" if drawn < total else ""


def draw_targets(
    img: np.ndarray,
    targets: np.ndarray,
    index: np.ndarray,
    checks: dict[int, set[str]],
    class_names: Sequence[str] | None,
    stride: int | None = None,
    unmatched: Mapping[int, str] | None = None,
    labels: Mapping[int, str] | None = None,
    *,
    most: int = MAX_TARGETS,
    most_labels: int | None = None,
) -> int:
    """GT boxes ``(x*W, y*H, w*W, h*H)`` of ``targets[index]`` in class colours, centre dot,
    class label, and a red label under targets named by a violation (``checks`` maps a
    target row to check ids); rows in ``unmatched`` dashed yellow, labelled with their
    reason; ``labels`` replaces a row's label text. Non-finite rows and boxes wholly outside
    ``img`` are skipped. The first ``most`` rows of ``index`` are drawn, the first
    ``most_labels`` of them (all if None) labelled: put the ones that matter first.
    Returns the number drawn.
    The centre dot shrinks on a fine ``stride`` so that it does not hide the cell."""
    unmatched, labels = unmatched or {}, labels or {}
    h, w = img.shape[:2]
    radius = 3 if stride is None else int(np.clip(stride // 5, 2, 3))
    index = index[np.isfinite(targets[index]).all(1)][:most]
    boxes = []
    for k in index.tolist():
        _, c, x, y, bw, bh = targets[k].tolist()
        x0, x1 = np.clip([(x - bw / 2) * w, (x + bw / 2) * w], -w, 2 * w)
        y0, y1 = np.clip([(y - bh / 2) * h, (y + bh / 2) * h], -h, 2 * h)
        cx, cy = np.clip([x * w, y * h], [-w, -h], [2 * w, 2 * h])
        if x1 < 0 or y1 < 0 or x0 > w or y0 > h:
            continue  # another region's box (a close-up): its label would stray onto this one
        boxes.append((k, int(c), *(round(float(v)) for v in (x0, y0, x1, y1, cx, cy))))
    for k, c, x0, y0, x1, y1, cx, cy in boxes:
        colour = class_colour(c)
        if k in unmatched:
            hazard_rectangle(img, x0, y0, x1, y1)
            continue  # no centre dot: the dashes would vanish under it on a tiny box
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, 2, cv2.LINE_AA)
        cv2.circle(img, (cx, cy), radius + 1, (20, 20, 20), -1, cv2.LINE_AA)
        cv2.circle(img, (cx, cy), radius, colour, -1, cv2.LINE_AA)
    for k, c, x0, y0, _, y1, _, _ in boxes[:most_labels]:  # labels last: over every box
        name = class_names[c] if class_names is not None and 0 <= c < len(class_names) else c
        top = y0 - 2 if y0 > 18 else y0 + 18
        if k in unmatched:  # above the mark, which may be drawn larger than the box
            top = min(top, (y0 + y1) // 2 - MIN_MARK // 2 - 3) if y0 > 18 else top
            label(img, labels.get(k, f"{name}: {unmatched[k]}"), x0 - 1, top, UNMATCHED)
        else:
            label(img, labels.get(k, str(name)), x0 - 1, top, class_colour(c))
        found = checks.get(k, set())
        if found:
            label(img, "! " + ",".join(sorted(found)), x0 - 1, min(y1 + 16, h - 2), VIOLATION)
    return len(boxes)
