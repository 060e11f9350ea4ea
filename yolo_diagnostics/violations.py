"""What a check finds: `Violation`, and what a check is: `Invariant`.

A module of its own so that the checks (`invariants`) and the helpers that turn their
findings into violations (`findings`) share them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # attribution needs torch; this module stays light
    from .attribution import Context

Severity = Literal["error", "quirk", "info"]


@dataclass(frozen=True)
class Violation:
    """One finding: which check, how severe, where, and a one-line human message.

    ``rows`` index the canonical table (`Assignment.from_yolov5` order: level by level, in
    output order); ``targets`` index the input targets.
    """

    check: str
    severity: Severity
    level: int | None
    rows: tuple[int, ...]
    targets: tuple[int, ...]
    message: str

    @property
    def fails(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = "" if self.level is None else f" level {self.level}"
        return f"[{self.severity}] {self.check}{where}: {self.message}"


@dataclass(frozen=True)
class Invariant:
    """A registered check. ``single_call`` checks are judged from one output by `check`;
    the others compare several calls and are run by the contract."""

    id: str
    severity: Severity
    meaning: str
    run: Callable[[Context], list[Violation]] | None = field(default=None, repr=False)
    single_call: bool = True
