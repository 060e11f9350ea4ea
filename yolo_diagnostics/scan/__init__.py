"""The dataset scan: where the assignment goes wrong on a whole dataset.

- `run`: `scan_dataset`, every box through YOLOv5's input pipeline and the reference
  assignment, reduced to per-target and per-image figures (`ScanResult`);
- `assignment`: the chunked assignment and its counts (positives, duplicates, collisions);
- `reasons`: why a target gets no positive (too-small, too-large, aspect);
- `autoanchor`: YOLOv5 AutoAnchor's best possible recall and anchors per target;
- `summary`: the JSON summary, the per-image table and the worst images.

The HTML report of a scan is `yolo_diagnostics.report.dataset`.
"""

from .reasons import REASONS
from .run import ScanResult, scan_dataset
from .summary import image_table, summary, worst_images

__all__ = ["REASONS", "ScanResult", "image_table", "scan_dataset", "summary", "worst_images"]
