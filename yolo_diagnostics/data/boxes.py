"""A loaded detection dataset: images, their sizes and boxes, as plain arrays.

Every loader (COCO, YOLO, the synthetic generator) produces one `BoxDataset`. Boxes are kept
the way YOLOv5 keeps its labels: class and normalized ``(x, y, w, h)`` of the original image in
float32. Arrays, not objects per box: a million boxes cost tens of megabytes.

Annotations that cannot become a box are never dropped silently: each is recorded with its
reason and where it came from (`Skip`). Boxes reaching more than half a pixel outside their
image are clipped to it and counted. An image YOLOv5 would not train on (its file missing or
unreadable, `imagesize.check_image`) is left out with its annotations, and recorded
(`SkippedImage`).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from ..errors import DiagnosticsError

# Reasons an annotation is skipped (the keys of ``skipped_annotations`` in a scan's JSON).
CROWD = "crowd (iscrowd: 1)"
OUTSIDE = "outside its image"
NOT_POSITIVE = "width or height not positive"
NOT_FINITE = "not finite"
UNKNOWN_CATEGORY = "unknown category_id"
UNKNOWN_IMAGE = "unknown image_id"
UNKNOWN_CLASS = "class not in names"
MALFORMED = "malformed label line"
MALFORMED_BBOX = "bbox is not [x, y, w, h]"
DUPLICATE = "duplicate label line (YOLOv5 removes it)"
# Reasons an image is left out (the keys of ``skipped_images``; its annotations get the same)
IMAGE_MISSING = "image file missing"
IMAGE_UNREADABLE = "image unreadable"
IMAGE_TINY = "image under 10 px"


def unsafe_name(name: str) -> str | None:
    """Why the file name ``name`` may not be joined to an image root (absolute, or going up
    with ``..``), or ``None``."""
    if not name.startswith("/") and not any(c in name for c in ("\\", ":", "..")):
        return None  # no root, drive or parent: the common name, without building paths
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or PureWindowsPath(name).is_absolute():
        return "is an absolute path"
    if ".." in parts:
        return "goes up with '..'"
    return None


def inside_root(root: Path, name: str, where: str) -> Path:
    """``root / name``, refused with `DiagnosticsError` when the name is absolute, goes up
    with ``..``, or resolves (through symlinks) outside ``root``: a dataset names files
    under its image folder, never elsewhere on the machine."""
    reason = unsafe_name(name)
    path = root / name
    if (
        reason is None
        and _via_symlink(root, name)
        and not path.resolve().is_relative_to(root.resolve())
    ):
        reason = f"leads outside the image root (to {path.resolve()}) through a symlink"
    if reason is not None:
        raise DiagnosticsError(
            f"{where}: file name {name!r} {reason}; images must lie under {root}"
        )
    return path


def _via_symlink(root: Path, name: str) -> bool:
    """Whether a folder or file of ``name`` below ``root`` is a symlink: a name without one
    (nor ``..``) stays under ``root``, so the costly ``resolve`` is needed only then."""
    path = str(root)
    for part in Path(name).parts:  # as the file is opened
        path = os.path.join(path, part)
        if os.path.islink(path):
            return True
    return False


@dataclass(frozen=True)
class Skip:
    """One annotation left out: why, and where it was (file, id or line)."""

    reason: str
    where: str


@dataclass(frozen=True)
class SkippedImage:
    """One image left out, as YOLOv5 leaves it out of training, with its annotations.

    Attributes:
        reason: `IMAGE_MISSING`, `IMAGE_UNREADABLE` or `IMAGE_TINY`.
        path: the file as it was opened.
        image_id: the id the source gives it (COCO image id, YOLO relative path).
        detail: what is wrong with the file, in one line (the decoder's words).
        annotations: how many annotations (label lines) were left out with it.
    """

    reason: str
    path: str
    image_id: int | str
    detail: str
    annotations: int

    @property
    def where(self) -> str:
        """``path (image id 7)``, or the path alone when it is the id."""
        same = isinstance(self.image_id, str) and self.path.endswith(self.image_id)
        return self.path if same else f"{self.path} (image id {self.image_id!r})"

    @property
    def line(self) -> str:
        """``path (image id 7): image unreadable (what the decoder said)``."""
        return f"{self.where}: {self.reason} ({self.detail})"


def none_left(where: str, left_out: list[SkippedImage]) -> DiagnosticsError:
    """The error for a dataset whose every image YOLOv5 would leave out, naming the first:
    ``{where} that YOLOv5 would train on: ...``."""
    more = f" (and {len(left_out) - 1:,} more)" if len(left_out) > 1 else ""
    return DiagnosticsError(f"{where} that YOLOv5 would train on: {left_out[0].line}{more}")


@dataclass
class BoxDataset:
    """``N`` images and ``M`` boxes.

    Attributes:
        source: what was loaded (a file or folder), for reports.
        class_names: class ``c`` is ``class_names[c]``; classes are ``0 .. len - 1``.
        image_files: ``N`` file names, relative to ``image_root``.
        image_ids: ``N`` ids as the source names them (COCO image id, YOLO relative path).
        sizes: ``int64[N, 2]`` original ``(h0, w0)`` in pixels.
        box_image: ``int64[M]`` the image (``0 .. N - 1``) of each box, ascending.
        box_class: ``int64[M]`` class index.
        boxes: ``float32[M, 4]`` normalized ``(x, y, w, h)`` of the original image, inside it
            (to half a pixel).
        box_ids: ``int64[M]`` the annotation id (COCO) or line number (YOLO) of each box.
        image_root: folder of the image files; ``None`` when only statistics are possible.
        confined: file names come from the annotations (COCO ``file_name``) and must stay
            under ``image_root`` (`inside_root`); a YOLO dataset's files are those its folder
            or data YAML lists, absolute list entries and symlinks included, as in YOLOv5.
        skipped: annotations left out, with their reasons.
        clipped: boxes that reached outside their image and were clipped to it.
        skipped_images: images left out because YOLOv5 would not train on them (only when
            their files are read: a YOLO dataset, a COCO file with an images folder).
        restored: files of kept JPEGs that do not end with the JPEG end marker; YOLOv5
            re-saves ("restores") such a file and trains on it.
    """

    source: str
    class_names: tuple[str, ...]
    image_files: list[str]
    image_ids: list[int | str]
    sizes: np.ndarray
    box_image: np.ndarray
    box_class: np.ndarray
    boxes: np.ndarray
    box_ids: np.ndarray
    image_root: Path | None = None
    confined: bool = False
    skipped: list[Skip] = field(default_factory=list)
    clipped: int = 0
    skipped_images: list[SkippedImage] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n, m = len(self.image_files), len(self.box_image)
        if len(self.image_ids) != n or self.sizes.shape != (n, 2):
            raise DiagnosticsError(f"{self.source}: image ids and sizes must have {n} rows")
        for name, array, shape in (
            ("box_class", self.box_class, (m,)),
            ("boxes", self.boxes, (m, 4)),
            ("box_ids", self.box_ids, (m,)),
        ):
            if array.shape != shape:
                raise DiagnosticsError(
                    f"{self.source}: {name} has shape {array.shape}, expected {shape}"
                )
        if m and np.any(np.diff(self.box_image) < 0):
            raise DiagnosticsError(f"{self.source}: boxes must be ordered by image")

    @property
    def num_images(self) -> int:
        return len(self.image_files)

    @property
    def num_boxes(self) -> int:
        return len(self.box_image)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def skip_counts(self) -> dict[str, int]:
        """``{reason: count}`` of the skipped annotations, most frequent first."""
        return dict(Counter(s.reason for s in self.skipped).most_common())

    def skipped_image_counts(self) -> dict[str, int]:
        """``{reason: count}`` of the images left out, most frequent first."""
        return dict(Counter(s.reason for s in self.skipped_images).most_common())

    def image_path(self, index: int) -> Path | None:
        """The file of image ``index``, or ``None`` without an image root; for a confined
        dataset, `DiagnosticsError` when the name leads outside the root."""
        if self.image_root is None:
            return None
        if not self.confined:
            return self.image_root / self.image_files[index]
        where = f"image {self.image_ids[index]!r}"
        return inside_root(self.image_root, self.image_files[index], where)

    def boxes_of(self, index: int) -> slice:
        """The rows of image ``index`` (boxes are ordered by image)."""
        lo, hi = np.searchsorted(self.box_image, [index, index + 1])
        return slice(int(lo), int(hi))

    def subset(self, images: np.ndarray) -> BoxDataset:
        """Images ``images`` (indices, in that order) with their boxes; what the loader
        skipped, clipped and left out stays with the whole dataset."""
        images = np.asarray(images, dtype=np.int64)
        files = [self.image_files[k] for k in images]
        rows = [np.arange(self.boxes_of(int(k)).start, self.boxes_of(int(k)).stop) for k in images]
        index = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        return BoxDataset(
            source=self.source,
            class_names=self.class_names,
            image_files=files,
            image_ids=[self.image_ids[k] for k in images],
            sizes=self.sizes[images],
            box_image=np.repeat(np.arange(len(images)), [len(r) for r in rows]).astype(np.int64),
            box_class=self.box_class[index],
            boxes=self.boxes[index],
            box_ids=self.box_ids[index],
            image_root=self.image_root,
            confined=self.confined,
            restored=sorted(set(self.restored) & set(files)),
        )

    def pixel_boxes(self, rows: slice | np.ndarray) -> np.ndarray:
        """``float64[k, 4]`` ``(x0, y0, x1, y1)`` in original pixels of the given rows."""
        h0, w0 = self.sizes[self.box_image[rows]].T.astype(np.float64)
        return xywh_to_corners(self.boxes[rows]) * np.stack((w0, h0, w0, h0), 1)


def clip_to_image(xyxy: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalized ``float64[M, 4]`` corners of boxes in images of ``sizes`` (``int[M, 2]``
    ``(h0, w0)`` per box), clipped to their image.

    A box reaching less than half a pixel outside is left as it is: that is the rounding of
    annotation tools and of 6-decimal label files, and YOLOv5 keeps such labels unchanged.
    Returns the corners, which boxes were clipped (partly outside) and which keep no area
    (wholly outside, or degenerate after clipping).
    """
    h0, w0 = sizes[:, 0:1].astype(np.float64), sizes[:, 1:2].astype(np.float64)
    slack = 0.5 / np.concatenate((w0, h0, w0, h0), 1)
    inside = np.clip(xyxy, 0.0, 1.0)
    beyond = ((xyxy < -slack) | (xyxy > 1 + slack)).any(1)
    empty = (inside[:, 2] <= inside[:, 0]) | (inside[:, 3] <= inside[:, 1])
    return np.where(beyond[:, None], inside, xyxy), beyond & ~empty, empty


def xywh_to_corners(xywh: np.ndarray) -> np.ndarray:
    """Centre and size ``[M, 4]`` -> ``float64[M, 4]`` corners ``(x0, y0, x1, y1)``."""
    x, y, w, h = xywh.astype(np.float64).T
    return np.stack((x - w / 2, y - h / 2, x + w / 2, y + h / 2), 1)


def corners_to_xywh(xyxy: np.ndarray) -> np.ndarray:
    """Normalized corners ``float64[M, 4]`` -> ``float32[M, 4]`` centre and size."""
    x0, y0, x1, y1 = xyxy.T
    return np.stack(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), 1).astype(np.float32)
