"""Image files as YOLOv5 checks them before training: size, format, readability.

YOLOv5 (``utils/dataloaders.py``, ``verify_image_label``) opens each image with Pillow once,
caches the verdict, and never trains on one it cannot read: a missing file, a file Pillow
cannot identify or ``verify()``, a format outside ``IMG_FORMATS`` or a side under 10 px is
left out ("ignoring corrupt image/label"). A JPEG not ending with the end marker
``FF D9`` is decoded in full and re-saved ("corrupt JPEG restored and saved"); when the
decode fails -- a truncated file, under Pillow's default ``LOAD_TRUNCATED_IMAGES = False``
-- the image is left out too. `check_image` takes the same decisions without writing
anything: it reads the header and, for JPEGs, the last two bytes; only a JPEG without its
end marker is decoded.

The size is the one ``cv2.imread`` hands YOLOv5: the EXIF orientation is applied as
YOLOv5's ``exif_size`` does (orientation 6 or 8 swaps width and height). Large folders are
read with threads (the work is file I/O).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from PIL import Image, UnidentifiedImageError

from ..errors import DiagnosticsError
from .boxes import IMAGE_MISSING, IMAGE_TINY, IMAGE_UNREADABLE

IMAGE_SUFFIXES = (".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp")
"""YOLOv5's ``IMG_FORMATS`` (less ``pfm``, which Pillow does not read)."""

TRAINED_FORMATS = frozenset(
    ("bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm")
)
"""YOLOv5's ``IMG_FORMATS``, matched against Pillow's format name (``im.format.lower()``)."""

MIN_SIDE = 10  # YOLOv5: "image size <10 pixels"
JPEG_END = b"\xff\xd9"

_ORIENTATION = 0x0112  # EXIF tag
# Pillow's format plugins raise any of these on a damaged or foreign file (an ImportError
# when a plugin another package registered lacks its library); a header claiming more
# pixels than Pillow's bomb limit is refused, as cv2.imread refuses it
_PILLOW_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    ImportError,
    Image.DecompressionBombError,
)


class ImageCheck(NamedTuple):
    """YOLOv5's verdict on one image file.

    Attributes:
        size: ``(h, w)`` as ``cv2.imread`` returns the image; ``(0, 0)`` when left out.
        reason: why YOLOv5 leaves it out (`IMAGE_MISSING`, `IMAGE_UNREADABLE`,
            `IMAGE_TINY`), ``None`` when it trains on it.
        detail: what is wrong, in one line ('' for a sound file).
        restored: a JPEG without its end marker that decodes in full: YOLOv5 re-saves it
            and trains on it.
    """

    size: tuple[int, int]
    reason: str | None
    detail: str
    restored: bool = False


def check_image(path: Path) -> ImageCheck:
    """YOLOv5's verdict on the image at ``path`` (see the module docstring); never raises
    for a bad file."""
    try:
        w, h, kind, tail = _header(path)
    except FileNotFoundError:
        return ImageCheck((0, 0), IMAGE_MISSING, "no such file")
    except IsADirectoryError:
        return ImageCheck((0, 0), IMAGE_UNREADABLE, "a folder, not a file")
    except UnidentifiedImageError:  # its message repeats the path
        return ImageCheck((0, 0), IMAGE_UNREADABLE, _unidentified(path, ""))
    except ImportError as error:  # the last plugin tried lacks its library (ultralytics' HEIF)
        return ImageCheck((0, 0), IMAGE_UNREADABLE, _unidentified(path, _one_line(error)))
    except _PILLOW_ERRORS as error:
        return ImageCheck((0, 0), IMAGE_UNREADABLE, _one_line(error))
    if kind not in TRAINED_FORMATS:
        return ImageCheck((0, 0), IMAGE_UNREADABLE, f"{kind.upper()} is not a format YOLOv5 reads")
    if min(w, h) < MIN_SIDE:
        return ImageCheck((0, 0), IMAGE_TINY, f"{w} x {h} px (W x H)")
    if kind == "jpeg" and tail != JPEG_END:
        error = _decode_error(path)
        if error:
            return ImageCheck((0, 0), IMAGE_UNREADABLE, f"truncated JPEG: {error}")
        return ImageCheck((h, w), None, "no JPEG end marker at its end", restored=True)
    return ImageCheck((h, w), None, "")


def check_images(
    paths: Sequence[Path], workers: int = 8, progress: Callable[[int], None] | None = None
) -> list[ImageCheck]:
    """`check_image` of each file, by ``workers`` threads; ``progress(k)`` is called as
    ``k`` more are done."""
    if workers <= 1 or len(paths) < 64:
        checks = []
        for path in paths:
            checks.append(check_image(path))
            if progress is not None:
                progress(1)
        return checks
    with ThreadPoolExecutor(workers) as pool:
        checks = []
        for check in pool.map(check_image, paths):
            checks.append(check)
            if progress is not None:
                progress(1)
        return checks


def image_size(path: Path) -> tuple[int, int]:
    """``(h, w)`` of the image at ``path`` as ``cv2.imread`` would return it.

    Raises `DiagnosticsError` naming the file when YOLOv5 would leave it out.
    """
    check = check_image(path)
    if check.reason is not None:
        raise DiagnosticsError(f"{path}: {check.reason}: {check.detail}")
    return check.size


def _header(path: Path) -> tuple[int, int, str, bytes]:
    """Width, height (EXIF orientation applied), Pillow's format name and the last two
    bytes of the file, once it passed ``verify()`` as in YOLOv5; one open of the file."""
    with path.open("rb") as f:
        with Image.open(f) as im:
            kind = (im.format or "unknown").lower()
            if kind != "png":  # verify() checks PNG checksums only; a no-op for the others
                w, h = _oriented(im)
            else:
                im.verify()  # it leaves the image unusable: its EXIF comes from a fresh open
                f.seek(0)
                with Image.open(f) as again:
                    w, h = _oriented(again)
        f.seek(max(f.seek(0, 2) - len(JPEG_END), 0))
        return w, h, kind, f.read()


def _oriented(im: Image.Image) -> tuple[int, int]:
    w, h = im.size
    if im.getexif().get(_ORIENTATION) in (6, 8):  # rotated by 90 or 270 degrees
        return h, w
    return w, h


def _decode_error(path: Path) -> str:
    """Why Pillow cannot decode the whole file, or '' (YOLOv5's restore decodes it so)."""
    try:
        with Image.open(path) as im:
            im.load()
    except _PILLOW_ERRORS as error:
        return _one_line(error)
    return ""


def _unidentified(path: Path, plugin_error: str) -> str:
    try:
        empty = path.stat().st_size == 0
    except OSError:
        empty = False
    said = f" ({plugin_error})" if plugin_error else ""
    return "an empty file (0 bytes)" if empty else f"not an image Pillow can read{said}"


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
