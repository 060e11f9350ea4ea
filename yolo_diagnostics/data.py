"""Images and targets to the network input: letterbox, as YOLOv5's training pipeline does."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from torch import Tensor


@dataclass(frozen=True)
class Letterbox:
    """A raw image resized to ``resized = (h, w)`` pixels and padded by ``pad = (left, top)``.

    ``image`` is ``uint8[H, W, 3]`` at the network input size.
    """

    image: np.ndarray
    resized: tuple[int, int]
    pad: tuple[int, int]

    def targets(self, raw: Tensor) -> Tensor:
        """Targets ``[nt, 6]`` normalized to the raw image -> normalized to the network input.

        Centres move with the padding (yolort's transform is suspected of padding images
        without shifting their targets; this is the correct mapping to compare with).
        """
        (h, w), (nh, nw), (left, top) = self.image.shape[:2], self.resized, self.pad
        out = raw.double().clone()
        out[:, 2] = (out[:, 2] * nw + left) / w
        out[:, 3] = (out[:, 3] * nh + top) / h
        out[:, 4] = out[:, 4] * nw / w
        out[:, 5] = out[:, 5] * nh / h
        return out.to(raw.dtype)


def letterbox(image: np.ndarray, img_size: tuple[int, int], colour: int = 114) -> Letterbox:
    """Resize ``image`` (``uint8[h0, w0, 3]``) to fit ``img_size = (H, W)`` keeping its aspect
    ratio, and pad it centred with grey ``colour`` (YOLOv5's 114)."""
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"image: expected uint8[h, w, 3], got {getattr(image, 'shape', image)}")
    h0, w0 = image.shape[:2]
    h, w = img_size
    scale = min(h / h0, w / w0)
    nh, nw = round(h0 * scale), round(w0 * scale)
    left, top = (w - nw) // 2, (h - nh) // 2
    canvas = np.full((h, w, 3), colour, np.uint8)
    canvas[top : top + nh, left : left + nw] = cv2.resize(
        image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    return Letterbox(canvas, (nh, nw), (left, top))
