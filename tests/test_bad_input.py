"""The bad-input table: every malformed dataset, assigner, case file, snapshot, option or
output path is one clear line, never a traceback.

Each row is checked twice where there is an API: through it (`load_coco`, `load_yolo`,
`load_factory`, `load_case`, `snapshot.read`), which raises exactly `DiagnosticsError` with a
one-line message naming the file and where, or skips the annotation with its counted reason
and location; and through the command line (`check`, `snapshot`, `show`, `scan`, or the
contract's ``--golden``), which exits 2 with that line on stderr (pytest's usage error, 4,
for ``--golden``) and writes nothing, or exits 0 with the skip counted in ``summary.json``.
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

from yolo_diagnostics import DiagnosticsError, Problem, assign, validate_targets
from yolo_diagnostics.assigners import DEFAULT_ASSIGNER, load_factory
from yolo_diagnostics.cli import main
from yolo_diagnostics.contract.cases import case_to_data
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
from yolo_diagnostics.data.sample import SAMPLE_COCO
from yolo_diagnostics.report.contract import load_case
from yolo_diagnostics.snapshot import SnapshotCase, read, rows_of, write

pytest_plugins = ["pytester"]

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


def files_in(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def assert_error_line(code: int, out: str, err: str, start: str, *parts: str) -> None:
    """Exit code 2 and one line on stderr starting with ``start`` and holding ``parts``."""
    assert code == 2, out + err
    assert "Traceback" not in out + err
    line = err.removeprefix("yolo-diagnostics: error: ")
    assert line.startswith(start) and line.endswith("\n") and line.count("\n") == 1, err
    for part in parts:
        assert part in line, err


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


def test_coco_images_missing_or_undecodable_are_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With an images folder, an image YOLOv5 would not train on is left out as it leaves
    it out: none left is one line naming the first; one left out is counted; show names it.
    (Without the folder the JSON alone is measured and no file is read.)"""
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"not a jpeg")  # b.jpg is missing
    path = tmp_path / "ann.json"
    path.write_bytes(dumps(with_annotation(image_id=4, bbox=[10, 10, 40, 30])))
    argv = ["--coco", str(path), "--images", str(images)]
    with pytest.raises(DiagnosticsError) as error:
        load_coco(path, images)
    expected = assert_api_error(
        error,
        f"{path}: no image in {images} that YOLOv5 would train on: ",
        f"{images / 'a.jpg'} (image id 3): image unreadable (not an image Pillow can read",
        "(and 1 more)",
    )
    code, out, err, summary = scan(capsys, tmp_path / "r", *argv)
    assert_one_line_error(code, out, err, expected)
    assert summary is None

    write_image(images / "a.jpg", 480, 640)
    code, out, err, summary = scan(capsys, tmp_path / "r", *argv)
    assert code == 0 and "Traceback" not in out + err and summary is not None
    assert summary["targets"] == 1 and summary["skipped_images"] == {"image file missing": 1}
    assert summary["skipped_annotations"] == {"image file missing": 1}
    show = ["show", *argv, "--out", str(tmp_path / "show"), "--image-id"]
    code, out, err = cli([*show, "4"], capsys)
    assert_error_line(code, out, err, f"{images / 'b.jpg'} (image id 4): image file missing")
    assert cli([*show, "3"], capsys)[0] == 0


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
    (root / "train.txt").write_text("images/gone.png\n")  # one of several: a counted skip
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
    ("an image that does not decode", _undecodable, "a.png: image unreadable (not an image"),
    ("an image header of 10^10 pixels", _header_too_large, "a.png: image unreadable (Image size"),
    ("every image listed missing", _listed_but_missing, "gone.png: image file missing (no such"),
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
    assert out.splitlines()[-1].startswith(
        f"result: FAIL ({len(cases)} of {len(cases)} applicable cases)"
    )


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


# --------------------------------------------------------------------------- case files
CASE_PROBLEM = Problem.preset("yolov5-p5", img_size=(64, 64))


def case_content(**fields: Any) -> dict[str, Any]:
    """A valid case file of the invariants property (one box, 64 x 64 input), its top-level
    fields replaced (``...`` deletes one)."""
    case = case_to_data("invariants", "cpu", {"problem": CASE_PROBLEM, "targets": GOOD_TARGETS})
    content = {"assigner": DEFAULT_ASSIGNER, "reference": "yolov5", "strict": False, "case": case}
    return {k: v for k, v in {**content, **fields}.items() if v is not ...}


def with_case(**fields: Any) -> bytes:
    """`case_content` with fields of its ``case`` replaced (``...`` deletes one)."""
    case = {**case_content()["case"], **fields}
    return dumps(case_content(case={k: v for k, v in case.items() if v is not ...}))


def with_problem(**fields: Any) -> bytes:
    return with_case(problem={**case_content()["case"]["problem"], **fields})


def with_targets(data: Any, dtype: Any = "float32") -> bytes:
    return with_case(targets={"dtype": dtype, "data": data})


CASE_ERRORS = [
    ("empty file", b"", "not a readable case file: Expecting value: line 1 column 1"),
    ("truncated JSON", dumps(case_content())[:-40], "not a readable case file: "),
    ("nested too deeply", NESTED, "not a readable case file, nested too deeply"),
    ("a list", b"[1, 2]", "not a case file, the top level is not an object"),
    ("a string naming the keys", b'"assigner case"', "the top level is not an object"),
    ("no case", dumps(case_content(case=...)), "not a case file, no 'case'"),
    ("no assigner", dumps(case_content(assigner=...)), "not a case file, no 'assigner'"),
    ("assigner null", dumps(case_content(assigner=None)), "'assigner' must be a 'module.path"),
    ("strict a string", dumps(case_content(strict="no")), "'strict' must be true or false"),
    ("unknown reference", dumps(case_content(reference="v8")), "'reference' must be \"yolov5\""),
    ("case a list", dumps(case_content(case=[1])), "the case is not an object, got list"),
    ("no property", with_case(property=...), "the case does not load: the case has no 'property'"),
    ("device a number", with_case(device=0), "the case's 'device' must be a string, got 0"),
    ("problem null", with_case(problem=None), "the case's 'problem' must be an object, got None"),
    ("problem field unknown", with_problem(nms=0.5), "unexpected keyword argument 'nms'"),
    ("zero stride", with_problem(strides=[0, 16, 32]), "Problem.strides: must be positive"),
    ("size not divisible", with_problem(img_size=[65, 64]), "H=65 is not divisible by stride 8"),
    ("negative size", with_problem(img_size=[-64, 64]), "img_size: must be positive, got (-64,"),
    ("size a string", with_problem(img_size=["64", 64]), "img_size: expected integers, got ('64'"),
    ("size a number", with_problem(img_size=64), "img_size: expected a sequence of integers"),
    ("anchor_t a string", with_problem(anchor_t="4"), "anchor_t: must be finite and > 1, got '4'"),
    (
        "anchor_t NaN",
        with_problem(anchor_t=float("nan")),
        "anchor_t: must be finite and > 1, got nan",
    ),
    ("g a string", with_problem(g="0.5"), "Problem.g: the neighbour bias must be that of a rule"),
    ("an unknown rule", with_problem(rule="yolov9"), "Problem.rule: expected one of yolov5, "),
    ("anchors a string", with_problem(anchors="p5"), "anchors: expected levels of (w, h) pairs"),
    ("an anchor of text", with_problem(anchors=[[["10", "13"]]] * 3), "anchor 0 is not a (w, h)"),
    ("targets a list", with_case(targets=[[0, 0, 0.5, 0.5, 0.1, 0.1]]), "with 'dtype' and 'data'"),
    ("targets int64", with_targets([], "int64"), "a torch floating dtype, got 'int64'"),
    ("targets dtype unknown", with_targets([], "Tensor"), "a torch floating dtype, got 'Tensor'"),
    ("a row of 3", with_targets([[0, 0, 0.5]]), "the case's targets: row 0 is not a list of 6"),
    ("a string in a row", with_targets([[0, 0, "0.5", 0.5, 0.1, 0.1]]), "row 0 is not a list"),
    ("a number beyond float", with_targets([[0, 0, 10**400, 0.5, 0.1, 0.1]]), "int too large"),
    ("x outside the image", with_targets([[0, 0, 1.5, 0.5, 0.1, 0.1]]), "row 0, field 'x'"),
    ("image beyond the batch", with_targets([[3, 0, 0.5, 0.5, 0.1, 0.1]]), "field 'image'"),
]


@pytest.mark.parametrize(
    ("content", "message"), [row[1:] for row in CASE_ERRORS], ids=[row[0] for row in CASE_ERRORS]
)
def test_case_file_error(
    content: bytes,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``show CASE.json`` refuses a malformed case file before running anything."""
    monkeypatch.chdir(tmp_path)  # where show's default reports/ would go
    path = tmp_path / "case.json"
    path.write_bytes(content)
    with pytest.raises(DiagnosticsError) as error:
        load_case(path)
    expected = assert_api_error(error, message)
    assert expected.startswith(f"{path}: ")
    code, out, err = cli(["show", str(path)], capsys)
    assert_one_line_error(code, out, err, expected)
    assert files_in(tmp_path) == ["case.json"]


CASE_REPLAY_ERRORS = [
    ("a device torch does not know", with_case(device="tpu"), "the case's device tpu: not a dev"),
    ("a GPU this machine lacks", with_case(device="cuda:99"), "the case's device cuda:99: "),
    ("a property of the contract only", with_case(property="golden"), "a 'golden' case replays"),
    ("an unknown property", with_case(property="nope"), "a 'nope' case replays only in the"),
    ("an input too large to draw", with_problem(img_size=[8192, 64]), "input 8192x64 is too la"),
    (
        "an input of 10^30 px",
        with_problem(img_size=[10**30, 64]),
        "the case's input 1000000000000000000000000000000x64 is too large to draw",
    ),
    (
        "a permutation without its order",
        with_case(property="permutation"),
        "the 'permutation' case does not run: KeyError: 'permutation'",
    ),
    (
        "a permutation out of range",
        with_case(property="permutation", permutation=[5]),
        "the 'permutation' case does not run: IndexError: index 5 is out of bounds",
    ),
    (
        "a shift of three numbers",
        with_case(property="translation", shift=[1, 0, 1]),
        "the 'translation' case does not run: ValueError: too many values to unpack",
    ),
]


@pytest.mark.parametrize(
    ("content", "message"),
    [row[1:] for row in CASE_REPLAY_ERRORS],
    ids=[row[0] for row in CASE_REPLAY_ERRORS],
)
def test_case_file_that_loads_but_cannot_replay(
    content: bytes,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What only the replay can judge (the device, the drawing, the property's own fields)
    is one line naming the file too, with nothing drawn."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "case.json"
    path.write_bytes(content)
    load_case(path)
    code, out, err = cli(["show", str(path)], capsys)
    assert_error_line(code, out, err, f"{path}: ", message)
    assert files_in(tmp_path) == ["case.json"]


def test_good_case_file_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The table's base case is valid: each row fails by its one change."""
    path = tmp_path / "case.json"
    path.write_bytes(dumps(case_content()))
    code, out, err = cli(["show", str(path), "--out", str(tmp_path / "o.png")], capsys)
    assert (code, err) == (0, "") and "passes now" in out
    assert files_in(tmp_path) == ["case.json", "o.png"]


# --------------------------------------------------------------------------- options, paths
PROC = "/proc/yolo-diagnostics"  # no folder can be made there, not even by root
HOSTILE_NAME = "case\nyolo-diagnostics: error: \x1b[2Jforged.json"
CLI_ERRORS = [
    ("check: --json a folder", ["check", "--json", "{tmp}/adir"], "{tmp}/adir: is a folder"),
    ("check: --json in a file", ["check", "--json", "{tmp}/afile/c.json"], "{tmp}/afile: is a "),
    ("check: --json unwritable", ["check", "--json", f"{PROC}/c.json"], f"{PROC}: cannot create"),
    ("check: --json empty", ["check", "--json", ""], ".: is a folder, expected a file name"),
    ("check: --seed 2**64", ["check", "--seed", str(2**64)], "--seed 18446744073709551616: must"),
    ("check: --seed -1", ["check", "--seed", "-1"], "--seed -1: must be in [0, 2**64)"),
    ("check: --device tpu", ["check", "--device", "tpu"], "--device tpu: not a device string"),
    ("snapshot: --out a folder", ["snapshot", "--out", "{tmp}/adir"], "{tmp}/adir: is a folder"),
    ("snapshot: --out in a file", ["snapshot", "--out", "{tmp}/afile/s.txt"], "{tmp}/afile: is"),
    ("snapshot: --out unwritable", ["snapshot", "--out", f"{PROC}/s.txt"], f"{PROC}: cannot cr"),
    (
        "snapshot: a missing module",
        ["snapshot", "--assigner", "nowhere_at_all:factory", "--out", "{tmp}/s.txt"],
        "assigner 'nowhere_at_all:factory': cannot import 'nowhere_at_all': No module named",
    ),
    (
        "snapshot: a factory that raises",
        ["snapshot", "--assigner", "buggy_assigners:factory_raises", "--out", "{tmp}/s.txt"],
        "assigner 'buggy_assigners:factory_raises': case 'yolov5-p5-640/edges': the assigner "
        "raised RuntimeError: cannot build the loss: no hyp.yaml",
    ),
    (
        "snapshot: build_targets returns None",
        ["snapshot", "--assigner", "buggy_assigners:returns_none", "--out", "{tmp}/s.txt"],
        "assigner 'buggy_assigners:returns_none': case 'yolov5-p5-640/edges': [error] shapes: "
        "expected a 4-tuple (tcls, tbox, indices",
    ),
    (
        "snapshot: meta tensors",
        ["snapshot", "--assigner", "buggy_assigners:returns_meta_tensors", "--out", "{tmp}/s"],
        "assigner 'buggy_assigners:returns_meta_tensors': case 'yolov5-p5-640/edges': [error] "
        "shapes: tensors on meta, expected cpu",
    ),
    ("show: a missing file", ["show", "{tmp}/gone.json"], "{tmp}/gone.json: cannot read the c"),
    ("show: a folder", ["show", "{tmp}/adir"], "{tmp}/adir: cannot read the case file: Is a di"),
    (
        "show: a file name with a line break and an escape",
        ["show", "{tmp}/" + HOSTILE_NAME],
        "{tmp}/case\\nyolo-diagnostics: error: \\x1b[2Jforged.json: cannot read the case file",
    ),
    (
        "show: --out a folder",
        ["show", "{tmp}/case.json", "--out", "{tmp}/adir"],
        "{tmp}/adir: is a folder, expected a file name to write",
    ),
    (
        "show: --out in a file",
        ["show", "{tmp}/case.json", "--out", "{tmp}/afile/o.png"],
        "{tmp}/afile: is a file, expected a folder",
    ),
    (
        "show: a missing attribute",
        ["show", "{tmp}/case.json", "--assigner", "buggy_assigners:nothing"],
        "assigner 'buggy_assigners:nothing': 'buggy_assigners' has no attribute 'nothing'",
    ),
    (
        "show: the case's own assigner missing",
        ["show", "{tmp}/lost.json"],
        "{tmp}/lost.json: the case's assigner 'lost_module:make': cannot import 'lost_module'",
    ),
    (
        "show: image views into a file",
        ["show", "--coco", "{sample}", "--image-id", "1", "--out", "{tmp}/afile"],
        "{tmp}/afile: is a file, expected a folder",
    ),
    (
        "scan: --out a file",
        ["scan", "--out", "{tmp}/afile", "--pages", "0"],
        "{tmp}/afile: is a file, expected a folder",
    ),
    ("show: a case and a dataset", ["show", "{tmp}/case.json", "--coco", "{sample}"], "show take"),
    ("show: nothing to show", ["show"], "show needs a case file, --coco ANN.json --image-id N"),
]


@pytest.mark.parametrize(
    ("argv", "message"), [row[1:] for row in CLI_ERRORS], ids=[row[0] for row in CLI_ERRORS]
)
def test_command_line_error(
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bad options and output paths of check, snapshot and show: one line, exit 2, and no
    file written anywhere (the working folder is ``tmp_path``, where reports/ would go)."""
    if PROC in " ".join(argv) and not Path("/proc/self").is_dir():
        pytest.skip("needs Linux's /proc")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file where a folder should be")
    (tmp_path / "adir").mkdir()
    (tmp_path / "case.json").write_bytes(dumps(case_content()))
    (tmp_path / "lost.json").write_bytes(dumps(case_content(assigner="lost_module:make")))
    before = files_in(tmp_path)
    where = {"tmp": str(tmp_path), "sample": str(SAMPLE_COCO)}
    code, out, err = cli([a.format(**where) for a in argv], capsys)
    assert_error_line(code, out, err, message.format(**where))
    assert files_in(tmp_path) == before


def test_output_folders_that_do_not_exist_are_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing folder in an output path is not an error: it is made, and only the named
    file is written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "case.json").write_bytes(dumps(case_content()))
    code, out, err = cli(["show", "case.json", "--out", "new/deeper/o.png"], capsys)
    assert (code, err) == (0, "") and out.endswith("overlay written to new/deeper/o.png\n")
    code, out, err = cli(["check", "--json", "made/c.json"], capsys)
    assert (code, err) == (0, "") and json.loads((tmp_path / "made/c.json").read_text())["cases"]
    assert files_in(tmp_path) == ["case.json", "made/c.json", "new/deeper/o.png"]


# --------------------------------------------------------------------------- snapshots
def one_case_snapshot(path: Path) -> str:
    """A valid snapshot of one box on a 64 x 64 input, as written; its text."""
    targets = torch.tensor([[0.0, 0.0, 0.5, 0.5, 0.25, 0.25]])
    rows = rows_of(assign(CASE_PROBLEM, targets))
    write(path, DEFAULT_ASSIGNER, [SnapshotCase("one box", CASE_PROBLEM, targets, rows)])
    return path.read_text()


def _case_line(text: str, **fields: Any) -> str:
    """``text`` with the case line's JSON fields replaced."""
    lines = text.splitlines(keepends=True)
    head = json.loads(lines[2].removeprefix("case ")) | fields
    return "".join([*lines[:2], "case " + json.dumps(head) + "\n", *lines[3:]])


def _row(text: str, row: str) -> str:
    """``text``'s header and case line, then ``row`` as line 4."""
    return "".join([*text.splitlines(keepends=True)[:3], row + "\n"])


def _problem(text: str, **fields: Any) -> str:
    """``text`` with fields of the case line's problem replaced."""
    problem = json.loads(text.splitlines()[2].removeprefix("case "))["problem"]
    return _case_line(text, problem=problem | fields)


HEADER = "# yolo-diagnostics snapshot 1\n"


SNAPSHOT_ERRORS = [
    ("empty", lambda t: "", ":1: not a snapshot (expected '# yolo-diagnostics snapshot 1')"),
    ("another version", lambda t: t.replace("snapshot 1", "snapshot 2"), ":1: not a snapshot"),
    ("cut in a row", lambda t: t[:-4], "the file is cut short, its last line has no end"),
    ("cut in the case line", lambda t: t[: t.index("anchors")], ":3: the file is cut short"),
    ("a row before any case", lambda t: HEADER + "0 0 0 4 4 0 0.5 0.5 1 1 1 1\n", ":2: expected"),
    ("a row of 11 fields", lambda t: _row(t, "0 0 0 4 4 0 0.5 0.5 1 1 1.25"), ":4: expected a"),
    ("a word in a row", lambda t: _row(t, "0 0 0 x 4 0 0.5 0.5 1 1 1.25 1.625"), ":4: expected"),
    ("a bad hex float", lambda t: _row(t, "0 0 0 4 4 0 0x1.zp1 0.5 1 1 1 1"), ":4: expected a"),
    ("a case line not JSON", lambda t: _row(t, "case {oops"), ":4: bad case line: Expecting"),
    ("a case line a list", lambda t: _row(t, "case [1]"), ":4: bad case line: expected name,"),
    ("a case without a name", lambda t: _case_line(t, name=None), ":3: bad case line: expected"),
    ("targets as numbers", lambda t: _case_line(t, targets=[[0] * 6]), "rows of 6 numbers in t"),
    ("a target of text", lambda t: _case_line(t, targets=[["a"] * 6]), "could not convert string"),
    ("a problem of text", lambda t: _case_line(t, problem="p5"), ":3: bad case line: "),
    (
        "a zero stride",
        lambda t: _problem(t, strides=[0, 16, 32]),
        ":3: bad case line: Problem.strides: must be positive, got (0, 16, 32)",
    ),
    (
        "a target outside the image",
        lambda t: _case_line(t, targets=[["0", "0", "1.5", "0.5", "0.25", "0.25"]]),
        ":3: bad case line: targets row 0, field 'x': must be in [0, 1] (normalized",
    ),
    ("not UTF-8", lambda t: t.encode("utf-16"), ": not a snapshot, not UTF-8 text: 'utf-8' codec"),
    ("a folder", None, ": cannot read the snapshot: Is a directory"),
]


@pytest.mark.parametrize(
    ("change", "message"),
    [row[1:] for row in SNAPSHOT_ERRORS],
    ids=[row[0] for row in SNAPSHOT_ERRORS],
)
def test_snapshot_error(
    change: Any, message: str, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    """``read`` and the contract's ``--golden``: one line naming the file and line; the
    contract ends before collecting anything with pytest's usage error (exit 4)."""
    path = tmp_path / "golden.txt"
    text = one_case_snapshot(path)
    assert len(read(path)) == 1  # the base is valid: each row fails by its one change
    if change is None:
        path.unlink()
        path.mkdir()
    else:
        changed = change(text)
        path.write_bytes(changed if isinstance(changed, bytes) else changed.encode())
    with pytest.raises(DiagnosticsError) as error:
        read(path)
    expected = assert_api_error(error, message)
    assert expected.startswith(f"{path}:")
    result = pytester.runpytest("-p", "no:cacheprovider", "--golden", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.errlines if line] == [f"ERROR: --golden: {expected}"]
    assert result.outlines == []
