"""COCO instances JSON through pycocotools.

Statistics need only the JSON: image sizes come from ``images[].width/height``. ``bbox`` is
``[x, y, w, h]`` in pixels of the original image (top-left corner and size). Category ids are
mapped to contiguous classes in ascending id order, which for COCO itself is YOLOv5's 80-class
order. Crowd annotations (``iscrowd: 1``) are left out, as YOLOv5's COCO labels leave them out,
and recorded as skipped with that reason. With an images folder, each file is checked as
YOLOv5 checks it (`imagesize.check_image`): an image it would not train on is left out with
its annotations, recorded with the reason; the sizes stay those of the JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO

from ..errors import DiagnosticsError
from .boxes import (
    CROWD,
    MALFORMED_BBOX,
    NOT_FINITE,
    NOT_POSITIVE,
    OUTSIDE,
    UNKNOWN_CATEGORY,
    UNKNOWN_IMAGE,
    BoxDataset,
    Skip,
    SkippedImage,
    clip_to_image,
    corners_to_xywh,
    inside_root,
    none_left,
    unsafe_name,
)
from .imagesize import check_images

MAX_SIDE = 2**31 - 1
"""The largest image width or height accepted, in pixels (beyond any real image)."""


def load_coco(
    annotation_file: str | Path,
    images: str | Path | None = None,
    *,
    workers: int = 8,
    progress: Callable[[int], None] | None = None,
) -> BoxDataset:
    """Load a COCO instances file; ``images`` is the folder its ``file_name``s are in.

    With ``images``, every file is checked as YOLOv5 checks it, by ``workers`` threads
    (``progress(k)`` is called as ``k`` more are done); one YOLOv5 would not train on is left
    out, recorded in ``skipped_images``, its annotations in ``skipped`` with the same reason.
    Raises `DiagnosticsError` naming the file and what is wrong when it is not a COCO
    instances file (not JSON, ``images``/``annotations``/``categories`` missing, no images, an
    image without a positive ``width``/``height``, an id that is not an integer or a string,
    duplicate image, annotation or category ids), when a file name leads outside ``images``,
    or when no image there can be trained on.
    """
    path = Path(annotation_file)
    coco = _index(path, _read(path))
    image_list = coco.dataset["images"]
    for img in image_list:
        reason = unsafe_name(str(img.get("file_name", "")))
        if reason is not None:
            raise DiagnosticsError(
                f"{path}: image {img['id']!r}: file_name {img['file_name']!r} {reason}; "
                "images must lie under the images folder"
            )
    sizes = np.array([_size(path, img) for img in image_list], dtype=np.int64).reshape(-1, 2)
    left_out: dict[Any, SkippedImage] = {}
    restored: list[str] = []
    if images is not None:
        left_out, restored = _check_files(path, coco, Path(images), workers, progress)
        sizes = sizes[[img["id"] not in left_out for img in image_list]]
        image_list = [img for img in image_list if img["id"] not in left_out]
    order = {img["id"]: k for k, img in enumerate(image_list)}
    cat_ids = sorted(coco.getCatIds(), key=lambda c: (isinstance(c, str), c))
    cat_index = {c: k for k, c in enumerate(cat_ids)}

    skipped: list[Skip] = []
    kept: list[tuple[int, int, dict[str, Any]]] = []  # image, class, annotation
    for image_id, anns in coco.imgToAnns.items():
        k = order.get(image_id)
        for ann in anns:
            if image_id in left_out:
                skipped.append(Skip(left_out[image_id].reason, _where(path, ann)))
            elif k is None:
                skipped.append(Skip(UNKNOWN_IMAGE, _where(path, ann)))
            elif ann.get("category_id") not in cat_index:
                skipped.append(Skip(UNKNOWN_CATEGORY, _where(path, ann)))
            elif ann.get("iscrowd", 0):
                skipped.append(Skip(CROWD, _where(path, ann)))
            else:
                kept.append((k, cat_index[ann["category_id"]], ann))
    kept.sort(key=lambda row: row[0])  # stable: annotation order within an image

    box_image = np.array([row[0] for row in kept], dtype=np.int64)
    xywh, malformed = _bboxes([row[2].get("bbox") for row in kept])
    h0, w0 = sizes[box_image].T.astype(np.float64)
    x, y, w, h = xywh.T
    with np.errstate(invalid="ignore", over="ignore"):  # NaN bboxes; x + w beyond float range
        corners = np.stack((x / w0, y / h0, (x + w) / w0, (y + h) / h0), 1)
        not_finite = ~np.isfinite(xywh).all(1) & ~malformed
        not_positive = ~(malformed | not_finite) & ((w <= 0) | (h <= 0))
    corners, clipped, empty = clip_to_image(np.nan_to_num(corners), sizes[box_image])
    outside = empty & ~(malformed | not_finite | not_positive)
    for mask, reason in (
        (malformed, MALFORMED_BBOX),
        (not_finite, NOT_FINITE),
        (not_positive, NOT_POSITIVE),
        (outside, OUTSIDE),
    ):
        skipped += [Skip(reason, _where(path, kept[i][2])) for i in np.flatnonzero(mask)]
    keep = ~(malformed | not_finite | not_positive | outside)
    return BoxDataset(
        source=str(path),
        class_names=tuple(str(coco.cats[c].get("name", c)) for c in cat_ids),
        image_files=[str(img.get("file_name", img["id"])) for img in image_list],
        image_ids=[img["id"] for img in image_list],
        sizes=sizes,
        box_image=box_image[keep],
        box_class=np.array([row[1] for row in kept], dtype=np.int64)[keep],
        boxes=corners_to_xywh(corners[keep]),
        box_ids=np.array([_int_id(row[2].get("id")) for row in kept], dtype=np.int64)[keep],
        image_root=None if images is None else Path(images),
        confined=True,
        skipped=skipped,
        clipped=int((clipped & keep).sum()),
        skipped_images=list(left_out.values()),
        restored=restored,
    )


def _check_files(
    path: Path,
    coco: COCO,
    root: Path,
    workers: int,
    progress: Callable[[int], None] | None,
) -> tuple[dict[Any, SkippedImage], list[str]]:
    """The images YOLOv5 would leave out, by id, and the files of those it would restore.

    A file name leading outside ``root`` through a symlink is refused (`inside_root`), and so
    is a folder where no image can be trained on (most likely the wrong folder).
    """
    image_list = coco.dataset["images"]
    files = [str(img.get("file_name", img["id"])) for img in image_list]
    paths = [
        inside_root(root, name, f"{path}: image {img['id']!r}")
        for name, img in zip(files, image_list)
    ]
    checks = check_images(paths, workers, progress)
    left_out = {
        img["id"]: SkippedImage(
            c.reason, str(p), img["id"], c.detail, len(coco.imgToAnns.get(img["id"], []))
        )
        for img, p, c in zip(image_list, paths, checks)
        if c.reason is not None
    }
    if len(left_out) == len(image_list):
        raise none_left(f"{path}: no image in {root}", list(left_out.values()))
    return left_out, [f for f, c in zip(files, checks) if c.restored]


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = json.load(f)
    except OSError as error:
        raise DiagnosticsError(f"{path}: cannot read the COCO file: {error.strerror}") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an int too long
        raise DiagnosticsError(f"{path}: not a COCO instances file, not JSON: {error}") from None
    except RecursionError:
        raise DiagnosticsError(
            f"{path}: not a COCO instances file, JSON nested too deeply"
        ) from None
    if not isinstance(data, dict):
        raise DiagnosticsError(f"{path}: not a COCO instances file, the top level is not an object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DiagnosticsError(f"{path}: not a COCO instances file, no {key!r} list")
    if not data["images"]:
        raise DiagnosticsError(f"{path}: no images in 'images', nothing to measure")
    return data


def _index(path: Path, data: dict[str, Any]) -> COCO:
    """pycocotools' index of the parsed file (its loader, without reading the file twice)."""
    required = {"images": ("id",), "annotations": ("id", "image_id", "category_id")}
    for key in ("images", "annotations", "categories"):
        fields = required.get(key, ("id",))
        for k, item in enumerate(data[key]):
            if not isinstance(item, dict) or any(f not in item for f in fields):
                raise DiagnosticsError(
                    f"{path}: {key}[{k}] is not an object with {', '.join(fields)}"
                )
            for f in fields:  # pycocotools indexes by them: they must be usable as keys
                if not _is_id(item[f]):
                    raise DiagnosticsError(
                        f"{path}: {key}[{k}]: {f} must be an integer or a string, got {item[f]!r}"
                    )
    for key, noun in (
        ("images", "image"),
        ("annotations", "annotation"),
        ("categories", "category"),
    ):
        ids = [item["id"] for item in data[key]]
        if len(set(ids)) != len(ids):  # pycocotools would keep the last one silently
            seen: set[Any] = set()
            dup = next(i for i in ids if i in seen or seen.add(i))
            raise DiagnosticsError(f"{path}: {noun} id {dup!r} appears more than once in {key!r}")
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # "creating index..." chatter
        coco.createIndex()
    return coco


def _size(path: Path, img: dict[str, Any]) -> tuple[int, int]:
    h, w = img.get("height"), img.get("width")
    if not all(_is_int(v) and 0 < v <= MAX_SIDE for v in (h, w)):
        raise DiagnosticsError(
            f"{path}: image id {img['id']!r}: width and height must be positive integers, "
            f"got width={w!r}, height={h!r} (at most {MAX_SIDE} pixels)"
        )
    return h, w


def _bboxes(bboxes: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``float64[M, 4]`` bboxes and which are not four numbers (their rows hold zeros).

    NumPy would read ``"12"`` and ``true`` as numbers: a bbox holding them is malformed, so
    the fast path is taken only when every value is a JSON number. An integer too large for
    a float is infinite (and so skipped as not finite)."""
    if all(type(b) is list and len(b) == 4 for b in bboxes) and {
        type(v) for b in bboxes for v in b
    } <= {int, float}:
        try:
            return np.array(bboxes, dtype=np.float64).reshape(-1, 4), np.zeros(
                len(bboxes), dtype=bool
            )
        except OverflowError:  # an integer beyond float range: value by value below
            pass
    xywh = np.zeros((len(bboxes), 4))
    malformed = np.ones(len(bboxes), dtype=bool)
    for i, b in enumerate(bboxes):
        if isinstance(b, list) and len(b) == 4 and all(_is_number(v) for v in b):
            xywh[i], malformed[i] = [_as_float(v) for v in b], False
    return xywh, malformed


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _as_float(v: int | float) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_id(v: Any) -> bool:
    return _is_int(v) or isinstance(v, str)


def _int_id(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _where(path: Path, ann: dict[str, Any]) -> str:
    """``instances.json annotation id 7 (image id 3)``."""
    return f"{path.name} annotation id {ann.get('id')!r} (image id {ann.get('image_id')!r})"
