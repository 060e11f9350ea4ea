"""A torch ``Dataset`` of network inputs and YOLOv5-format targets, and its ``collate``.

What YOLOv5's ``LoadImagesAndLabels`` yields without augmentation: per image the letterboxed
input (``uint8[3, H, W]``, RGB) and its targets ``float32[n, 6] = (0, class, x, y, w, h)``
normalized to the input; `collate` stacks a batch and writes each target's image position into
column 0, as ``LoadImagesAndLabels.collate_fn`` does. So a user's own batches and these go
through the same code (`yolo_diagnostics.assign`, `check`, the scan).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import DiagnosticsError
from .boxes import BoxDataset
from .letterbox import input_geometry, labels_to_input, letterbox


class Sample(NamedTuple):
    """One image: ``image`` ``uint8[3, H, W]`` (``None`` without pixels), ``targets``
    ``float32[n, 6]`` with image id 0, and its index in the dataset."""

    image: Tensor | None
    targets: Tensor
    index: int


class Batch(NamedTuple):
    """``images`` ``uint8[B, 3, H, W]`` (``None`` without pixels), ``targets``
    ``float32[nt, 6]`` (image position in the batch, class, x, y, w, h), dataset indices."""

    images: Tensor | None
    targets: Tensor
    indices: tuple[int, ...]


class TrainingInputs(Dataset):
    """The images of a `BoxDataset` at network input ``img_size = (H, W)``.

    With ``pixels=False`` (or a dataset without an image root) only the targets are made,
    from the image sizes the dataset records: no file is opened.
    """

    def __init__(self, dataset: BoxDataset, img_size: tuple[int, int], *, pixels: bool = True):
        self.dataset = dataset
        self.img_size = (int(img_size[0]), int(img_size[1]))
        self.pixels = pixels and dataset.image_root is not None
        self.geometry = input_geometry(dataset.sizes, self.img_size)

    def __len__(self) -> int:
        return self.dataset.num_images

    def targets(self, index: int) -> Tensor:
        """``float32[n, 6]`` targets of image ``index`` (image id 0)."""
        rows = self.dataset.boxes_of(index)
        xywh = labels_to_input(
            self.dataset.boxes[rows], self.dataset.box_image[rows], self.geometry
        )
        cls = self.dataset.box_class[rows].astype(np.float32)
        out = np.column_stack((np.zeros_like(cls), cls, xywh)).astype(np.float32)
        return torch.from_numpy(out.reshape(-1, 6))

    def image(self, index: int) -> np.ndarray:
        """``uint8[H, W, 3]`` BGR: the image file letterboxed as YOLOv5 does.

        Raises ``ValueError`` naming the file when it is missing or cannot be decoded.
        """
        path = self.dataset.image_path(index)
        if path is None:
            raise DiagnosticsError(f"{self.dataset.source}: no image folder, so no pixels")
        pixels = cv2.imread(str(path))
        if pixels is None:
            raise DiagnosticsError(f"{path}: image file missing or not decodable")
        return letterbox(pixels, self.img_size).image

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < len(self):
            raise IndexError(f"image index {index} out of range [0, {len(self)})")
        image = None
        if self.pixels:
            rgb = self.image(index)[:, :, ::-1].transpose(2, 0, 1)  # HWC BGR -> CHW RGB
            image = torch.from_numpy(np.ascontiguousarray(rgb))
        return Sample(image, self.targets(index), index)


def collate(batch: Sequence[Sample]) -> Batch:
    """Stack a batch: targets get their image's position in column 0."""
    targets = []
    for position, sample in enumerate(batch):
        t = sample.targets.clone()
        t[:, 0] = position
        targets.append(t)
    images = [s.image for s in batch]
    stacked = torch.stack(images) if images and all(i is not None for i in images) else None
    out = torch.cat(targets) if targets else torch.zeros((0, 6))
    return Batch(stacked, out, tuple(s.index for s in batch))
