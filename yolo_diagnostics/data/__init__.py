"""Datasets to network inputs and targets, as YOLOv5 builds them.

- `boxes`: `BoxDataset`, the arrays every loader produces, and the reasons an annotation is
  skipped;
- `coco`: `load_coco`, COCO instances JSON through pycocotools;
- `yolo`: `load_yolo`, YOLO-format folders and YOLOv5 data YAMLs (`imagesize` reads image
  sizes from file headers);
- `letterbox`: YOLOv5's ``load_image`` + ``letterbox`` geometry for labels (`input_geometry`,
  `labels_to_input`) and pixels (`letterbox`);
- `training`: a torch ``Dataset`` and ``collate`` yielding YOLOv5-format targets ``[nt, 6]``;
- `synthetic`: a deterministic generator of large COCO-like datasets;
- `sample`: the bundled real-photograph dataset.
"""

from .boxes import BoxDataset, Skip
from .coco import load_coco
from .letterbox import InputGeometry, Letterbox, input_geometry, labels_to_input, letterbox
from .yolo import load_yolo

__all__ = [
    "BoxDataset",
    "InputGeometry",
    "Letterbox",
    "Skip",
    "input_geometry",
    "labels_to_input",
    "letterbox",
    "load_coco",
    "load_yolo",
]
