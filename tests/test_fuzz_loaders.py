"""Fuzzing the loaders and the target validation: a result that holds together, or
`DiagnosticsError` -- never another exception, a hang, or arrays that disagree.

Files are written under one folder per test from ``tmp_path_factory`` (Hypothesis runs many
examples in one function-scoped test, so ``tmp_path`` would be shared by them anyway).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yolo_diagnostics import DiagnosticsError, Problem, validate_targets
from yolo_diagnostics.data import BoxDataset, load_coco, load_yolo

FUZZ = settings(max_examples=300, deadline=None)

# --------------------------------------------------------------------------- JSON values
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**31, 2**63, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0]),
    st.text(max_size=8),
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=12,
)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(min_value=-2000, max_value=2000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([10**400, 0, -0.0, 1e-300]),
)


def valid_coco() -> dict[str, Any]:
    """Two images, two categories, four annotations (one crowd): everything loads."""
    return {
        "images": [
            {"id": 3, "file_name": "a.jpg", "width": 640, "height": 480},
            {"id": "b", "file_name": "b.jpg", "width": 33, "height": 17},
        ],
        "annotations": [
            {"id": 1, "image_id": 3, "category_id": 1, "bbox": [10, 10, 50, 60]},
            {"id": 2, "image_id": "b", "category_id": 7, "bbox": [0, 0, 33, 17]},
            {"id": 3, "image_id": 3, "category_id": 7, "bbox": [600, 400, 100, 100]},
            {"id": 4, "image_id": 3, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": 1},
        ],
        "categories": [{"id": 7, "name": "dog"}, {"id": 1, "name": "person"}],
    }


def assert_consistent(ds: BoxDataset) -> None:
    """The arrays of a loaded dataset agree with each other and with the documented rules."""
    n, m = ds.num_images, ds.num_boxes
    assert n >= 1 and len(ds.image_ids) == n and ds.sizes.shape == (n, 2)
    assert ds.sizes.dtype == np.int64 and (ds.sizes > 0).all()
    assert ds.boxes.dtype == np.float32 and ds.boxes.shape == (m, 4)
    assert ds.box_image.shape == ds.box_class.shape == ds.box_ids.shape == (m,)
    assert np.isfinite(ds.boxes).all()
    assert ((0 <= ds.box_image) & (ds.box_image < n)).all()
    assert (np.diff(ds.box_image) >= 0).all()
    assert ((0 <= ds.box_class) & (ds.box_class < max(ds.num_classes, 1))).all()
    x, y, w, h = ds.boxes.astype(np.float64).T
    assert ((w >= 0) & (h >= 0)).all()
    # inside the image, to the half pixel a box may reach out unclipped (and float32 rounding)
    h0, w0 = ds.sizes[ds.box_image].T.astype(np.float64)
    sx, sy = 0.5 / w0 + 1e-6, 0.5 / h0 + 1e-6
    assert ((x - w / 2 >= -sx) & (x + w / 2 <= 1 + sx)).all()
    assert ((y - h / 2 >= -sy) & (y + h / 2 <= 1 + sy)).all()
    assert 0 <= ds.clipped <= m
    assert all(s.reason and s.where for s in ds.skipped)


def load_coco_or_error(path: Path) -> BoxDataset | None:
    """The dataset, or ``None`` after a one-line `DiagnosticsError` naming the file."""
    try:
        ds = load_coco(path)
    except DiagnosticsError as error:
        assert type(error) is DiagnosticsError and "\n" not in str(error)
        assert str(error).startswith(f"{path}: ")
        return None
    assert_consistent(ds)
    return ds


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# --------------------------------------------------------------------------- COCO
@FUZZ
@given(data=JSON)
def test_coco_of_any_json_value(folder: Path, data: Any) -> None:
    path = folder / "top.json"
    path.write_text(json.dumps(data))
    load_coco_or_error(path)


# where garbage goes: a top-level key, an entry of a list, or one field of an entry
PLACES = st.one_of(
    st.tuples(st.sampled_from(["images", "annotations", "categories"])),
    st.tuples(st.sampled_from(["images", "annotations", "categories"]), st.integers(0, 3)),
    st.tuples(
        st.just("images"),
        st.integers(0, 1),
        st.sampled_from(["id", "width", "height", "file_name"]),
    ),
    st.tuples(
        st.just("annotations"),
        st.integers(0, 3),
        st.sampled_from(["id", "image_id", "category_id", "bbox", "iscrowd"]),
    ),
    st.tuples(st.just("categories"), st.integers(0, 1), st.sampled_from(["id", "name"])),
)
DELETE = object()


def place(data: dict[str, Any], where: tuple[Any, ...], value: Any) -> None:
    """Put ``value`` at ``where`` in ``data`` (`DELETE` removes what is there)."""
    parent, key = data, where[0]
    for part in where[1:]:
        parent, key = parent[key], part
    if value is not DELETE:
        if isinstance(parent, list) and key >= len(parent):
            parent.append(value)
        else:
            parent[key] = value
    elif isinstance(parent, dict):
        parent.pop(key, None)
    elif key < len(parent):
        del parent[key]


@FUZZ
@given(
    where=PLACES,
    value=st.one_of(JSON, st.just(DELETE)),
    bbox=st.none() | st.lists(NUMBERS, max_size=5),
)
def test_coco_with_garbage_inside(
    folder: Path, where: tuple[Any, ...], value: Any, bbox: list[Any] | None
) -> None:
    """Valid COCO with one value replaced (deleted, or an entry added) and, maybe, the first
    annotation's bbox of arbitrary numbers: when it loads, every annotation was kept or
    skipped with a reason."""
    data = valid_coco()
    if bbox is not None:
        data["annotations"][0]["bbox"] = bbox
    place(data, where, value)
    path = folder / "garbage.json"
    path.write_text(json.dumps(data))
    ds = load_coco_or_error(path)
    if ds is not None:
        assert ds.num_boxes + len(ds.skipped) == len(data["annotations"])
        assert ds.num_images == len(data["images"])


@FUZZ
@given(
    bboxes=st.lists(st.lists(NUMBERS, min_size=4, max_size=4), max_size=6),
    sizes=st.lists(st.tuples(st.integers(1, 4000), st.integers(1, 4000)), min_size=1, max_size=3),
)
def test_coco_boxes_of_any_numbers(
    folder: Path, bboxes: list[list[Any]], sizes: list[tuple[int, int]]
) -> None:
    """Four numbers per bbox, any of them: each box is kept inside its image or skipped."""
    data = {
        "images": [{"id": k, "width": w, "height": h} for k, (w, h) in enumerate(sizes)],
        "annotations": [
            {"id": i, "image_id": i % len(sizes), "category_id": 1, "bbox": b}
            for i, b in enumerate(bboxes)
        ],
        "categories": [{"id": 1, "name": "thing"}],
    }
    path = folder / "boxes.json"
    path.write_text(json.dumps(data))
    ds = load_coco_or_error(path)
    assert ds is not None
    assert ds.num_boxes + len(ds.skipped) == len(bboxes)
    for box_id, box in zip(ds.box_ids, ds.pixel_boxes(slice(None))):
        x, y, w, h = (float(v) for v in bboxes[box_id])
        width, height = sizes[box_id % len(sizes)]
        clipped = np.clip([x, y, x + w, y + h], 0, [width, height, width, height])
        # the stored box is the bbox clipped to its image, or reaching out less than half a
        # pixel and left as it is; float32 normalized coordinates round the rest
        np.testing.assert_allclose(box, clipped, rtol=0, atol=0.5 + 1e-6 * max(width, height))


@FUZZ
@given(content=st.binary(max_size=200))
def test_coco_of_any_bytes(folder: Path, content: bytes) -> None:
    path = folder / "bytes.json"
    path.write_bytes(content)
    load_coco_or_error(path)


@FUZZ
@given(
    name=st.text(max_size=10),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32", "latin-1"]),
    ascii_only=st.booleans(),
)
def test_coco_in_any_encoding(folder: Path, name: str, encoding: str, ascii_only: bool) -> None:
    """Unicode encodings load with the same names; anything else is a clear error."""
    data = valid_coco()
    data["categories"][0]["name"] = name
    text = json.dumps(data, ensure_ascii=ascii_only)
    try:
        content = text.encode(encoding)
    except UnicodeEncodeError:  # latin-1 cannot hold this name
        content = text.encode(encoding, errors="replace")
    path = folder / "encoded.json"
    path.write_bytes(content)
    ds = load_coco_or_error(path)
    if encoding != "latin-1" or text.isascii():
        assert ds is not None and ds.class_names == ("person", name)


# --------------------------------------------------------------------------- YOLO
TOKENS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-0.5, max_value=1.5).map(str),
    st.integers(-3, 5).map(str),
    st.sampled_from(["nan", "-inf", "1e9", "1e39", "0x1", "1_0", "", "\x00", "\ufeff0", "٣"]),
    st.text(max_size=4),
)
LINES = st.one_of(
    st.lists(TOKENS, max_size=9).map(" ".join),
    st.text(max_size=30),
)


@pytest.fixture(scope="module")
def yolo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("yolo")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    assert cv2.imwrite(str(root / "images" / "a.png"), np.zeros((17, 33, 3), np.uint8))
    assert cv2.imwrite(str(root / "images" / "b.jpg"), np.zeros((40, 20, 3), np.uint8))
    return root


def load_yolo_or_error(root: Path, names: tuple[str, ...] | None) -> BoxDataset | None:
    try:
        ds = load_yolo(root, names=names, workers=1)
    except DiagnosticsError as error:
        assert type(error) is DiagnosticsError and "\n" not in str(error)
        return None
    assert_consistent(ds)
    if names is not None:
        assert ds.class_names == names
    return ds


@FUZZ
@given(
    lines=st.lists(LINES, max_size=8),
    newline=st.sampled_from(["\n", "\r\n"]),
    names=st.none() | st.just(("a", "b", "c")),
)
def test_yolo_label_lines_of_any_text(
    yolo_root: Path, lines: list[str], newline: str, names: tuple[str, ...] | None
) -> None:
    """Every non-blank line of a label file is a box or a skip with its line number."""
    text = newline.join(lines)
    (yolo_root / "labels" / "a.txt").write_text(text, encoding="utf-8", newline="")
    ds = load_yolo_or_error(yolo_root, names)
    assert ds is not None
    assert ds.num_boxes + len(ds.skipped) == sum(1 for x in text.splitlines() if x.split())
    assert (ds.box_image == 0).all()  # b.jpg has no label file


@FUZZ
@given(content=st.binary(max_size=200))
def test_yolo_label_file_of_any_bytes(yolo_root: Path, content: bytes) -> None:
    (yolo_root / "labels" / "a.txt").write_bytes(content)
    ds = load_yolo_or_error(yolo_root, None)
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        assert ds is None  # a label file that is not text is refused, named
    else:
        assert ds is not None


# --------------------------------------------------------------------------- targets
PROBLEM = Problem.preset("yolov5-p5", batch_size=2, num_classes=3)
FLOAT8 = tuple(
    getattr(torch, name)
    for name in ("float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu")
    if hasattr(torch, name)
)
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64, *FLOAT8)
OTHERS = (torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64)
EDGES = [0.0, -0.0, 1.0, 2.0, 3.0, 0.5, -1.0, 1e-45, 1 - 1e-9, 1 + 1e-9, 1e300, -1e300]
VALUES = st.one_of(
    st.sampled_from(EDGES + [math.nan, math.inf, -math.inf]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 1),
    st.integers(-3, 4).map(float),
)


@st.composite
def any_tensor(draw: st.DrawFn) -> object:
    """Mostly ``[nt, 6]`` floats near the rules' edges; also other shapes, dtypes, objects,
    and tensors without values (meta) or not dense (sparse)."""
    kind = draw(st.sampled_from(["rows", "rows", "rows", "shape", "object"]))
    if kind == "object":
        good = torch.tensor([[0, 0, 0.5, 0.5, 0.1, 0.1]])
        return draw(
            st.sampled_from(
                [None, good.tolist(), good.numpy(), 3.0, good.to("meta"), good.to_sparse()]
            )
        )
    if kind == "rows":
        shape = (draw(st.integers(0, 5)), 6)
        dtype = draw(st.sampled_from(FLOATS))
    else:
        shape = tuple(draw(st.lists(st.integers(0, 7), max_size=3)))
        dtype = draw(st.sampled_from(FLOATS + OTHERS))
    values = draw(st.lists(VALUES, min_size=math.prod(shape), max_size=math.prod(shape)))
    t = torch.tensor(values, dtype=torch.float64).reshape(shape)
    if dtype.is_floating_point or dtype.is_complex:
        return t.to(dtype)
    if dtype == torch.bool:
        return t.nan_to_num() != 0
    return t.nan_to_num().clamp(-1000, 1000).to(dtype)


def follows_the_rules(targets: object) -> bool:
    """`validate_targets`' documented rules, checked here one value at a time."""
    if not isinstance(targets, torch.Tensor) or targets.dim() != 2 or targets.shape[1] != 6:
        return False
    if targets.is_meta or targets.layout != torch.strided:
        return False
    if not targets.dtype.is_floating_point:
        return False
    for image, cls, x, y, w, h in targets.double().tolist():
        if not all(math.isfinite(v) for v in (image, cls, x, y, w, h)):
            return False
        if not (image.is_integer() and 0 <= image < PROBLEM.batch_size):
            return False
        if not (cls.is_integer() and 0 <= cls < PROBLEM.num_classes):
            return False
        if not (0 <= x <= 1 and 0 <= y <= 1 and w > 0 and h > 0):
            return False
    return True


@settings(FUZZ, max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(targets=any_tensor())
def test_validate_targets_accepts_exactly_what_the_rules_allow(targets: object) -> None:
    valid = follows_the_rules(targets)
    try:
        out = validate_targets(PROBLEM, targets)
    except DiagnosticsError as error:
        assert type(error) is DiagnosticsError and "\n" not in str(error)
        assert str(error).startswith("targets")
        assert not valid, f"refused valid targets: {error}"
    else:
        assert out is targets
        assert valid, "accepted targets that break a rule"
