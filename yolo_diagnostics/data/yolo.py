"""YOLO-format datasets: a folder with ``images/`` and ``labels/``, or a YOLOv5 data YAML.

Each image ``.../images/a/b.jpg`` has its labels in ``.../labels/a/b.txt`` (YOLOv5's
``img2label_paths``), one line per box: ``class x y w h``, normalized to the image; a line with
more values is a polygon ``class x1 y1 x2 y2 ...``, whose box is its extent (YOLOv5's
``segments2boxes``). Values are read as float32, as YOLOv5 reads them, and duplicate lines are
left out as YOLOv5 removes them. A data YAML gives ``path`` (relative to the YAML's folder),
the split's images (a folder, a ``.txt`` list of images, or a list of those) and ``names``.
An image YOLOv5 would not train on (`imagesize.check_image`: a listed file that is missing,
one it cannot read, a side under 10 px) is left out, and its label lines with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import DiagnosticsError
from .boxes import (
    DUPLICATE,
    MALFORMED,
    NOT_FINITE,
    NOT_POSITIVE,
    OUTSIDE,
    UNKNOWN_CLASS,
    BoxDataset,
    Skip,
    SkippedImage,
    clip_to_image,
    corners_to_xywh,
    none_left,
    xywh_to_corners,
)
from .imagesize import IMAGE_SUFFIXES, check_images

MAX_UNNAMED_CLASSES = 65_536
"""Without names, classes are ``0 .. max id``: a larger id (a typo such as ``1e9``) is
skipped as not in names rather than making a class list of that length."""


def load_yolo(
    source: str | Path,
    *,
    split: str = "train",
    names: tuple[str, ...] | None = None,
    workers: int = 8,
    progress: Callable[[int], None] | None = None,
) -> BoxDataset:
    """Load a YOLO-format dataset folder, YOLOv5 data YAML (its ``split``) or one image.

    ``names`` are the class names when the source does not give them (a data YAML does).
    Images are checked as YOLOv5 checks them, and their sizes read from the file headers, by
    ``workers`` threads; ``progress(k)`` is called as ``k`` more images are done. An image
    YOLOv5 would leave out is left out, recorded in ``skipped_images``, its label lines in
    ``skipped`` with the same reason. Raises `DiagnosticsError` naming the file and what is
    wrong when the source is not a dataset or no image of it can be trained on.
    """
    source = Path(source)
    if source.is_dir():
        root, files = source, _images_in(source / "images", source)
    elif source.suffix.lower() in IMAGE_SUFFIXES:
        root, files = source.parent, [source]
    elif source.suffix in (".yaml", ".yml"):
        root, entries, names = _data_yaml(source, split)
        files = [f for entry in entries for f in _images_of(entry, source)]
    else:
        raise DiagnosticsError(
            f"{source}: expected a dataset folder (images/, labels/), a data YAML or an image"
        )
    if not files:
        raise DiagnosticsError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) found")

    checks = check_images(files, workers, progress)
    skipped: list[Skip] = []
    left_out: list[SkippedImage] = []
    for image, check in zip(files, checks):
        if check.reason is not None:
            lines = _lines_of(_label_path(image))
            skipped += [Skip(check.reason, _where(_label_path(image), n)) for n in lines]
            image_id = _relative(image, root)
            left_out.append(
                SkippedImage(check.reason, str(image), image_id, check.detail, len(lines))
            )
    if len(left_out) == len(files):
        raise none_left(f"{source}: no image", left_out)
    kept = [k for k, check in enumerate(checks) if check.reason is None]
    restored = [_relative(files[k], root) for k in kept if checks[k].restored]
    files = [files[k] for k in kept]
    sizes = np.array([checks[k].size for k in kept], dtype=np.int64).reshape(-1, 2)
    rows: list[np.ndarray] = []
    for k, image in enumerate(files):
        rows.append(_labels(_label_path(image), k, names, skipped))
    table = np.concatenate(rows) if rows else np.zeros((0, 7))
    box_image, box_class, line = (table[:, c].astype(np.int64) for c in (0, 1, 2))
    xywh = table[:, 3:7].astype(np.float32)
    inside, clipped, outside = clip_to_image(xywh_to_corners(xywh), sizes[box_image])
    for i in np.flatnonzero(outside):
        skipped.append(Skip(OUTSIDE, _where(_label_path(files[box_image[i]]), int(line[i]))))
    # labels inside their image stay as read, bit for bit; clipped ones are recomputed
    boxes = np.where(clipped[:, None], corners_to_xywh(inside), xywh)[~outside]
    num_classes = int(box_class.max()) + 1 if len(box_class) else 1
    return BoxDataset(
        source=str(source),
        class_names=names if names is not None else tuple(str(c) for c in range(num_classes)),
        image_files=[_relative(f, root) for f in files],
        image_ids=[_relative(f, root) for f in files],
        sizes=sizes,
        box_image=box_image[~outside],
        box_class=box_class[~outside],
        boxes=boxes.astype(np.float32),
        box_ids=line[~outside],
        image_root=root,
        skipped=skipped,
        clipped=int(clipped.sum()),
        skipped_images=left_out,
        restored=restored,
    )


def _labels(
    path: Path, image: int, names: tuple[str, ...] | None, skipped: list[Skip]
) -> np.ndarray:
    """Rows ``(image, class, line, x, y, w, h)`` of one label file, in float64 holding the
    float32 values; bad lines recorded in ``skipped``."""
    out, seen = [], set()
    for number, line in _lines_of(path).items():
        fields = line.split()
        row = _parse(fields)
        if row is None:
            skipped.append(Skip(MALFORMED, _where(path, number)))
            continue
        c, xywh = row
        reason = (
            UNKNOWN_CLASS
            if not _known_class(c, names)
            else NOT_FINITE
            if not np.isfinite(xywh).all()
            else NOT_POSITIVE
            if xywh[2] <= 0 or xywh[3] <= 0
            else DUPLICATE
            if (c, *xywh.tolist()) in seen
            else None
        )
        if reason is not None:
            skipped.append(Skip(reason, _where(path, number)))
            continue
        seen.add((c, *xywh.tolist()))
        out.append((image, c, number, *xywh.tolist()))
    return np.array(out, dtype=np.float64).reshape(-1, 7)


def _lines_of(path: Path) -> dict[int, str]:
    """``{line number: text}`` of the non-blank lines of a label file; none without one (an
    image without a label file has no boxes, as in YOLOv5)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise DiagnosticsError(f"{path}: cannot read the label file: {error}") from None
    return {n: line for n, line in enumerate(text.splitlines(), start=1) if line.split()}


def _known_class(c: float, names: tuple[str, ...] | None) -> bool:
    """Whether ``c`` is a class id: an integer in ``[0, len(names))``, or below
    `MAX_UNNAMED_CLASSES` without names (NaN and infinities are not integers)."""
    limit = MAX_UNNAMED_CLASSES if names is None else len(names)
    return c.is_integer() and 0 <= c < limit


def _parse(fields: list[str]) -> tuple[float, np.ndarray] | None:
    """``class, float32[4] xywh`` of a label line, or ``None`` if it is not one."""
    try:
        with np.errstate(over="ignore"):  # beyond float32 is inf, skipped as not finite
            values = np.array(fields, dtype=np.float32)  # as YOLOv5 parses its labels
    except ValueError:
        return None
    if len(values) == 5:
        return float(values[0]), values[1:]
    if len(values) >= 7 and len(values) % 2 == 1:  # a polygon: its extent, as segments2boxes
        xy = values[1:].reshape(-1, 2)
        lo, hi = xy.min(0), xy.max(0)
        with np.errstate(over="ignore", invalid="ignore"):  # inf is skipped as not finite
            extent = np.concatenate(((lo + hi) / 2, hi - lo))
        return float(values[0]), extent.astype(np.float32)
    return None


def class_names_of(path: str | Path) -> tuple[str, ...]:
    """The class names of a YOLOv5 data YAML."""
    path = Path(path)
    return _names(path, _read_yaml(path))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise DiagnosticsError(f"{path}: not a readable data YAML: {_yaml_error(error)}") from None
    if not isinstance(data, dict):
        raise DiagnosticsError(f"{path}: not a data YAML, the top level is not a mapping")
    return data


def _yaml_error(error: Exception) -> str:
    """PyYAML's error in one line: what is wrong and where (its own message spans lines)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(error).split())


def _data_yaml(path: Path, split: str) -> tuple[Path, list[Path], tuple[str, ...]]:
    """The dataset root, the split's entries and the class names of a data YAML."""
    data = _read_yaml(path)
    if not isinstance(data.get("path") or ".", str):
        raise DiagnosticsError(f"{path}: path must be a folder name, got {data['path']!r}")
    root = Path(data.get("path") or ".")
    root = root if root.is_absolute() else path.parent / root
    if split not in data or not data[split]:
        raise DiagnosticsError(f"{path}: no {split!r} images named")
    entries = data[split] if isinstance(data[split], list) else [data[split]]
    return root, [root / str(e) for e in entries], _names(path, data)


def _names(path: Path, data: dict[str, Any]) -> tuple[str, ...]:
    names = data.get("names")
    if isinstance(names, dict) and names:
        if set(names) != set(range(len(names))):
            raise DiagnosticsError(f"{path}: names must be numbered 0 .. {len(names) - 1}")
        return tuple(str(names[k]) for k in range(len(names)))
    if isinstance(names, list) and names:
        return tuple(str(n) for n in names)
    raise DiagnosticsError(f"{path}: no class names ('names: [...]' or '{{0: name, ...}}')")


def _images_of(entry: Path, source: Path) -> list[Path]:
    """Images of one split entry: a folder (searched recursively), a list file, an image."""
    if entry.is_dir():
        return _images_in(entry, source)
    if entry.suffix == ".txt" and entry.is_file():
        try:
            text = entry.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise DiagnosticsError(f"{entry}: cannot read the image list: {error}") from None
        lines = [x.strip() for x in text.splitlines() if x.strip()]
        return [entry.parent / x if not os.path.isabs(x) else Path(x) for x in lines]
    if entry.suffix.lower() in IMAGE_SUFFIXES and entry.is_file():
        return [entry]
    raise DiagnosticsError(f"{source}: {entry} is not a folder, image list or image")


def _images_in(folder: Path, source: Path) -> list[Path]:
    if not folder.is_dir():
        raise DiagnosticsError(f"{source}: no images folder {folder}")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _label_path(image: Path) -> Path:
    """YOLOv5's ``img2label_paths``: the last ``/images/`` becomes ``/labels/``, ``.txt``."""
    s, sep = str(image), os.sep
    head, found, tail = s.rpartition(f"{sep}images{sep}")
    s = f"{head}{sep}labels{sep}{tail}" if found else s
    return Path(s).with_suffix(".txt")


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _where(path: Path, line: int) -> str:
    return f"{path} line {line}"
