"""Image files YOLOv5 would not train on are left out of a scan as YOLOv5 leaves them out.

A dataset of real files, in COCO and YOLO form: a photograph of the bundled sample, one
missing, one cut in half (a truncated JPEG), a text file named ``.jpg``, an empty file, a
photograph with bytes after its end marker (a JPEG YOLOv5 restores and keeps), a PNG, and a
PNG 9 px high (YOLOv5 drops images under 10 px). The verdicts are Pillow's own decoding,
checked against YOLOv5's ``LoadImagesAndLabels``; the scan is driven through the API and
the CLI.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from yolo_diagnostics import DiagnosticsError, Problem
from yolo_diagnostics.cli import main
from yolo_diagnostics.data import load_coco, load_yolo
from yolo_diagnostics.data.boxes import (
    CROWD,
    IMAGE_MISSING,
    IMAGE_TINY,
    IMAGE_UNREADABLE,
    SkippedImage,
)
from yolo_diagnostics.data.imagesize import check_image
from yolo_diagnostics.data.sample import SAMPLE_IMAGES
from yolo_diagnostics.scan import scan_dataset, summary

TRUNCATED = "truncated JPEG: image file is truncated"
# (file, COCO id, how it is made, its annotations: (bbox, iscrowd)), in dataset order
FILES = [
    ("photo.jpg", 1, "photo", [([10, 10, 40, 30], 0), ([50, 40, 30, 30], 1)]),
    ("missing.jpg", 2, "missing", [([10, 10, 40, 30], 0), ([5, 5, 20, 20], 1)]),
    ("truncated.jpg", 3, "truncated", [([10, 10, 40, 30], 0)]),
    ("text.jpg", 4, "text", [([10, 10, 40, 30], 0)] * 3),
    ("empty.jpg", 5, "empty", []),
    ("restored.jpg", 6, "restored", [([10, 10, 40, 30], 0)]),
    ("small.png", 7, "png", [([10, 10, 40, 30], 0)]),
    ("tiny.png", 8, "tiny", [([1, 1, 5, 5], 0)]),
]
KEPT = ["photo.jpg", "restored.jpg", "small.png"]
# (reason, file, COCO id, detail before any parenthesis, COCO annotations, YOLO label lines)
LEFT_OUT = [
    (IMAGE_MISSING, "missing.jpg", 2, "no such file", 2, 1),
    (IMAGE_UNREADABLE, "truncated.jpg", 3, TRUNCATED, 1, 1),
    (IMAGE_UNREADABLE, "text.jpg", 4, "not an image Pillow can read", 3, 3),
    (IMAGE_UNREADABLE, "empty.jpg", 5, "an empty file", 0, 0),
    (IMAGE_TINY, "tiny.png", 8, "40 x 9 px", 1, 1),
]
COUNTS = {IMAGE_UNREADABLE: 3, IMAGE_MISSING: 1, IMAGE_TINY: 1}


def make_file(path: Path, how: str, photos: list[Path]) -> tuple[int, int]:
    """Write the file ``how`` names; its ``(h, w)`` for the JSON (640 x 480 when broken)."""
    if how in ("photo", "truncated", "restored"):
        source = photos[("photo", "truncated", "restored").index(how)]
        data = source.read_bytes()
        data = {"truncated": data[: len(data) // 2], "restored": data + b"\0" * 16}.get(how, data)
        path.write_bytes(data)
        return cv2.imread(str(source)).shape[:2]
    if how in ("png", "tiny"):
        shape = (48, 64, 3) if how == "png" else (9, 40, 3)
        assert cv2.imwrite(str(path), np.full(shape, 90, np.uint8))
        return shape[:2]
    if how == "text":
        path.write_text("this is not a JPEG\n")
    elif how == "empty":
        path.write_bytes(b"")
    return 480, 640


def make_dataset(root: Path) -> Path:
    """The module docstring's dataset under ``root``: ``images/``, ``instances.json``, and
    ``labels/`` + ``train.txt`` + ``data.yaml`` listing the images in the same order."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    photos = sorted(SAMPLE_IMAGES.glob("*.jpg"))[:3]
    images, annotations, lines = [], [], []
    for name, image_id, how, anns in FILES:
        h, w = make_file(root / "images" / name, how, photos)
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
        label = []
        for (x, y, bw, bh), crowd in anns:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": [x, y, bw, bh],
                    "iscrowd": crowd,
                }  # fmt: skip
            )
            if not crowd:  # YOLOv5's COCO labels leave crowd boxes out
                label.append(f"0 {(x + bw / 2) / w} {(y + bh / 2) / h} {bw / w} {bh / h}")
        (root / "labels" / Path(name).with_suffix(".txt")).write_text("\n".join(label))
        lines.append(f"./images/{name}")
    data = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "x"}]}
    (root / "instances.json").write_text(json.dumps(data))
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text("train: train.txt\nnames: [x]\n")
    return root


@pytest.fixture(autouse=True)
def pillow_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's default, as in a YOLOv5 training process: a package imported earlier in this
    one may have changed it (pytorchyolo sets LOAD_TRUNCATED_IMAGES on import)."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "ds")


def rows(left_out: list[SkippedImage]) -> list[tuple]:
    """Skipped images as (reason, file, id, detail before any parenthesis, annotations):
    Pillow adds the bytes left in a truncated JPEG, a plugin another package registered in
    Pillow its own error."""
    return [
        (s.reason, Path(s.path).name, s.image_id, s.detail.split(" (")[0], s.annotations)
        for s in left_out
    ]


def expected(kind: str) -> list[tuple]:
    if kind == "coco":
        return [(r, f, i, d, n) for r, f, i, d, n, _ in LEFT_OUT]
    return [(r, f, f"images/{f}", d, k) for r, f, _, d, _, k in LEFT_OUT]


# --------------------------------------------------------------------------- verdicts
def test_each_verdict(dataset: Path) -> None:
    images = dataset / "images"
    Image.new("RGB", (32, 32)).save(images / "animated.jpg", format="GIF")  # misnamed
    (images / "folder.jpg").mkdir()
    names = [f for f, *_ in FILES] + ["animated.jpg", "folder.jpg"]
    got = {}
    for name in names:
        c = check_image(images / name)
        got[name] = (c.reason, c.detail.split(" (")[0], c.size, c.restored)
    photo, restored = (cv2.imread(str(images / f)).shape[:2] for f in ("photo.jpg", "restored.jpg"))
    assert got == {
        "photo.jpg": (None, "", photo, False),
        "missing.jpg": (IMAGE_MISSING, "no such file", (0, 0), False),
        "truncated.jpg": (IMAGE_UNREADABLE, TRUNCATED, (0, 0), False),
        "text.jpg": (IMAGE_UNREADABLE, "not an image Pillow can read", (0, 0), False),
        "empty.jpg": (IMAGE_UNREADABLE, "an empty file", (0, 0), False),
        "restored.jpg": (None, "no JPEG end marker at its end", restored, True),
        "small.png": (None, "", (48, 64), False),
        "tiny.png": (IMAGE_TINY, "40 x 9 px", (0, 0), False),
        "animated.jpg": (IMAGE_UNREADABLE, "GIF is not a format YOLOv5 reads", (0, 0), False),
        "folder.jpg": (IMAGE_UNREADABLE, "a folder, not a file", (0, 0), False),
    }
    assert (images / "restored.jpg").read_bytes().endswith(b"\0" * 16)  # never rewritten


def test_a_truncated_jpeg_is_kept_where_pillow_loads_truncated_images(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """YOLOv5's restore decodes with Pillow: a process that set LOAD_TRUNCATED_IMAGES keeps
    the truncated JPEG, restored; the check follows the same setting."""
    path = dataset / "images" / "truncated.jpg"
    assert check_image(path).reason == IMAGE_UNREADABLE
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    check = check_image(path)
    assert (check.reason, check.restored) == (None, True)
    with Image.open(path) as im:
        assert check.size == (im.height, im.width)


ORACLE = """
import json
from pathlib import Path
from PIL import ImageFile
ImageFile.LOAD_TRUNCATED_IMAGES = {load_truncated}
from yolo_diagnostics.adapters._support import offline_import
with offline_import():
    from yolov5.utils.dataloaders import LoadImagesAndLabels
data = LoadImagesAndLabels({images!r}, img_size=640, augment=False)
print(json.dumps(sorted(Path(f).name for f in data.im_files)))
"""


@pytest.mark.parametrize("load_truncated", [False, True])
def test_yolov5_keeps_the_same_images(
    load_truncated: bool, dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """YOLOv5's own LoadImagesAndLabels trains on exactly the images ours keeps, and
    restores exactly the JPEGs ours says it restores. It runs in a fresh interpreter:
    importing it registers an ultralytics plugin in Pillow."""
    if importlib.util.find_spec("yolov5") is None:
        pytest.skip("needs the yolov5 package (tox -e adapters, or the README's test command)")
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", load_truncated)
    ours = load_yolo(dataset / "data.yaml", workers=1)
    before = {p.name: p.read_bytes() for p in (dataset / "images").iterdir()}
    code = ORACLE.format(load_truncated=load_truncated, images=str(dataset / "images"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO", "XDG_"))}
    env["HOME"] = str(tmp_path / "home")  # ultralytics writes its settings under it
    done = subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    kept = json.loads(done.stdout.splitlines()[-1])
    assert kept == sorted(Path(f).name for f in ours.image_files)
    assert kept == sorted(KEPT + (["truncated.jpg"] if load_truncated else []))
    rewritten = sorted(
        p.name for p in (dataset / "images").iterdir() if p.read_bytes() != before[p.name]
    )
    assert rewritten == sorted(Path(f).name for f in ours.restored)  # "restored and saved"
    assert rewritten == (["restored.jpg", "truncated.jpg"] if load_truncated else ["restored.jpg"])


# --------------------------------------------------------------------------- the API
def test_load_coco_leaves_them_out_with_their_annotations(dataset: Path) -> None:
    ds = load_coco(dataset / "instances.json", dataset / "images", workers=2)
    assert ds.image_files == KEPT and ds.image_ids == [1, 6, 7]
    assert rows(ds.skipped_images) == expected("coco")
    assert ds.skipped_images[0].where == f"{dataset / 'images' / 'missing.jpg'} (image id 2)"
    assert ds.skipped_image_counts() == COUNTS
    # the missing image's crowd box goes with it; photo.jpg's stays a crowd skip
    assert ds.skip_counts() == {IMAGE_UNREADABLE: 4, IMAGE_MISSING: 2, CROWD: 1, IMAGE_TINY: 1}
    assert [s.where for s in ds.skipped if s.reason == IMAGE_UNREADABLE] == [
        f"instances.json annotation id {k} (image id {i})"
        for k, i in ((5, 3), (6, 4), (7, 4), (8, 4))
    ]
    assert ds.restored == ["restored.jpg"] and ds.num_boxes == 3

    alone = load_coco(dataset / "instances.json")  # the JSON alone: no file is read
    assert (alone.num_images, alone.num_boxes) == (8, 9)
    assert alone.skipped_images == [] and alone.restored == []
    assert alone.skip_counts() == {CROWD: 2}


def test_load_yolo_leaves_them_out_with_their_label_lines(dataset: Path) -> None:
    ds = load_yolo(dataset / "data.yaml", workers=2)
    assert ds.image_files == [f"images/{f}" for f in KEPT]
    assert rows(ds.skipped_images) == expected("yolo")
    assert ds.skipped_images[0].where == str(dataset / "images" / "missing.jpg")  # id = file
    assert ds.skip_counts() == {IMAGE_UNREADABLE: 4, IMAGE_MISSING: 1, IMAGE_TINY: 1}
    labels = dataset / "labels"
    assert [s.where for s in ds.skipped if s.reason == IMAGE_UNREADABLE] == [
        f"{labels / 'truncated.txt'} line 1",
        *(f"{labels / 'text.txt'} line {n}" for n in (1, 2, 3)),
    ]
    assert ds.restored == ["images/restored.jpg"] and ds.num_boxes == 3


def test_the_scan_counts_them_and_fail_stops_at_the_first(dataset: Path) -> None:
    problem = Problem.preset("yolov5-p5")
    coco = load_coco(dataset / "instances.json", dataset / "images")
    for ds, where in ((coco, " (image id 2)"), (load_yolo(dataset / "data.yaml"), "")):
        s = summary(scan_dataset(ds, problem))
        assert (s["images"], s["targets"], s["restored_jpegs"]) == (3, 3, 1)
        assert s["skipped_images"] == COUNTS
        with pytest.raises(DiagnosticsError) as error:
            scan_dataset(ds, problem, on_bad_annotation="fail")
        assert str(error.value) == (
            f"{dataset / 'images' / 'missing.jpg'}{where}: image file missing (no such file); "
            "YOLOv5 leaves it out (--on-bad-annotation fail; skip would count it and go on)"
        )


def test_no_image_left_is_one_error(dataset: Path, tmp_path: Path) -> None:
    """Every file missing: most likely the images folder is the wrong one."""
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(DiagnosticsError) as error:
        load_coco(dataset / "instances.json", tmp_path / "elsewhere")
    assert str(error.value) == (
        f"{dataset / 'instances.json'}: no image in {tmp_path / 'elsewhere'} that YOLOv5 "
        f"would train on: {tmp_path / 'elsewhere' / 'photo.jpg'} (image id 1): image file "
        "missing (no such file) (and 7 more)"
    )


# --------------------------------------------------------------------------- the CLI
def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exited:
        code = int(exited.code)
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """The body rows of the table ``table_id`` of an HTML page, as cell texts."""
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S)
    assert body is not None, table_id
    found = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in found]


def source(kind: str, dataset: Path) -> list[str]:
    if kind == "coco":
        return ["--coco", str(dataset / "instances.json"), "--images", str(dataset / "images")]
    return ["--yolo", str(dataset / "data.yaml")]


@pytest.mark.parametrize("kind", ["coco", "yolo"])
def test_the_cli_report_names_them(
    kind: str, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    argv = ["scan", *source(kind, dataset), "--out", str(out), "--workers", "2"]
    code, stdout, err = cli(argv, capsys)
    assert code == 0 and "Traceback" not in err
    assert ": 3 images (5 left out), 3 boxes;" in stdout
    assert (
        "images left out, as YOLOv5 leaves them out of training: image unreadable: 3, "
        "image file missing: 1, image under 10 px: 1\n"
    ) in stdout
    s = json.loads((out / "summary.json").read_text())
    assert (s["images"], s["targets"], s["restored_jpegs"]) == (3, 3, 1)
    assert s["skipped_images"] == COUNTS
    index = (out / "index.html").read_text()
    assert [
        (r[0], Path(r[1]).name, r[2], int(r[3]), r[4].split(" (")[0])
        for r in table_rows(index, "skipped-images")
    ] == [(r, f, str(i), n, d) for r, f, i, d, n in expected(kind)]
    assert "Dataset scan: 3 images (5 left out), 3 targets" in index
    assert f"<code>{'' if kind == 'coco' else 'images/'}restored.jpg</code>" in index
    # pages: the kept images only, the restored one says so
    pages = {p.name: p.read_text() for p in (out / "images").glob("*.html")}
    assert sorted(pages) == ["0.html", "1.html", "2.html"]
    shown = []
    for page in pages.values():
        file = re.search(r"<title>(.*?) · ", page).group(1)
        shown.append(Path(file).name)
        assert "grey canvas" not in page
        assert ("YOLOv5 restores (re-saves)" in page) == (file.endswith("restored.jpg"))
    assert sorted(shown) == KEPT


def test_the_cli_fails_at_the_first_one(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["scan", *source("yolo", dataset), "--out", str(tmp_path / "r")]
    code, _, err = cli([*argv, "--on-bad-annotation", "fail"], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(
        f"yolo-diagnostics: error: {dataset / 'images' / 'missing.jpg'}: image file missing"
    )
    assert not (tmp_path / "r").exists()


def test_without_images_nothing_changes(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    argv = ["scan", "--coco", str(dataset / "instances.json"), "--out", str(out), "--pages", "1"]
    assert cli([*argv, "--on-bad-annotation", "fail"], capsys)[0] == 0  # no file is read
    s = json.loads((out / "summary.json").read_text())
    assert (s["images"], s["targets"], s["skipped_images"], s["restored_jpegs"]) == (8, 9, {}, 0)
    index = (out / "index.html").read_text()
    assert 'id="skipped-images"' not in index and "figures from the JSON alone" in index


def test_show_refuses_an_image_yolov5_leaves_out(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = ["show", *source("coco", dataset), "--out", str(tmp_path / "s"), "--image-id"]
    code, _, err = cli([*show, "4"], capsys)
    assert code == 2 and err.count("\n") == 1
    text = dataset / "images" / "text.jpg"
    assert f"{text} (image id 4): image unreadable (not an image Pillow can read" in err
    code, stdout, _ = cli([*show, "6"], capsys)
    assert code == 0 and "YOLOv5 restores (re-saves) it, trains on it" in stdout
    empty = ["show", "--yolo", str(dataset / "images" / "empty.jpg"), "--out", str(tmp_path)]
    code, _, err = cli(empty, capsys)
    assert code == 2 and "empty.jpg: image unreadable (an empty file (0 bytes))" in err
