"""The bad-input table: every malformed dataset or assigner is one clear line, never a traceback.

Each row is checked twice: through the API (`load_coco`, `load_yolo`, `load_factory`), which
raises exactly `DiagnosticsError` with a one-line message naming the file and where, or skips
the annotation with its counted reason and location; and through the command line, which
exits 2 with that line on stderr, or exits 0 with the skip counted in ``summary.json``.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from yolo_diagnostics import DiagnosticsError, Problem, validate_targets
from yolo_diagnostics.assigners import load_factory
from yolo_diagnostics.cli import main
from yolo_diagnostics.data import load_coco, load_yolo
from yolo_diagnostics.data.boxes import (
    CROWD,
    DUPLICATE,
    MALFORMED,
    MALFORMED_BBOX,
    NOT_FINITE,
    NOT_POSITIVE,
    OUTSIDE,
    UNKNOWN_CATEGORY,
    UNKNOWN_CLASS,
    UNKNOWN_IMAGE,
    Skip,
)

# --------------------------------------------------------------------------- helpers
GOOD = {"id": 1, "image_id": 3, "category_id": 1, "bbox": [10, 10, 50, 60]}


def coco_data(**changes: Any) -> dict[str, Any]:
    """A valid COCO file (two images, two categories, one good box) with keys replaced."""
    return {
        "images": [
            {"id": 3, "file_name": "a.jpg", "width": 640, "height": 480},
            {"id": 4, "file_name": "b.jpg", "width": 320, "height": 240},
        ],
        "annotations": [GOOD],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}],
        **changes,
    }


def with_image(**fields: Any) -> dict[str, Any]:
    """`coco_data` with image 3's fields changed (``None`` deletes one)."""
    image = {"id": 3, "file_name": "a.jpg", "width": 640, "height": 480, **fields}
    image = {k: v for k, v in image.items() if v is not None or k == "id"}
    return coco_data(images=[image, coco_data()["images"][1]])


def with_annotation(**fields: Any) -> dict[str, Any]:
    """`coco_data` with a second annotation, id 5 on image 3, its fields changed."""
    ann = {"id": 5, "image_id": 3, "category_id": 2, "bbox": [100, 100, 40, 30], **fields}
    return coco_data(annotations=[GOOD, {k: v for k, v in ann.items() if v is not ...}])


def dumps(data: Any) -> bytes:
    return json.dumps(data).encode()


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of the command line."""
    try:
        code = main(argv)
    except SystemExit as exited:
        code = int(exited.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, message: str) -> None:
    """Exit code 2 and the API's message as the one line on stderr."""
    assert code == 2, out + err
    assert "Traceback" not in out + err
    assert err == f"yolo-diagnostics: error: {message}\n"


def assert_api_error(error: pytest.ExceptionInfo[BaseException], *names: str) -> str:
    """The error is exactly `DiagnosticsError`, one line, naming each of ``names``."""
    assert type(error.value) is DiagnosticsError
    message = str(error.value)
    assert "\n" not in message
    for name in names:
        assert name in message, message
    return message


def scan(
    capsys: pytest.CaptureFixture[str], out: Path, *source: str
) -> tuple[int, str, str, dict[str, Any] | None]:
    code, stdout, err = cli(["scan", *source, "--out", str(out), "--pages", "0"], capsys)
    summary = out / "summary.json"
    return code, stdout, err, json.loads(summary.read_text()) if summary.exists() else None


def png_header(width: int, height: int) -> bytes:
    """A PNG with only its header: what a size read sees, without the pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- COCO: errors
NESTED = b"[" * 100_000 + b"]" * 100_000
LATIN1 = json.dumps(coco_data(categories=[{"id": 1, "name": "caf\xe9"}]), ensure_ascii=False)

COCO_ERRORS = [
    ("not JSON", b"images: []", "not a COCO instances file, not JSON: Expecting value"),
    ("empty file", b"", "not JSON: Expecting value: line 1 column 1"),
    ("truncated JSON", dumps(coco_data())[:-25], "not a COCO instances file, not JSON"),
    ("a list", b"[1, 2]", "not a COCO instances file, the top level is not an object"),
    ("nested too deeply", NESTED, "not a COCO instances file, JSON nested too deeply"),
    ("a 5000-digit number", b'{"images": ' + b"9" * 5000 + b"}", "not JSON: Exceeds the limit"),
    ("not UTF-8", LATIN1.encode("latin-1"), "not JSON: 'utf-8' codec can't decode byte 0xe9"),
    ("no images", dumps({"annotations": [], "categories": []}), "no 'images' list"),
    ("no annotations", dumps({"images": [], "categories": []}), "no 'annotations' list"),
    ("no categories", dumps({"images": [], "annotations": []}), "no 'categories' list"),
    ("images not a list", dumps(coco_data(images={"3": {}})), "no 'images' list"),
    ("empty dataset", dumps(coco_data(images=[], annotations=[])), "no images in 'images'"),
    (
        "image without width",
        dumps(with_image(width=None)),
        "image id 3: width and height must be positive integers, got width=None, height=480",
    ),
    ("image of height 0", dumps(with_image(height=0)), "got width=640, height=0"),
    ("image width a float", dumps(with_image(width=640.0)), "got width=640.0, height=480"),
    ("image width a string", dumps(with_image(width="640")), "got width='640', height=480"),
    ("image width huge", dumps(with_image(width=10**30)), "(at most 2147483647 pixels)"),
    ("image id null", dumps(with_image(id=None)), "images[0]: id must be an integer or a string"),
    ("image id a list", dumps(with_image(id=[3])), "images[0]: id must be an integer or a string"),
    ("image id true", dumps(with_image(id=True)), "images[0]: id must be an integer or a string"),
    (
        "image not an object",
        dumps(coco_data(images=[3])),
        "images[0] is not an object with id",
    ),
    (
        "duplicate image ids",
        dumps(coco_data(images=coco_data()["images"] * 2)),
        "image id 3 appears more than once in 'images'",
    ),
    (
        "duplicate annotation ids",
        dumps(coco_data(annotations=[GOOD, GOOD | {"bbox": [1, 1, 5, 5]}])),
        "annotation id 1 appears more than once in 'annotations'",
    ),
    (
        "duplicate category ids",
        dumps(coco_data(categories=[{"id": 1, "name": "a"}, {"id": 1, "name": "b"}])),
        "category id 1 appears more than once in 'categories'",
    ),
    (
        "annotation without image_id",
        dumps(with_annotation(image_id=...)),
        "annotations[1] is not an object with id, image_id, category_id",
    ),
    (
        "image_id a list",
        dumps(with_annotation(image_id=[3])),
        "annotations[1]: image_id must be an integer or a string, got [3]",
    ),
    (
        "category_id an object",
        dumps(with_annotation(category_id={"id": 2})),
        "annotations[1]: category_id must be an integer or a string, got {'id': 2}",
    ),
    (
        "category id a list",
        dumps(coco_data(categories=[{"id": [1], "name": "a"}])),
        "categories[0]: id must be an integer or a string, got [1]",
    ),
]


@pytest.mark.parametrize(
    ("content", "message"), [row[1:] for row in COCO_ERRORS], ids=[row[0] for row in COCO_ERRORS]
)
def test_coco_error(
    content: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ann.json"
    path.write_bytes(content)
    with pytest.raises(DiagnosticsError) as error:
        load_coco(path)
    expected = assert_api_error(error, message)
    assert expected.startswith(f"{path}: ")
    code, out, err, summary = scan(capsys, tmp_path / "r", "--coco", str(path))
    assert_one_line_error(code, out, err, expected)
    assert summary is None


# --------------------------------------------------------------------------- COCO: skips
COCO_SKIPS = [
    ("bbox of 3 values", {"bbox": [10, 10, 5]}, MALFORMED_BBOX),
    ("bbox of 5 values", {"bbox": [10, 10, 5, 5, 1]}, MALFORMED_BBOX),
    ("bbox not a list", {"bbox": "10,10,5,5"}, MALFORMED_BBOX),
    ("bbox an object", {"bbox": {"x": 10}}, MALFORMED_BBOX),
    ("bbox null", {"bbox": None}, MALFORMED_BBOX),
    ("bbox missing", {"bbox": ...}, MALFORMED_BBOX),
    ("bbox with a string", {"bbox": [10, "10", 5, 5]}, MALFORMED_BBOX),  # not read as 10
    ("bbox with true", {"bbox": [10, 10, True, 5]}, MALFORMED_BBOX),  # not read as 1
    ("bbox with a list", {"bbox": [[10], 10, 5, 5]}, MALFORMED_BBOX),
    ("bbox NaN", {"bbox": [10, 10, float("nan"), 5]}, NOT_FINITE),
    ("bbox Infinity", {"bbox": [10, -float("inf"), 5, 5]}, NOT_FINITE),
    ("bbox integer beyond float", {"bbox": [10, 10, 10**400, 5]}, NOT_FINITE),
    ("bbox negative width", {"bbox": [10, 10, -5, 5]}, NOT_POSITIVE),
    ("bbox zero height", {"bbox": [10, 10, 5, 0]}, NOT_POSITIVE),
    ("wholly outside its image", {"bbox": [700, 10, 5, 5]}, OUTSIDE),
    ("above its image", {"bbox": [10, -100, 5, 50]}, OUTSIDE),
    ("unknown category_id", {"category_id": 42}, UNKNOWN_CATEGORY),
    ("category_id a string", {"category_id": "2"}, UNKNOWN_CATEGORY),
    ("missing image", {"image_id": 99}, UNKNOWN_IMAGE),
    ("crowd", {"iscrowd": 1}, CROWD),
]


@pytest.mark.parametrize(
    ("fields", "reason"), [row[1:] for row in COCO_SKIPS], ids=[row[0] for row in COCO_SKIPS]
)
def test_coco_skip(
    fields: dict[str, Any], reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ann.json"
    path.write_bytes(dumps(with_annotation(**fields)))
    ds = load_coco(path)
    image = fields.get("image_id", 3)
    assert ds.skipped == [Skip(reason, f"ann.json annotation id 5 (image id {image!r})")]
    assert ds.box_ids.tolist() == [1] and ds.clipped == 0
    code, out, err, summary = scan(capsys, tmp_path / "r", "--coco", str(path))
    assert code == 0 and "Traceback" not in out + err, err
    assert summary is not None
    assert summary["skipped_annotations"] == {reason: 1}
    assert summary["targets"] == 1 and summary["clipped_targets"] == 0


def test_coco_box_partly_outside_is_clipped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ann.json"
    path.write_bytes(dumps(with_annotation(bbox=[600, 400, 100, 100])))  # image is 640 x 480
    ds = load_coco(path)
    assert ds.skipped == [] and ds.clipped == 1
    # (600..640) x (400..480) of 640 x 480
    np.testing.assert_allclose(ds.boxes[1], [620 / 640, 440 / 480, 40 / 640, 80 / 480], rtol=1e-6)
    code, out, err, summary = scan(capsys, tmp_path / "r", "--coco", str(path))
    assert code == 0 and summary is not None
    assert summary["targets"] == 2 and summary["clipped_targets"] == 1
    assert summary["skipped_annotations"] == {}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_coco_in_other_unicode_encodings_loads(
    encoding: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSON may be UTF-8, -16 or -32 (RFC 8259 readers detect which); a BOM is accepted."""
    path = tmp_path / "ann.json"
    text = json.dumps(coco_data(categories=[{"id": 1, "name": "café"}]), ensure_ascii=False)
    path.write_bytes(text.encode(encoding))
    ds = load_coco(path)
    assert ds.class_names == ("café",) and ds.num_boxes == 1
    code, out, err, summary = scan(capsys, tmp_path / "r", "--coco", str(path))
    assert code == 0 and summary is not None and summary["targets"] == 1


def test_coco_file_missing_or_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path, message in (
        (tmp_path / "missing.json", "cannot read the COCO file: No such file or directory"),
        (tmp_path, "cannot read the COCO file: Is a directory"),
    ):
        with pytest.raises(DiagnosticsError) as error:
            load_coco(path)
        expected = assert_api_error(error, f"{path}: {message}")
        code, out, err, _ = scan(capsys, tmp_path / "r", "--coco", str(path))
        assert_one_line_error(code, out, err, expected)


def test_coco_images_missing_or_undecodable_are_drawn_on_grey(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A COCO scan measures from the JSON alone: image files only draw the views, and one
    missing or broken is said and drawn on a grey canvas, the figures unchanged."""
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"not a jpeg")  # b.jpg is missing
    ann = with_annotation(image_id=4, bbox=[10, 10, 40, 30])
    path = tmp_path / "ann.json"
    path.write_bytes(dumps(ann))
    argv = ["--coco", str(path), "--images", str(images)]
    code, out, err = cli(["scan", *argv, "--out", str(tmp_path / "r"), "--pages", "2"], capsys)
    assert code == 0 and "Traceback" not in out + err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["targets"] == 2 and summary["skipped_annotations"] == {}
    for image_id, note in (("3", "a.jpg cannot be decoded"), ("4", "b.jpg not found")):
        show = ["show", *argv, "--image-id", image_id, "--out", str(tmp_path / "show")]
        code, out, err = cli(show, capsys)
        assert code == 0 and "Traceback" not in out + err
        assert note in out


# --------------------------------------------------------------------------- YOLO
GOOD_LINE = "0 0.5 0.5 0.25 0.5"


def write_image(path: Path, h: int = 48, w: int = 64) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))


def yolo_folder(root: Path, label: str | bytes, names: tuple[str, ...] | None = None) -> Path:
    """``root/images/a.png`` (64 x 48) with ``label`` as its label file; with ``names``, a
    data YAML naming them, which is returned instead of the folder."""
    write_image(root / "images" / "a.png")
    (root / "labels").mkdir()
    data = label if isinstance(label, bytes) else label.encode()
    (root / "labels" / "a.txt").write_bytes(data)
    if names is None:
        return root
    (root / "data.yaml").write_text(f"path: .\ntrain: images\nnames: {list(names)}\n")
    return root / "data.yaml"


YOLO_SKIPS = [
    ("4 fields", "0 0.5 0.5 0.1", None, MALFORMED),
    ("6 fields", "0 0.5 0.5 0.1 0.1 0.3", None, MALFORMED),
    ("a polygon of 8 fields", "0 0.1 0.1 0.2 0.2 0.3 0.3 0.4", None, MALFORMED),
    ("a word", "dog 0.5 0.5 0.1 0.1", None, MALFORMED),
    ("a hex number", "0x1 0.5 0.5 0.1 0.1", None, MALFORMED),
    ("a comma", "0,0.5,0.5,0.1,0.1", None, MALFORMED),
    ("a NUL byte", "0 0.5\x00 0.5 0.1 0.1", None, MALFORMED),
    ("a UTF-8 BOM", "\ufeff0 0.5 0.5 0.1 0.1", None, MALFORMED),
    ("x beyond the image", "0 1.5 0.5 0.1 0.1", None, OUTSIDE),
    ("y below the image", "0 0.5 -0.5 0.1 0.1", None, OUTSIDE),
    ("NaN width", "0 0.5 0.5 nan 0.1", None, NOT_FINITE),
    ("beyond float32", "0 0.5 1e39 0.1 0.1", None, NOT_FINITE),
    ("a polygon beyond float32", "0 -3e38 0 3e38 0 0 1", None, NOT_FINITE),
    ("zero width", "0 0.5 0.5 0 0.1", None, NOT_POSITIVE),
    ("negative height", "0 0.5 0.5 0.1 -0.1", None, NOT_POSITIVE),
    ("a width float32 rounds to 0", "0 0.5 0.5 1e-50 0.1", None, NOT_POSITIVE),
    ("negative class", "-1 0.5 0.5 0.1 0.1", None, UNKNOWN_CLASS),
    ("fractional class", "1.5 0.5 0.5 0.1 0.1", None, UNKNOWN_CLASS),
    ("NaN class", "nan 0.5 0.5 0.1 0.1", None, UNKNOWN_CLASS),
    ("infinite class", "inf 0.5 0.5 0.1 0.1", None, UNKNOWN_CLASS),
    ("class 1e9 without names", "1e9 0.5 0.5 0.1 0.1", None, UNKNOWN_CLASS),
    ("class not in names", "2 0.5 0.5 0.1 0.1", ("person", "dog"), UNKNOWN_CLASS),
    ("a duplicate line", GOOD_LINE, None, DUPLICATE),
]


@pytest.mark.parametrize(
    ("line", "names", "reason"), [row[1:] for row in YOLO_SKIPS], ids=[row[0] for row in YOLO_SKIPS]
)
def test_yolo_skip(
    line: str,
    names: tuple[str, ...] | None,
    reason: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = yolo_folder(tmp_path / "ds", f"{GOOD_LINE}\n\n{line}\n", names)
    ds = load_yolo(source, workers=1)
    assert ds.skipped == [Skip(reason, f"{tmp_path / 'ds' / 'labels' / 'a.txt'} line 3")]
    assert ds.box_ids.tolist() == [1] and ds.box_class.tolist() == [0] and ds.clipped == 0
    assert ds.num_classes == (1 if names is None else len(names))
    code, out, err, summary = scan(capsys, tmp_path / "r", "--yolo", str(source))
    assert code == 0 and "Traceback" not in out + err, err
    assert summary is not None
    assert summary["skipped_annotations"] == {reason: 1} and summary["targets"] == 1


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("0 0.95 0.5 0.2 0.2", [0.925, 0.5, 0.15, 0.2]),  # x reaches 1.05
        ("0 0.5 0.5 3 3", [0.5, 0.5, 1.0, 1.0]),  # w, h beyond [0, 1]: the whole image
        ("0 0.5 0.5 1e38 1e38", [0.5, 0.5, 1.0, 1.0]),  # finite float32, far out
    ],
)
def test_yolo_values_outside_0_1_are_clipped_and_counted(
    line: str, expected: list[float], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = yolo_folder(tmp_path / "ds", f"{line}\n")
    ds = load_yolo(source, workers=1)
    assert ds.skipped == [] and ds.clipped == 1
    np.testing.assert_allclose(ds.boxes[0], expected, rtol=1e-6)
    code, out, err, summary = scan(capsys, tmp_path / "r", "--yolo", str(source))
    assert code == 0 and summary is not None and summary["clipped_targets"] == 1


def _no_images(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    return root


def _no_images_folder(root: Path) -> Path:
    root.mkdir()
    return root


def _undecodable(root: Path) -> Path:
    yolo_folder(root, GOOD_LINE)
    (root / "images" / "a.png").write_bytes(b"not a png")
    return root


def _header_too_large(root: Path) -> Path:
    yolo_folder(root, GOOD_LINE)
    (root / "images" / "a.png").write_bytes(png_header(100_000, 100_000))
    return root


def _listed_but_missing(root: Path) -> Path:
    yolo_folder(root, GOOD_LINE)
    (root / "train.txt").write_text("images/a.png\nimages/gone.png\n")
    (root / "data.yaml").write_text("train: train.txt\nnames: [person]\n")
    return root / "data.yaml"


def _label_not_utf8(root: Path) -> Path:
    return yolo_folder(root, f"{GOOD_LINE}\n0 0.5 0.5 0.1 0.1 caf\xe9\n".encode("latin-1"))


def _label_utf16(root: Path) -> Path:
    return yolo_folder(root, f"{GOOD_LINE}\n".encode("utf-16"))


def _label_a_folder(root: Path) -> Path:
    write_image(root / "images" / "a.png")
    (root / "labels" / "a.txt").mkdir(parents=True)
    return root


def _yaml(text: str | bytes) -> Any:
    def make(root: Path) -> Path:
        yolo_folder(root, GOOD_LINE)
        data = text if isinstance(text, bytes) else text.encode()
        (root / "data.yaml").write_bytes(data)
        return root / "data.yaml"

    return make


def _list_not_utf8(root: Path) -> Path:
    yolo_folder(root, GOOD_LINE)
    (root / "train.txt").write_bytes(b"images/caf\xe9.png\n")
    (root / "data.yaml").write_text("train: train.txt\nnames: [person]\n")
    return root / "data.yaml"


YOLO_ERRORS = [
    ("an empty images folder", _no_images, "ds: no images (.bmp, "),
    ("no images folder", _no_images_folder, "ds: no images folder"),
    ("an image that does not decode", _undecodable, "a.png: not a readable image"),
    ("an image header of 10^10 pixels", _header_too_large, "a.png: not a readable image: Image"),
    ("an image listed but missing", _listed_but_missing, "gone.png: image file not found"),
    ("a label file not UTF-8", _label_not_utf8, "a.txt: cannot read the label file: 'utf-8'"),
    ("a label file in UTF-16", _label_utf16, "a.txt: cannot read the label file: 'utf-8'"),
    ("a label file that is a folder", _label_a_folder, "a.txt: cannot read the label file"),
    ("a data YAML not UTF-8", _yaml(b"train: images\nnames: [caf\xe9]\n"), "not a readable"),
    ("a data YAML not YAML", _yaml("train: [images\n"), "data.yaml: not a readable data YAML"),
    ("a data YAML list", _yaml("- images\n"), "data.yaml: not a data YAML, the top level"),
    ("a data YAML without names", _yaml("train: images\n"), "data.yaml: no class names"),
    ("names an empty mapping", _yaml("train: images\nnames: {}\n"), "data.yaml: no class names"),
    (
        "names with a non-number key",
        _yaml("train: images\nnames: {0: a, x: b}\n"),
        "data.yaml: names must be numbered 0 .. 1",
    ),
    ("path a list", _yaml("path: [1]\ntrain: images\nnames: [a]\n"), "path must be a folder"),
    ("an image list not UTF-8", _list_not_utf8, "train.txt: cannot read the image list"),
]


@pytest.mark.parametrize(
    ("make", "message"), [row[1:] for row in YOLO_ERRORS], ids=[row[0] for row in YOLO_ERRORS]
)
def test_yolo_error(
    make: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make(tmp_path / "ds")
    with pytest.raises(DiagnosticsError) as error:
        load_yolo(source, workers=1)
    expected = assert_api_error(error, message, str(tmp_path))
    code, out, err, summary = scan(capsys, tmp_path / "r", "--yolo", str(source))
    assert_one_line_error(code, out, err, expected)
    assert summary is None


# --------------------------------------------------------------------------- assigners
LOAD_ERRORS = [
    ("no colon", "buggy_assigners", "expected 'module.path:factory'"),
    ("a relative module", ".buggy:factory", "cannot import '.buggy': TypeError: the 'package'"),
    ("a missing module", "nowhere_at_all:factory", "cannot import 'nowhere_at_all': No module"),
    ("a module raising", "raises_on_import:factory", "RuntimeError: needs a GPU to import"),
    ("a syntax error", "syntax_error_module:factory", "cannot import 'syntax_error_module': Synt"),
    ("a missing attribute", "buggy_assigners:nothing", "has no attribute 'nothing'"),
    ("not callable", "buggy_assigners:NOT_A_FACTORY", "'NOT_A_FACTORY' is not callable"),
]


@pytest.fixture
def broken_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Importable modules that fail while importing."""
    (tmp_path / "raises_on_import.py").write_text('raise RuntimeError("needs a GPU to import")\n')
    (tmp_path / "syntax_error_module.py").write_text("def factory(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.parametrize(
    ("spec", "message"), [row[1:] for row in LOAD_ERRORS], ids=[row[0] for row in LOAD_ERRORS]
)
def test_assigner_that_does_not_load(
    spec: str,
    message: str,
    broken_modules: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(DiagnosticsError) as error:
        load_factory(spec)
    expected = assert_api_error(error, f"assigner {spec!r}", message)
    argv = ["check", "--assigner", spec, "--json", str(tmp_path / "check.json")]
    code, out, err = cli(argv, capsys)
    assert_one_line_error(code, out, err, expected)
    assert not (tmp_path / "check.json").exists()


BROKEN_OUTPUTS = [
    ("factory raises", "factory_raises", "CRASH RuntimeError: cannot build the loss"),
    ("build_targets raises", "build_targets_raises", "CRASH KeyError: 'anchor_t'"),
    ("returns None", "returns_none", "[error] shapes: expected a 4-tuple (tcls, tbox,"),
    ("returns 3 lists", "returns_three_lists", "[error] shapes: expected a 4-tuple"),
    ("NumPy indices", "returns_numpy_indices", "b, a, gj, gi: expected tensors"),
    ("wrong device", "returns_meta_tensors", "[error] shapes: tensors on meta, expected cpu"),
    ("mixed devices", "returns_meta_anchors", "tensors on several devices: ['cpu', 'meta']"),
]


@pytest.mark.parametrize(
    ("factory", "line"), [row[1:] for row in BROKEN_OUTPUTS], ids=[row[0] for row in BROKEN_OUTPUTS]
)
def test_assigner_that_breaks_fails_every_case_in_a_line(
    factory: str, line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``check`` reports the failure per case and exits 1; nothing escapes as a traceback."""
    report = tmp_path / "check.json"
    argv = ["check", "--assigner", f"buggy_assigners:{factory}", "--json", str(report)]
    code, out, err = cli(argv, capsys)
    assert code == 1 and err == "" and "Traceback" not in out
    assert line in out
    cases = json.loads(report.read_text())["cases"]
    assert cases and all(case["failed"] for case in cases)
    assert out.splitlines()[-1].startswith(f"result: FAIL ({len(cases)} of {len(cases)} cases)")


# --------------------------------------------------------------------------- targets
PROBLEM = Problem.preset("yolov5-p5", batch_size=2, num_classes=3)
GOOD_TARGETS = torch.tensor([[0.0, 1.0, 0.5, 0.5, 0.25, 0.5]])


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (GOOD_TARGETS.to("meta"), "targets: expected a dense tensor holding values, got one on"),
        (GOOD_TARGETS.to_sparse(), "got one with layout torch.sparse_coo"),
        (
            (GOOD_TARGETS * 4).to(torch.float8_e4m3fn),
            "row 0, field 'class': must be in [0, 3), got 4.0",
        ),
        (GOOD_TARGETS.to(torch.complex64), "targets: expected a floating dtype"),
    ],
    ids=["meta", "sparse", "float8 out of range", "complex"],
)
def test_targets_that_cannot_be_checked_are_refused(targets: torch.Tensor, message: str) -> None:
    with pytest.raises(DiagnosticsError) as error:
        validate_targets(PROBLEM, targets)
    assert_api_error(error, message)


def test_float8_targets_in_range_pass_unchanged() -> None:
    targets = GOOD_TARGETS.to(torch.float8_e4m3fn)
    assert validate_targets(PROBLEM, targets) is targets
