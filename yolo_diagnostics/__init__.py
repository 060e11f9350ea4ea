"""yolo-diagnostics: tests and diagnostics for the anchor-target assignment of YOLO detectors.

Names are imported on first use: the pytest plugin in this package is loaded by every
pytest session of an environment, and must not pay for importing torch when unused. The
guard's names are the exception: `guard` shares its module's name, and only an eager import
keeps ``yolo_diagnostics.guard`` the function once the module is imported (the module loads
no torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .guard import GuardViolation, GuardWarning, guard, problem_from_model

if TYPE_CHECKING:
    from .assignment import OFFSET_KINDS, Assignment, Diff, diff
    from .contract.runner import check_assigner
    from .errors import DiagnosticsError, NotApplicable
    from .invariants import INVARIANTS, Invariant, Violation, check
    from .problem import PRESETS, Problem
    from .reference import assign
    from .rules import RULES
    from .validate import validate_targets

_EXPORTS = {
    "OFFSET_KINDS": "assignment",
    "Assignment": "assignment",
    "Diff": "assignment",
    "diff": "assignment",
    "INVARIANTS": "invariants",
    "Invariant": "invariants",
    "Violation": "invariants",
    "check": "invariants",
    "PRESETS": "problem",
    "Problem": "problem",
    "RULES": "rules",
    "assign": "reference",
    "validate_targets": "validate",
    "check_assigner": "contract.runner",
    "DiagnosticsError": "errors",
    "NotApplicable": "errors",
    "GuardViolation": "guard",
    "GuardWarning": "guard",
    "guard": "guard",
    "problem_from_model": "guard",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
