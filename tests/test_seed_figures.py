"""The seed notebook's three figures on a real photograph: GT on the raw image, GT on the
letterboxed training input, and the assignment overlay (with the x scaling by W, not H)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yolo_diagnostics import Problem, assign
from yolo_diagnostics.data import letterbox
from yolo_diagnostics.render import PAD, TITLE_H, class_colour, render_assignment, render_targets

PHOTO = Path(__file__).parents[1] / "fixtures" / "sample" / "images" / "grace_hopper.jpg"
NAMES = ["person", "tie"]
# boxes on the raw 512 x 600 (W x H) photo, in pixels: (class, x0, y0, x1, y1)
BOXES_PX = [(0, 40, 20, 470, 600), (1, 215, 380, 290, 560)]


def raw_targets(w0: int, h0: int) -> torch.Tensor:
    rows = [
        [0, c, (x0 + x1) / 2 / w0, (y0 + y1) / 2 / h0, (x1 - x0) / w0, (y1 - y0) / h0]
        for c, x0, y0, x1, y1 in BOXES_PX
    ]
    return torch.tensor(rows)


def decode(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    image = cv2.imread(str(PHOTO))
    assert image is not None and image.shape == (600, 512, 3)
    return image


def test_gt_on_the_raw_image(photo: np.ndarray) -> None:
    raw = Problem(img_size=(600, 512), strides=(8,), anchors=(((10, 13),),))
    img = decode(render_targets(raw, raw_targets(512, 600), image=photo, class_names=NAMES))
    panel = img[PAD + TITLE_H :, PAD:][:600, :512]
    # the tie box's left edge is at x = 215 on the raw image, in the tie's class colour
    assert np.abs(panel[470, 215].astype(int) - class_colour(1)).max() <= 40


def test_gt_on_the_letterboxed_input_and_the_overlay(photo: np.ndarray) -> None:
    problem = Problem.preset("yolov5-p5", img_size=(320, 640), num_classes=2)
    boxed = letterbox(photo, problem.img_size)
    # YOLOv5: loaded at 640 x ceil(512 * 640 / 600) = 547, then halved to 320 x round(273.5),
    # padded (640 - 274) / 2 = 183 px left; labels span 273.5 px
    assert boxed.resized == (320, 274) and boxed.pad == (183, 0)
    assert (boxed.image[:, :183] == 114).all()
    targets = boxed.targets(raw_targets(512, 600))
    img = decode(render_targets(problem, targets, image=boxed.image, class_names=NAMES))
    panel = img[PAD + TITLE_H :, PAD:][:320, :640]
    x0 = round(183 + 215 * 273.5 / 512)  # the tie's left edge after resize and padding
    assert np.abs(panel[round(470 * 320 / 600), x0].astype(int) - class_colour(1)).max() <= 40
    overlay = decode(
        render_assignment(
            problem, targets, assign(problem, targets), image=boxed.image, class_names=NAMES
        )
    )
    assert overlay.shape[1] == 2 * 640 + 3 * PAD
    # the letterbox padding shows through between the grid lines of level 0
    assert (overlay[PAD + TITLE_H :, PAD:][:320, :640][163, 101] == 114).all()
