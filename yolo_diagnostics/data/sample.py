"""The bundled real-photograph dataset (package data; see ``fixtures/README.md``).

The same boxes in two formats: ``instances.json`` (COCO, with ``images/``) and ``labels/`` +
``data.yaml`` (YOLO). `yolo-diagnostics scan` with no dataset argument scans it.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "datasets" / "sample"
SAMPLE_COCO = SAMPLE / "instances.json"
SAMPLE_IMAGES = SAMPLE / "images"
SAMPLE_YAML = SAMPLE / "data.yaml"
