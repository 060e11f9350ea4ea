"""Image sizes from file headers, without decoding the pixels.

Pillow's ``Image.open`` reads only the header; the EXIF orientation is applied as YOLOv5's
``exif_size`` does (orientation 6 or 8 swaps width and height), since ``cv2.imread`` hands
YOLOv5 the rotated pixels. Large folders are read with threads (the work is file I/O).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DiagnosticsError

IMAGE_SUFFIXES = (".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp")
"""YOLOv5's ``IMG_FORMATS`` (less ``pfm``, which Pillow does not read)."""

_ORIENTATION = 0x0112  # EXIF tag


def image_size(path: Path) -> tuple[int, int]:
    """``(h, w)`` of the image at ``path`` as ``cv2.imread`` would return it.

    Raises ``ValueError`` naming the file when it is missing or not a readable image.
    """
    try:
        with Image.open(path) as im:
            w, h = im.size
            if im.getexif().get(_ORIENTATION) in (6, 8):  # rotated by 90 or 270 degrees
                w, h = h, w
    except FileNotFoundError:
        raise DiagnosticsError(f"{path}: image file not found") from None
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        ImportError,
        Image.DecompressionBombError,
    ) as error:
        # Pillow's format plugins raise any of these on a damaged or foreign file (an
        # ImportError when a plugin another package registered lacks its library); a header
        # claiming more pixels than Pillow's bomb limit is refused, as cv2.imread refuses it
        raise DiagnosticsError(f"{path}: not a readable image: {error}") from None
    return h, w


def image_sizes(
    paths: Sequence[Path], workers: int = 8, progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """``int64[N, 2]`` ``(h, w)`` of each file, read by ``workers`` threads; ``progress(k)``
    is called as ``k`` more are done."""
    out = np.zeros((len(paths), 2), dtype=np.int64)
    if workers <= 1 or len(paths) < 64:
        for k, path in enumerate(paths):
            out[k] = image_size(path)
            if progress is not None:
                progress(1)
        return out
    with ThreadPoolExecutor(workers) as pool:
        for k, size in enumerate(pool.map(image_size, paths)):
            out[k] = size
            if progress is not None:
                progress(1)
    return out
