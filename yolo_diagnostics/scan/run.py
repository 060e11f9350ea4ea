"""Scan a dataset: every box through YOLOv5's input pipeline and the reference assignment.

`scan_dataset` maps each box to the network input (`labels_to_input`), assigns all of them in
chunks of whole images (`count_assignment`), explains every target left without a positive
(`unmatched_reasons`), computes AutoAnchor's metric beside the realized figure
(`fit_metric`), and the realized figure again at the scale augmentation's extremes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

import numpy as np
import torch

from ..data.boxes import CROWD, BoxDataset, Skip
from ..data.letterbox import InputGeometry, input_geometry, labels_to_input
from ..errors import DiagnosticsError
from ..problem import Problem
from ..reference import Semantics
from .assignment import Counts, count_assignment
from .autoanchor import fit_metric, label_wh
from .reasons import MATCHED, unmatched_reasons

TINY_PX = 3.0  # YOLOv5's warning: labels under 3 pixels in size
NO_AREA = "no area at the network input"


@dataclass
class ScanResult:
    """A scanned dataset: per target and per image figures, and how they were made.

    ``M`` targets are the dataset's boxes that reached the network input with an area
    (``box[M]`` indexes the dataset's boxes).

    Attributes:
        dataset, problem, semantics, scale_aug: what was scanned, and how.
        geometry: each image's mapping to the network input.
        box: ``int64[M]`` the dataset row of each target.
        targets: ``float32[M, 4]`` normalized (x, y, w, h) at the network input.
        counts: the assignment's rows, reduced (`Counts`).
        reason: ``int64[M]`` index into `REASONS`, `MATCHED` (-1) for a target with a row.
        best: ``float32[M]`` AutoAnchor's best ``min(r, 1/r)``; ``above``: ``int64[M]`` its
            anchors above threshold; ``label_wh``: ``float32[M, 2]`` the pixel sizes it used.
        tiny: ``bool[M]`` a side under `TINY_PX` pixels (``label_wh``).
        matched_at_scale: ``{factor: bool[M]}`` a positive with boxes scaled by ``factor``.
        skipped: the dataset's skipped annotations and boxes left without area.
        seconds: time per phase.
    """

    dataset: BoxDataset
    problem: Problem
    semantics: Semantics
    scale_aug: float
    geometry: InputGeometry
    box: np.ndarray
    targets: np.ndarray
    counts: Counts
    reason: np.ndarray
    best: np.ndarray
    above: np.ndarray
    label_wh: np.ndarray
    tiny: np.ndarray
    matched_at_scale: dict[float, np.ndarray]
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
    def unmatched(self) -> np.ndarray:
        """``bool[M]`` targets without a positive."""
        return self.reason != MATCHED

    def targets_of(self, image: int) -> np.ndarray:
        """The target indices of ``image`` (``int64[k]``, ascending)."""
        lo, hi = np.searchsorted(self.image, [image, image + 1])
        return np.arange(lo, hi)


def scan_dataset(
    dataset: BoxDataset,
    problem: Problem,
    *,
    semantics: Semantics = "yolov5",
    scale_aug: float = 0.5,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
    on_bad_annotation: Literal["fail", "skip"] = "skip",
) -> ScanResult:
    """Scan ``dataset`` at ``problem``'s input size, strides, anchors and ``anchor_t``.

    ``scale_aug`` is YOLOv5's ``hyp.scale``: the realized recall is also computed with box
    sizes scaled by ``1 - scale_aug`` and ``1 + scale_aug``. ``progress(k)`` is called as
    ``k`` more targets are assigned. ``on_bad_annotation="fail"`` raises `DiagnosticsError`
    naming the first image the loader left out (``skipped_images``: YOLOv5 would not train
    on it), else the first annotation it left out as bad (any reason but crowd), where
    ``"skip"`` counts them and goes on.
    """
    check_options(dataset, scale_aug, on_bad_annotation)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    problem = replace(problem, num_classes=max(dataset.num_classes, 1), batch_size=1)
    geometry, box, xywh, skipped = network_targets(dataset, problem.img_size)
    image = dataset.box_image[box]
    seconds["input"] = time.perf_counter() - start

    start = time.perf_counter()
    cls_xywh = np.column_stack((dataset.box_class[box].astype(np.float32), xywh))
    counts = count_assignment(
        problem,
        image,
        cls_xywh,
        dataset.num_images,
        semantics=semantics,
        device=device,
        progress=progress,
    )
    seconds["assignment"] = time.perf_counter() - start

    start = time.perf_counter()
    wh = torch.from_numpy(xywh[:, 2:4]).to(device)
    reason = _reasons(problem, wh, counts)
    sizes = label_wh(dataset, max(problem.img_size), box)
    best, above = fit_metric(torch.from_numpy(sizes).to(device), problem)
    at_scale = {1.0: reason == MATCHED}
    for factor in sorted({1 - scale_aug, 1 + scale_aug} - {1.0}):
        scaled_wh = torch.from_numpy(scaled(xywh, factor)[:, 2:4]).to(device)
        at_scale[factor] = unmatched_reasons(problem, scaled_wh).cpu().numpy() == MATCHED
    seconds["statistics"] = time.perf_counter() - start
    return ScanResult(
        dataset=dataset,
        problem=problem,
        semantics=semantics,
        scale_aug=scale_aug,
        geometry=geometry,
        box=box,
        targets=xywh,
        counts=counts,
        reason=reason,
        best=best.cpu().numpy(),
        above=above.cpu().numpy(),
        label_wh=sizes,
        tiny=(sizes < TINY_PX).any(1),
        matched_at_scale=dict(sorted(at_scale.items())),
        skipped=skipped,
        seconds=seconds,
    )


def check_options(dataset: BoxDataset, scale_aug: float, on_bad_annotation: str) -> None:
    """`DiagnosticsError` for a ``scale_aug`` outside [0, 1) or an unknown
    ``on_bad_annotation``; with ``"fail"``, for the first image or annotation the loader
    left out (see `scan_dataset`)."""
    if not 0 <= scale_aug < 1:
        raise DiagnosticsError(f"scale_aug: expected a value in [0, 1), got {scale_aug}")
    if on_bad_annotation not in ("fail", "skip"):
        raise DiagnosticsError(
            f"on_bad_annotation: expected 'fail' or 'skip', got {on_bad_annotation!r}"
        )
    if on_bad_annotation == "fail":
        _fail_at_the_first_bad_one(dataset)


def network_targets(
    dataset: BoxDataset, img_size: tuple[int, int]
) -> tuple[InputGeometry, np.ndarray, np.ndarray, list[Skip]]:
    """Every box of ``dataset`` at the network input ``img_size``, as YOLOv5's pipeline
    builds it without augmentation: ``(geometry, box, xywh, skipped)`` -- each image's
    mapping, the dataset rows ``int64[M]`` that keep an area, their normalized
    ``float32[M, 4]`` xywh at the input, and the dataset's skipped annotations followed by
    the boxes left without area. Both scan families start here."""
    geometry = input_geometry(dataset.sizes, img_size)
    xywh = labels_to_input(dataset.boxes, dataset.box_image, geometry)
    has_area = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
    skipped = list(dataset.skipped) + [
        Skip(NO_AREA, f"{dataset.source} box id {dataset.box_ids[i]}")
        for i in np.flatnonzero(~has_area)
    ]
    box = np.flatnonzero(has_area)
    return geometry, box, xywh[box], skipped


def _fail_at_the_first_bad_one(dataset: BoxDataset) -> None:
    """`DiagnosticsError` naming the first image left out, else the first bad annotation."""
    policy = "--on-bad-annotation fail; skip would count it and go on"
    if dataset.skipped_images:
        raise DiagnosticsError(f"{dataset.skipped_images[0].line}; YOLOv5 leaves it out ({policy})")
    bad = next((s for s in dataset.skipped if s.reason != CROWD), None)
    if bad is not None:
        raise DiagnosticsError(f"{bad.where}: {bad.reason} ({policy})")


def _reasons(problem: Problem, wh: torch.Tensor, counts: Counts) -> np.ndarray:
    """Reasons of the targets the assignment left without a row; `MATCHED` for the others.

    A target without a row that some anchor's ratio test passes would be an assignment bug:
    refused loudly rather than mislabelled.
    """
    reason = np.full(len(wh), MATCHED, dtype=np.int64)
    lost = np.flatnonzero(counts.positives.sum(1) == 0)
    if len(lost):
        found = unmatched_reasons(problem, wh[torch.from_numpy(lost).to(wh.device)]).cpu().numpy()
        if (found == MATCHED).any():
            raise RuntimeError("a target passing the ratio test got no row; please report this")
        reason[lost] = found
    return reason


def scaled(xywh: np.ndarray, factor: float) -> np.ndarray:
    """Boxes ``float32[M, 4]`` with w and h times ``factor`` about their centres, clipped to
    the input as YOLOv5's ``random_perspective`` clips them."""
    x, y = xywh[:, 0].astype(np.float64), xywh[:, 1].astype(np.float64)
    half = xywh[:, 2:4].astype(np.float64) * factor / 2
    x0, x1 = np.clip(x - half[:, 0], 0, 1), np.clip(x + half[:, 0], 0, 1)
    y0, y1 = np.clip(y - half[:, 1], 0, 1), np.clip(y + half[:, 1], 0, 1)
    return np.stack(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), 1).astype(np.float32)
