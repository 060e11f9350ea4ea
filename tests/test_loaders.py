"""COCO and YOLO loaders: boxes as YOLOv5 holds its labels, every left-out annotation
recorded with its reason, one clear error for a file that is not a dataset."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

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
)
from yolo_diagnostics.data.training import TrainingInputs, collate


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def coco(annotations: list[dict], **extra: object) -> dict:
    return {
        "images": [
            {"id": 7, "file_name": "a.jpg", "width": 200, "height": 100},
            {"id": 3, "file_name": "b.jpg", "width": 50, "height": 80},
        ],
        "annotations": annotations,
        "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
        **extra,
    }


def ann(k: int, image: int, cat: int, bbox: object, **extra: object) -> dict:
    return {"id": k, "image_id": image, "category_id": cat, "bbox": bbox, **extra}


def test_coco_boxes_classes_and_skips(tmp_path: Path) -> None:
    data = coco(
        [
            ann(1, 3, 18, [10, 20, 20, 40]),  # image b (the 2nd): dog, class 1
            ann(2, 7, 1, [50, 25, 100, 50]),  # image a: person, class 0
            ann(3, 7, 1, [0, 0, 300, 50]),  # partly outside: clipped to w = 200
            ann(4, 7, 1, [500, 10, 5, 5]),  # wholly outside
            ann(5, 7, 1, [10, 10, 50, 50], iscrowd=1),
            ann(6, 7, 99, [10, 10, 5, 5]),  # unknown category
            ann(7, 42, 1, [10, 10, 5, 5]),  # unknown image
            ann(8, 7, 1, [10, 10, 0, 5]),
            ann(9, 7, 1, [10, 10, float("nan"), 5]),
            ann(10, 7, 1, [10, 10, 5]),
            ann(11, 7, 1, [-0.4, 60, 40, 40]),  # under half a pixel outside: kept as it is
        ]
    )
    write_image(tmp_path / "a.jpg", 100, 200)  # with an images folder, the files are read
    write_image(tmp_path / "b.jpg", 80, 50)
    ds = load_coco(write_json(tmp_path / "instances.json", data), tmp_path)
    assert ds.class_names == ("person", "dog")  # categories in ascending id order
    assert ds.image_ids == [7, 3] and ds.sizes.tolist() == [[100, 200], [80, 50]]
    assert ds.box_image.tolist() == [0, 0, 0, 1]  # ordered by image, then annotation order
    assert ds.box_ids.tolist() == [2, 3, 11, 1]
    assert ds.box_class.tolist() == [0, 0, 0, 1]
    assert ds.boxes.dtype == np.float32
    np.testing.assert_allclose(
        ds.boxes,
        [[0.5, 0.5, 0.5, 0.5], [0.5, 0.25, 1.0, 0.5], [0.098, 0.8, 0.2, 0.4], [0.4, 0.5, 0.4, 0.5]],
        rtol=1e-6,
    )
    assert ds.clipped == 1  # the 300 px wide box; not the one 0.4 px outside
    assert {s.reason: s.where for s in ds.skipped} == {
        OUTSIDE: "instances.json annotation id 4 (image id 7)",
        CROWD: "instances.json annotation id 5 (image id 7)",
        UNKNOWN_CATEGORY: "instances.json annotation id 6 (image id 7)",
        UNKNOWN_IMAGE: "instances.json annotation id 7 (image id 42)",
        NOT_POSITIVE: "instances.json annotation id 8 (image id 7)",
        NOT_FINITE: "instances.json annotation id 9 (image id 7)",
        MALFORMED_BBOX: "instances.json annotation id 10 (image id 7)",
    }
    assert ds.skip_counts() == {reason: 1 for reason in ds.skip_counts()}
    np.testing.assert_allclose(ds.pixel_boxes(slice(0, 1)), [[50, 25, 150, 75]])
    assert ds.image_path(1) == tmp_path / "b.jpg"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"instances.json: not a COCO instances file, not JSON"),
        ("[1, 2]", r"the top level is not an object"),
        (json.dumps({"images": [], "annotations": []}), r"no 'categories' list"),
        (
            json.dumps(coco([]) | {"images": [{"id": 1, "width": 10, "height": 0}]}),
            r"image id 1: width and height must be positive integers, got width=10, height=0",
        ),
        (
            json.dumps(coco([]) | {"images": [{"id": 1, "width": 9, "height": 9}] * 2}),
            r"image id 1 appears more than once",
        ),
        (json.dumps(coco([{"id": 1, "bbox": [1, 1, 1, 1]}])), r"annotations\[0\] is not an"),
    ],
)
def test_coco_files_that_are_not_datasets(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "instances.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_coco(path)


def write_image(path: Path, h: int, w: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 255, h * w * 3).reshape(h, w, 3).astype(np.uint8)
    assert cv2.imwrite(str(path), ramp)


def yolo_folder(root: Path) -> Path:
    write_image(root / "images" / "a.jpg", 100, 200)
    write_image(root / "images" / "sub" / "b.png", 80, 40)
    write_image(root / "images" / "c.jpg", 30, 30)  # no label file: no boxes
    (root / "labels" / "sub").mkdir(parents=True)
    (root / "labels" / "a.txt").write_text(
        "0 0.5 0.5 0.25 0.5\n"
        "\n"
        "1 0.9 0.5 0.4 0.2\n"  # reaches x = 1.1: clipped
        "0 0.5 0.5 0.25 0.5\n"  # a duplicate line
        "2 0.1 0.1\n"  # malformed
        "x 0.1 0.1 0.1 0.1\n"  # malformed
        "0 0.5 0.5 0 0.1\n"
        "0 1.5 0.5 0.2 0.2\n"  # wholly outside
        "0.5 0.5 0.5 0.1 0.1\n"  # not a class id
    )
    # a polygon: its extent is the box (0.2..0.6) x (0.1..0.5)
    (root / "labels" / "sub" / "b.txt").write_text("3 0.2 0.1 0.6 0.1 0.6 0.5 0.2 0.5\n")
    return root


def test_yolo_folder(tmp_path: Path) -> None:
    ds = load_yolo(yolo_folder(tmp_path / "ds"), workers=1)
    assert ds.image_files == ["images/a.jpg", "images/c.jpg", "images/sub/b.png"]
    assert ds.sizes.tolist() == [[100, 200], [30, 30], [80, 40]]
    assert ds.box_image.tolist() == [0, 0, 2] and ds.box_class.tolist() == [0, 1, 3]
    assert ds.box_ids.tolist() == [1, 3, 1]  # line numbers
    assert ds.boxes[0].tolist() == np.array([0.5, 0.5, 0.25, 0.5], np.float32).tolist()
    np.testing.assert_allclose(ds.boxes[1], [0.85, 0.5, 0.3, 0.2], rtol=1e-6)
    np.testing.assert_allclose(ds.boxes[2], [0.4, 0.3, 0.4, 0.4], rtol=1e-6)
    assert ds.class_names == ("0", "1", "2", "3") and ds.clipped == 1
    reasons = [(s.reason, s.where.rsplit("/", 2)[-1]) for s in ds.skipped]
    assert reasons == [
        (DUPLICATE, "a.txt line 4"),
        (MALFORMED, "a.txt line 5"),
        (MALFORMED, "a.txt line 6"),
        (NOT_POSITIVE, "a.txt line 7"),
        (UNKNOWN_CLASS, "a.txt line 9"),
        (OUTSIDE, "a.txt line 8"),
    ]


def test_yolo_data_yaml_with_names_and_a_list_file(tmp_path: Path) -> None:
    root = yolo_folder(tmp_path / "ds")
    (root / "train.txt").write_text("./images/a.jpg\n./images/sub/b.png\n")
    (root / "data.yaml").write_text(
        "path: .\ntrain: train.txt\nval: images\nnames: {0: person, 1: bicycle, 2: car}\n"
    )
    train = load_yolo(root / "data.yaml", workers=1)
    assert train.class_names == ("person", "bicycle", "car")
    assert train.image_files == ["images/a.jpg", "images/sub/b.png"]
    # class 3 is not in names: recorded, like every other skip
    assert [s.reason for s in train.skipped].count(UNKNOWN_CLASS) == 2
    val = load_yolo(root / "data.yaml", split="val", workers=2)
    assert val.num_images == 3
    with pytest.raises(ValueError, match=r"data.yaml: no 'test' images named"):
        load_yolo(root / "data.yaml", split="test")


def test_yolo_sources_that_are_not_datasets(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected a dataset folder"):
        load_yolo(tmp_path / "nothing.txt")
    with pytest.raises(ValueError, match="no images folder"):
        load_yolo(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"no image that YOLOv5 would train on: .*broken.jpg: "):
        load_yolo(tmp_path)


def test_training_inputs_and_collate(tmp_path: Path) -> None:
    ds = load_yolo(yolo_folder(tmp_path / "ds"), workers=1)
    inputs = TrainingInputs(ds, (64, 64))
    first = inputs[0]
    assert first.image is not None and first.image.shape == (3, 64, 64)
    assert first.image.dtype == torch.uint8
    assert first.targets.shape == (2, 6) and first.targets[:, 0].tolist() == [0, 0]
    batch = collate([inputs[2], inputs[1], inputs[0]])
    assert batch.images is not None and batch.images.shape == (3, 3, 64, 64)
    assert batch.indices == (2, 1, 0)
    assert batch.targets[:, 0].tolist() == [0, 2, 2]  # image b first, then a (twice)
    # a 100 x 200 image at 64: 32 px high, 16 px padding above; box 0 spans y 24..40
    y = float(batch.targets[1, 3]) * 64
    assert y == pytest.approx(32.0) and float(batch.targets[1, 5]) * 64 == pytest.approx(16.0)
    no_pixels = TrainingInputs(ds, (64, 64), pixels=False)
    assert no_pixels[0].image is None and collate([no_pixels[0]]).images is None
    with pytest.raises(IndexError, match="out of range"):
        inputs[3]
