"""Speed and memory of ``build_targets`` implementations: ``yolo-diagnostics bench assign``.

- `boxes`: `random_targets`, seeded realistic boxes for a batch;
- `measure`: `interleave` (round-robin timing, shuffled order), `peak_bytes` (memory of one call),
  `rounds_for` (how many rounds fit a time budget);
- `assign`: `AssignBench`, the implementations side by side, `run`;
- `tables`: `format_tables`, the printed figures.
"""

from __future__ import annotations

from .assign import AssignBench, run
from .boxes import random_targets
from .measure import interleave, peak_bytes, rounds_for
from .tables import format_tables

__all__ = [
    "AssignBench",
    "format_tables",
    "interleave",
    "peak_bytes",
    "random_targets",
    "rounds_for",
    "run",
]
