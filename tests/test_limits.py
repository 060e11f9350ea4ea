"""Real-scale inputs: a batch of 100 000 targets and one image with 10 000 boxes are
assigned, checked and drawn; the pictures say how many boxes they left out."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from yolo_diagnostics import Problem, assign, check
from yolo_diagnostics.bench import random_targets
from yolo_diagnostics.reference import build_targets
from yolo_diagnostics.render import MAX_ROWS, MAX_TARGETS, panels, render_assignment
from yolo_diagnostics.render import targets as targets_module
from yolo_diagnostics.render.targets import original_figure, targets_figure


def _decode(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 300
    return image


@pytest.fixture
def titles(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The title lines every figure is drawn with (the real function still draws them)."""
    seen: list[list[str]] = []
    real = panels.with_title

    def recording(panel: np.ndarray, lines: list[str]) -> np.ndarray:
        seen.append(list(lines))
        return real(panel, lines)

    monkeypatch.setattr(targets_module, "with_title", recording)
    return seen


def test_a_batch_of_100k_targets(device: str) -> None:
    problem = Problem.preset("yolov5-p5", batch_size=16)
    targets = random_targets(problem, 100_000, seed=0, device=device)
    table = assign(problem, targets)
    assert len(table) > 500_000
    output = build_targets(problem, problem.feature_maps(device), targets)
    assert sum(len(c) for c in output[0]) == len(table)
    found = check(problem, targets, output)
    assert [v for v in found if v.fails] == []
    assert {v.check for v in found} <= {"duplicates", "missed-neighbour", "collisions", "coverage"}
    image = _decode(render_assignment(problem, targets.cpu(), table.to("cpu"), image_index=3))
    assert image.dtype == np.uint8


def test_an_image_with_10k_boxes(titles: list[list[str]]) -> None:
    problem = Problem.preset("yolov5-p5", batch_size=1)
    targets = random_targets(problem, 10_000, seed=1, device="cpu")
    targets[:, 0] = 0
    output = build_targets(problem, problem.feature_maps(), targets)
    assert [v for v in check(problem, targets, output) if v.fails] == []
    figure = targets_figure(problem, targets, image_index=0)
    assert figure.shape[0] > 600
    left = 10_000 - MAX_TARGETS
    assert titles[-1][-1] == f"10000 targets ({MAX_TARGETS:,} drawn, {left:,} left out)"
    original_figure(None, (480, 640), targets[:, :6].numpy(), title=["a photo", "10000 boxes"])
    assert titles[-1][-1] == f"10000 boxes ({MAX_TARGETS:,} drawn, {left:,} left out)"
    assert MAX_ROWS < len(assign(problem, targets))  # the level panels are capped too


def test_no_note_when_everything_is_drawn(titles: list[list[str]]) -> None:
    problem = Problem.preset("yolov5-p5", batch_size=1)
    targets = torch.tensor([[0, 0, 0.5, 0.5, 0.2, 0.3]])
    targets_figure(problem, targets, image_index=0)
    assert titles[-1][-1] == "1 targets"
