"""Scan a dataset for the task-aligned assigner (TAL): where small objects lose their candidates.

The assignment itself needs a model's predictions; what needs none is the **candidate set**
(`candidates`), and that is where small objects are lost: a target without a candidate can
never be positive, and one with fewer than ``topk`` takes all of them whatever the model
predicts. `scan_dataset_tal` maps every box to the network input exactly as the anchor scan
does (`run.network_targets`: YOLOv5's letterbox, no augmentation), hands it to the assigner as
ultralytics' loss does (`candidates.input_boxes`: float32 xyxy pixels) and counts its
candidates per level -- with the preset's small-box floor and without it, and again with the
box sizes at the scale augmentation's extremes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

import numpy as np
import torch

from ..data.boxes import BoxDataset, Skip
from ..data.letterbox import InputGeometry
from ..tal.problem import TalProblem
from .candidates import count_candidates, input_boxes, without_floor
from .run import check_options, network_targets, scaled

CHUNK_BOXES = 1 << 18  # boxes counted per call: temporaries stay a few tens of MB


@dataclass
class TalScanResult:
    """A dataset scanned for TAL's candidate set. ``M`` targets are the dataset's boxes that
    reached the network input with an area (``box[M]`` indexes the dataset's boxes).

    Attributes:
        dataset, problem, preset, scale_aug: what was scanned, and how.
        geometry: each image's mapping to the network input.
        box: ``int64[M]`` the dataset row of each target.
        targets: ``float32[M, 4]`` normalized (x, y, w, h) at the network input.
        boxes: ``float32[M, 4]`` xyxy pixels, as the assigner gets them.
        per_level: ``int32[M, nl]`` candidates per target and level, with the preset's floor.
        per_level_without_floor: the same without the floor (the same array when the preset
            has none).
        floored: ``bool[M]`` the floor enlarges the box for the candidate test.
        at_scale, at_scale_without_floor: ``{factor: int32[M]}`` candidates over all levels
            with box sizes times ``factor`` (1 included).
        skipped: the dataset's skipped annotations and boxes left without area.
        seconds: time per phase.
    """

    dataset: BoxDataset
    problem: TalProblem
    preset: str
    scale_aug: float
    geometry: InputGeometry
    box: np.ndarray
    targets: np.ndarray
    boxes: np.ndarray
    per_level: np.ndarray
    per_level_without_floor: np.ndarray
    floored: np.ndarray
    at_scale: dict[float, np.ndarray]
    at_scale_without_floor: dict[float, np.ndarray]
    skipped: list[Skip]
    seconds: dict[str, float] = field(default_factory=dict)

    @cached_property
    def image(self) -> np.ndarray:
        """``int64[M]`` the image of each target, ascending."""
        return self.dataset.box_image[self.box]

    @cached_property
    def cls(self) -> np.ndarray:
        """``int64[M]`` the class of each target."""
        return self.dataset.box_class[self.box]

    @cached_property
    def total(self) -> np.ndarray:
        """``int64[M]`` candidates over all levels, with the floor."""
        return self.per_level.sum(1, dtype=np.int64)

    @cached_property
    def total_without_floor(self) -> np.ndarray:
        """``int64[M]`` candidates over all levels, without the floor."""
        return self.per_level_without_floor.sum(1, dtype=np.int64)

    def targets_of(self, image: int) -> np.ndarray:
        """The target indices of ``image`` (``int64[k]``, ascending)."""
        lo, hi = np.searchsorted(self.image, [image, image + 1])
        return np.arange(lo, hi)


def below_topk(total: np.ndarray, topk: int) -> np.ndarray:
    """``bool[M]``: ``0 < total < topk``."""
    return (total > 0) & (total < topk)


def scan_dataset_tal(
    dataset: BoxDataset,
    problem: TalProblem,
    *,
    preset: str = "",
    scale_aug: float = 0.5,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
    on_bad_annotation: Literal["fail", "skip"] = "skip",
) -> TalScanResult:
    """Count the candidates of every target of ``dataset`` under ``problem`` (input size,
    strides, floor, ``topk``); ``preset`` is the name recorded in the summary.

    ``scale_aug`` is YOLOv5's ``hyp.scale``: the counts are also made with box sizes scaled
    by ``1 - scale_aug`` and ``1 + scale_aug`` about their centres, clipped to the input.
    ``progress(k)`` is called as ``k`` more targets are counted; ``on_bad_annotation`` as in
    `scan_dataset`.
    """
    check_options(dataset, scale_aug, on_bad_annotation)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    problem = replace(problem, num_classes=max(dataset.num_classes, 1), batch_size=1)
    geometry, box, xywh, skipped = network_targets(dataset, problem.img_size)
    boxes = input_boxes(xywh, problem.img_size)
    seconds["input"] = time.perf_counter() - start

    start = time.perf_counter()
    bare = without_floor(problem)
    per_level = _count(problem, boxes, device, progress)
    per_level_bare = _count(bare, boxes, device, None) if problem.stal else per_level
    sides = boxes[:, 2:] - boxes[:, :2]  # float32, as the floor compares them
    floored = ((sides < problem.stal_below).any(1) & problem.stal).numpy()
    seconds["candidates"] = time.perf_counter() - start

    start = time.perf_counter()
    at_scale = {1.0: per_level.sum(1, dtype=np.int32)}
    at_scale_bare = {1.0: per_level_bare.sum(1, dtype=np.int32)}
    for factor in sorted({1 - scale_aug, 1 + scale_aug} - {1.0}):
        resized = input_boxes(scaled(xywh, factor), problem.img_size)
        at_scale[factor] = _count(problem, resized, device, None).sum(1, dtype=np.int32)
        at_scale_bare[factor] = (
            _count(bare, resized, device, None).sum(1, dtype=np.int32)
            if problem.stal
            else at_scale[factor]
        )
    seconds["statistics"] = time.perf_counter() - start
    return TalScanResult(
        dataset=dataset,
        problem=problem,
        preset=preset,
        scale_aug=scale_aug,
        geometry=geometry,
        box=box,
        targets=xywh,
        boxes=boxes.numpy(),
        per_level=per_level,
        per_level_without_floor=per_level_bare,
        floored=floored,
        at_scale=dict(sorted(at_scale.items())),
        at_scale_without_floor=dict(sorted(at_scale_bare.items())),
        skipped=skipped,
        seconds=seconds,
    )


def _count(
    problem: TalProblem,
    boxes: torch.Tensor,
    device: torch.device | str,
    progress: Callable[[int], None] | None,
) -> np.ndarray:
    """`count_candidates` of ``boxes`` on ``device``, `CHUNK_BOXES` at a time."""
    out = np.zeros((len(boxes), len(problem.strides)), np.int32)
    for lo in range(0, len(boxes), CHUNK_BOXES):
        part = boxes[lo : lo + CHUNK_BOXES].to(device)
        out[lo : lo + len(part)] = count_candidates(problem, part).cpu().numpy()
        if progress is not None:
            progress(len(part))
    return out
