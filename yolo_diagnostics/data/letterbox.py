"""Images and labels to the network input, exactly as YOLOv5's training pipeline builds them
without augmentation (``utils/dataloaders.py`` and ``utils/augmentations.py``, yolov5 7.0).

1. ``load_image``: ``r = S / max(h0, w0)`` with ``S = max(H, W)``; when ``r != 1`` the image is
   resized to ``(ceil(w0 * r), ceil(h0 * r))`` (``INTER_AREA`` shrinking, ``INTER_LINEAR``
   enlarging) -- so the long side is ``S``, up or down.
2. ``letterbox(img, (H, W), auto=False, scaleup=False)``: ``r2 = min(H / h, W / w, 1)``, the
   image resized to ``(round(w * r2), round(h * r2))`` and padded with grey 114 by
   ``top, bottom = round(dh - 0.1), round(dh + 0.1)`` (likewise left, right) where
   ``dw, dh`` are half the padding as floats.
3. Labels (normalized xywh of the original image, float32) go to pixels with
   ``xywhn2xyxy(labels, r2 * w, r2 * h, padw=dw, padh=dh)`` -- the *float* pads, so a label can
   sit half a pixel from the image content, as in YOLOv5 -- and back with
   ``xyxy2xywhn(..., clip=True, eps=1e-3)``, which clips them to the canvas.

A square ``(S, S)`` input is YOLOv5's training input; a non-square ``(H, W)`` is what its
``rect`` batches do: load at the long side ``max(H, W)``, then letterbox to ``(H, W)``.
Label arithmetic is float32 with the per-image factors rounded to float32 first, as numpy
does for YOLOv5's Python-float factors, so targets equal YOLOv5's bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from torch import Tensor

from ..errors import DiagnosticsError

PAD_COLOUR = 114
CLIP_EPS = 1e-3  # xyxy2xywhn(clip=True, eps=1e-3): boxes end 1e-3 px inside the canvas


@dataclass(frozen=True)
class InputGeometry:
    """How each of ``N`` original images maps to the network input ``img_size = (H, W)``.

    Attributes:
        img_size: the network input ``(H, W)``.
        loaded: ``int64[N, 2]`` ``(h, w)`` after ``load_image`` (long side ``max(H, W)``).
        resized: ``int64[N, 2]`` ``(h, w)`` of the image content on the canvas.
        label_size: ``float64[N, 2]`` ``(r2 * h, r2 * w)``: the network pixels that one
            normalized unit of a label spans (YOLOv5's ``ratio * h``, ``ratio * w``).
        pad: ``float64[N, 2]`` ``(dw, dh)``: the float padding labels are shifted by.
        offset: ``int64[N, 2]`` ``(left, top)``: where the image content starts.
    """

    img_size: tuple[int, int]
    loaded: np.ndarray
    resized: np.ndarray
    label_size: np.ndarray
    pad: np.ndarray
    offset: np.ndarray

    def __len__(self) -> int:
        return len(self.loaded)


def input_geometry(sizes: np.ndarray, img_size: tuple[int, int]) -> InputGeometry:
    """The YOLOv5 geometry of images of ``sizes`` (``int[N, 2]`` original ``(h0, w0)``)."""
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    if len(sizes) and sizes.min() <= 0:
        raise DiagnosticsError(f"image sizes must be positive, got {sizes[sizes.min(1) <= 0][0]}")
    height, width = (int(v) for v in img_size)
    h0, w0 = sizes[:, 0].astype(np.float64), sizes[:, 1].astype(np.float64)
    r = max(height, width) / np.maximum(h0, w0)
    same = r == 1  # load_image leaves the image as it is
    h = np.where(same, h0, np.ceil(h0 * r))
    w = np.where(same, w0, np.ceil(w0 * r))
    r2 = np.minimum(np.minimum(height / h, width / w), 1.0)  # scaleup=False
    new_w, new_h = np.round(w * r2), np.round(h * r2)  # half to even, as Python's round
    dw, dh = (width - new_w) / 2, (height - new_h) / 2
    return InputGeometry(
        img_size=(height, width),
        loaded=np.stack((h, w), 1).astype(np.int64),
        resized=np.stack((new_h, new_w), 1).astype(np.int64),
        label_size=np.stack((r2 * h, r2 * w), 1),
        pad=np.stack((dw, dh), 1),
        offset=np.stack((np.round(dw - 0.1), np.round(dh - 0.1)), 1).astype(np.int64),
    )


def labels_to_input(labels: np.ndarray, image: np.ndarray, geometry: InputGeometry) -> np.ndarray:
    """Labels ``float32[M, 4]`` (normalized xywh of their original image ``image[M]``) ->
    ``float32[M, 4]`` normalized xywh of the network input, clipped to it as YOLOv5 does."""
    x = np.asarray(labels, dtype=np.float32).reshape(-1, 4)
    image = np.asarray(image, dtype=np.int64)
    height, width = geometry.img_size
    # the per-image Python floats of YOLOv5 act on float32 arrays as float32 values
    sx = geometry.label_size[image, 1].astype(np.float32)
    sy = geometry.label_size[image, 0].astype(np.float32)
    padw = geometry.pad[image, 0].astype(np.float32)
    padh = geometry.pad[image, 1].astype(np.float32)
    half_w, half_h = x[:, 2] / np.float32(2), x[:, 3] / np.float32(2)
    x0 = np.clip(sx * (x[:, 0] - half_w) + padw, 0, np.float32(width - CLIP_EPS))
    y0 = np.clip(sy * (x[:, 1] - half_h) + padh, 0, np.float32(height - CLIP_EPS))
    x1 = np.clip(sx * (x[:, 0] + half_w) + padw, 0, np.float32(width - CLIP_EPS))
    y1 = np.clip(sy * (x[:, 1] + half_h) + padh, 0, np.float32(height - CLIP_EPS))
    w, h = np.float32(width), np.float32(height)
    out = np.empty_like(x)
    out[:, 0] = ((x0 + x1) / np.float32(2)) / w
    out[:, 1] = ((y0 + y1) / np.float32(2)) / h
    out[:, 2] = (x1 - x0) / w
    out[:, 3] = (y1 - y0) / h
    return out


@dataclass(frozen=True)
class Letterbox:
    """A raw image resized to ``resized = (h, w)`` pixels and padded to the network input.

    ``image`` is ``uint8[H, W, 3]``. ``pad = (left, top)`` is how far labels are shifted, and
    ``label_size = (h, w)`` how many network pixels one normalized unit of a raw label spans
    (``resized`` when not given; YOLOv5's float pads and unrounded sizes otherwise).
    """

    image: np.ndarray
    resized: tuple[int, int]
    pad: tuple[float, float]
    label_size: tuple[float, float] | None = None

    def targets(self, raw: Tensor) -> Tensor:
        """Targets ``[nt, 6]`` normalized to the raw image -> normalized to the network input.

        Centres move with the padding (yolort's transform is suspected of padding images
        without shifting their targets; this is the correct mapping to compare with).
        """
        (h, w), (lh, lw), (left, top) = (
            self.image.shape[:2],
            self.label_size or self.resized,
            self.pad,
        )
        out = raw.double().clone()
        out[:, 2] = (out[:, 2] * lw + left) / w
        out[:, 3] = (out[:, 3] * lh + top) / h
        out[:, 4] = out[:, 4] * lw / w
        out[:, 5] = out[:, 5] * lh / h
        return out.to(raw.dtype)


def letterbox(image: np.ndarray, img_size: tuple[int, int]) -> Letterbox:
    """``image`` (``uint8[h0, w0, 3]``) as YOLOv5 feeds it to a network of input
    ``img_size = (H, W)`` without augmentation: `load_image`, then `letterbox_pixels`."""
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3):
        raise DiagnosticsError(
            f"image: expected uint8[h, w, 3], got {getattr(image, 'shape', image)}"
        )
    geometry = input_geometry(np.array([image.shape[:2]]), img_size)
    loaded = load_image(image, max(img_size))
    canvas = letterbox_pixels(loaded, img_size)
    (lh, lw), (dw, dh) = geometry.label_size[0].tolist(), geometry.pad[0].tolist()
    resized = tuple(int(v) for v in geometry.resized[0])
    return Letterbox(canvas, (resized[0], resized[1]), (dw, dh), (lh, lw))


def load_image(image: np.ndarray, long_side: int) -> np.ndarray:
    """YOLOv5's ``load_image`` without augmentation: the long side resized to ``long_side``."""
    h0, w0 = image.shape[:2]
    r = long_side / max(h0, w0)
    if r == 1:
        return image
    interpolation = cv2.INTER_LINEAR if r > 1 else cv2.INTER_AREA
    return cv2.resize(image, (math.ceil(w0 * r), math.ceil(h0 * r)), interpolation=interpolation)


def letterbox_pixels(image: np.ndarray, img_size: tuple[int, int]) -> np.ndarray:
    """YOLOv5's ``letterbox(image, img_size, auto=False, scaleup=False)``: the image, only
    shrunk, centred on a grey canvas of ``img_size = (H, W)``."""
    h, w = image.shape[:2]
    height, width = img_size
    r = min(height / h, width / w, 1.0)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    dw, dh = (width - new_w) / 2, (height - new_h) / 2
    if (w, h) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    colour = (PAD_COLOUR,) * 3
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=colour)
