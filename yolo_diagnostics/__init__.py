"""yolo-diagnostics: tests and diagnostics for the anchor-target assignment of YOLO detectors."""

from .assignment import OFFSET_KINDS, Assignment, Diff, diff
from .invariants import INVARIANTS, Invariant, Violation, check
from .problem import PRESETS, Problem
from .reference import assign
from .validate import validate_targets

__all__ = [
    "INVARIANTS",
    "OFFSET_KINDS",
    "PRESETS",
    "Assignment",
    "Diff",
    "Invariant",
    "Problem",
    "Violation",
    "assign",
    "check",
    "diff",
    "validate_targets",
]
__version__ = "0.1.0"
