"""The training input as YOLOv5 builds it without augmentation: geometry, labels and pixels
equal the yolov5 package's own ``load_image``, ``letterbox``, ``xywhn2xyxy`` and
``xyxy2xywhn`` bit for bit."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from yolo_diagnostics.data import input_geometry, labels_to_input, letterbox
from yolo_diagnostics.data.letterbox import CLIP_EPS


def test_geometry_by_hand() -> None:
    """A 600 x 512 (h x w) photo at 640: loaded at 640 x ceil(512 * 640 / 600) = 547."""
    g = input_geometry(np.array([[600, 512], [480, 640], [640, 640], [100, 1000]]), (640, 640))
    assert g.loaded.tolist() == [[640, 547], [480, 640], [640, 640], [64, 640]]
    assert g.resized.tolist() == [[640, 547], [480, 640], [640, 640], [64, 640]]
    assert g.pad.tolist() == [[46.5, 0.0], [0.0, 80.0], [0.0, 0.0], [0.0, 288.0]]
    assert g.offset.tolist() == [[46, 0], [0, 80], [0, 0], [0, 288]]  # round(46.5 - 0.1)
    # non-square input: loaded at the long side 640, then shrunk to fit 320 high
    g = input_geometry(np.array([[600, 512]]), (320, 640))
    assert g.loaded.tolist() == [[640, 547]] and g.resized.tolist() == [[320, 274]]
    assert g.label_size.tolist() == [[320.0, 273.5]] and g.pad.tolist() == [[183.0, 0.0]]


def test_labels_move_with_the_float_padding_and_clip_to_the_canvas() -> None:
    g = input_geometry(np.array([[480, 640]]), (640, 640))  # 80 px above and below
    labels = np.array([[0.5, 0.5, 0.25, 0.5], [0.9, 0.5, 0.4, 0.2]], np.float32)
    out = labels_to_input(labels, np.zeros(2, np.int64), g)
    assert out[0].tolist() == pytest.approx([0.5, (240 + 80) / 640, 0.25, 240 / 640])
    # the second box reaches x = 1.1: clipped 1e-3 px inside the canvas
    right = np.float32(640 - CLIP_EPS)
    x0 = np.float32(640) * (np.float32(0.9) - np.float32(0.2))
    assert out[1, 2] == (right - x0) / np.float32(640)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="image sizes must be positive"):
        input_geometry(np.array([[0, 10]]), (640, 640))
    with pytest.raises(ValueError, match=r"expected uint8\[h, w, 3\]"):
        letterbox(np.zeros((5, 5), np.uint8), (64, 64))


@pytest.fixture(scope="module")
def yolov5_input():
    """The yolov5 package's functions for the non-augmented training input."""
    if importlib.util.find_spec("yolov5") is None:
        pytest.skip("needs the yolov5 package (tox -e adapters, or the README's test command)")
    from yolo_diagnostics.adapters._support import offline_import

    with offline_import():
        from yolov5.utils.augmentations import letterbox as y5_letterbox
        from yolov5.utils.dataloaders import LoadImagesAndLabels
        from yolov5.utils.general import xywhn2xyxy, xyxy2xywhn
    return LoadImagesAndLabels.load_image, y5_letterbox, xywhn2xyxy, xyxy2xywhn


@pytest.mark.parametrize("img_size", [(640, 640), (320, 640), (640, 384), (416, 416)])
def test_equal_to_yolov5_bit_for_bit(
    yolov5_input, img_size: tuple[int, int], tmp_path: Path
) -> None:
    """Random image sizes (shrunk and enlarged, odd paddings) and labels at the borders."""
    load_image, y5_letterbox, xywhn2xyxy, xyxy2xywhn = yolov5_input
    rng = np.random.default_rng(sum(img_size))
    for trial in range(40):
        h0, w0 = (int(v) for v in rng.integers(12, 1400, 2))
        image = rng.integers(0, 256, (h0, w0, 3), dtype=np.uint8)
        path = tmp_path / f"{trial}.png"  # lossless: the file holds exactly these pixels
        cv2.imwrite(str(path), image)
        # LoadImagesAndLabels.load_image on that file, without augmentation
        holder = SimpleNamespace(
            ims=[None],
            im_files=[str(path)],
            npy_files=[path.with_suffix(".npy")],
            img_size=max(img_size),
            augment=False,
        )
        loaded, _, (h, w) = load_image(holder, 0)
        theirs, ratio, pad = y5_letterbox(loaded, img_size, auto=False, scaleup=False)
        labels = rng.uniform(0, 1, (30, 4)).astype(np.float32)
        labels[:, 2:] *= 0.4
        labels[:4, :2] = [[0.0, 0.5], [1.0, 1.0], [0.5, 0.0], [0.999, 0.001]]
        pixels = xywhn2xyxy(labels.copy(), ratio[0] * w, ratio[1] * h, padw=pad[0], padh=pad[1])
        expected = xyxy2xywhn(pixels, w=theirs.shape[1], h=theirs.shape[0], clip=True, eps=1e-3)

        geometry = input_geometry(np.array([[h0, w0]]), img_size)
        ours = labels_to_input(labels, np.zeros(len(labels), np.int64), geometry)
        assert ours.dtype == expected.dtype == np.float32
        assert np.array_equal(ours, expected), (trial, h0, w0)
        boxed = letterbox(image, img_size)
        assert np.array_equal(boxed.image, theirs), (trial, h0, w0)
        assert geometry.loaded[0].tolist() == [h, w]
        assert boxed.pad == pad


def test_load_image_uses_ceil_and_interpolation_by_direction() -> None:
    from yolo_diagnostics.data.letterbox import load_image

    image = np.zeros((600, 512, 3), np.uint8)
    assert load_image(image, 640).shape == (640, math.ceil(512 * 640 / 600), 3)
    assert load_image(image, 600) is image  # r == 1: untouched
