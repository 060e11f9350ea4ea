"""The reference assignment of a whole dataset, counted in chunks of whole images.

Rows are never kept for the whole dataset (a million targets give about eight million rows):
each chunk is assigned on the device and reduced at once to counts per target, level, anchor
and image. The per-image pages assign their image again (assignment is per image: other
images' targets never change an image's rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from ..problem import Problem
from ..reference import Semantics, assign

CHUNK_TARGETS = 1 << 16  # targets per assignment call (whole images)


@dataclass(frozen=True)
class Counts:
    """What the assignment gave, reduced.

    Attributes:
        positives: ``int64[M, nl]`` rows per target and level.
        per_anchor: ``int64[nl, na]`` rows per level and anchor.
        duplicates: ``int64[N]`` per image, rows repeating a (level, anchor, gj, gi, target)
            row (YOLOv5 at integer grid coordinates).
        collisions: ``int64[N]`` per image, slots (level, anchor, gj, gi) claimed by two or
            more different targets.
        colliding: ``bool[M]`` targets with a row in such a slot.
    """

    positives: np.ndarray
    per_anchor: np.ndarray
    duplicates: np.ndarray
    collisions: np.ndarray
    colliding: np.ndarray


def count_assignment(
    problem: Problem,
    image: np.ndarray,
    targets: np.ndarray,
    num_images: int,
    *,
    semantics: Semantics = "yolov5",
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK_TARGETS,
) -> Counts:
    """Assign ``targets`` (``float32[M, 5]`` class, x, y, w, h normalized to the input) of
    images ``image`` (``int64[M]``, ascending, ``< num_images``) and count the rows.

    Whole images of about ``chunk`` targets are assigned at a time; ``progress(k)`` is called
    as ``k`` more targets are done.
    """
    nl, na, m = problem.nl, problem.na, len(targets)
    positives = np.zeros((m, nl), np.int64)
    per_anchor = np.zeros((nl, na), np.int64)
    duplicates = np.zeros(num_images, np.int64)
    collisions = np.zeros(num_images, np.int64)
    colliding = np.zeros(m, bool)
    for lo, hi, first, images in _chunks(image, chunk):
        t = torch.from_numpy(np.column_stack((image[lo:hi] - first, targets[lo:hi])))
        part = replace(problem, batch_size=max(images, 1))
        c = _count_chunk(part, t.to(device=device, dtype=torch.float32), semantics)
        positives[lo:hi] = c["positives"].cpu().numpy()
        per_anchor += c["per_anchor"].cpu().numpy()
        duplicates[first : first + images] = c["duplicates"].cpu().numpy()
        collisions[first : first + images] = c["collisions"].cpu().numpy()
        colliding[lo:hi] = c["colliding"].cpu().numpy()
        if progress is not None:
            progress(hi - lo)
    return Counts(positives, per_anchor, duplicates, collisions, colliding)


def _chunks(image: np.ndarray, chunk: int) -> Iterator[tuple[int, int, int, int]]:
    """``(lo, hi, first image, images)``: target rows ``lo:hi`` are whole images."""
    lo = 0
    while lo < len(image):
        hi = min(lo + chunk, len(image))
        if hi < len(image):  # end on an image boundary (one huge image is a chunk of its own)
            boundary = int(np.searchsorted(image, image[hi], side="left"))
            hi = boundary if boundary > lo else int(np.searchsorted(image, image[hi], "right"))
        first = int(image[lo])
        yield lo, hi, first, int(image[hi - 1]) - first + 1
        lo = hi


def _count_chunk(problem: Problem, t: Tensor, semantics: Semantics) -> dict[str, Tensor]:
    """Counts of one chunk, on its device. Slot keys are
    ``(((image * nl + level) * na + anchor) * ny + gj) * nx + gi`` with the finest grid."""
    table = assign(problem, t, semantics=semantics)
    nl, na, n, b = problem.nl, problem.na, len(t), problem.batch_size
    ny, nx = problem.feature_shapes[0]  # the finest level bounds every level's cells
    positives = torch.bincount(table.target * nl + table.level, minlength=n * nl).view(n, nl)
    per_anchor = torch.bincount(table.level * na + table.anchor, minlength=nl * na).view(nl, na)
    per_image = nl * na * ny * nx
    slot = (((table.image * nl + table.level) * na + table.anchor) * ny + table.gj) * nx + table.gi
    pair, repeats = torch.unique(slot * n + table.target, return_counts=True)
    pair_slot, pair_target = pair // n, pair % n
    duplicates = torch.bincount(pair_slot // per_image, weights=(repeats - 1).double(), minlength=b)
    slots, claimants = torch.unique_consecutive(pair_slot, return_counts=True)  # pair is sorted
    shared = slots[claimants > 1]
    collisions = torch.bincount(shared // per_image, minlength=b)
    colliding = torch.zeros(n, dtype=torch.bool, device=t.device)
    colliding[pair_target[torch.isin(pair_slot, shared)]] = True
    return {
        "positives": positives,
        "per_anchor": per_anchor,
        "duplicates": duplicates.long(),
        "collisions": collisions,
        "colliding": colliding,
    }
