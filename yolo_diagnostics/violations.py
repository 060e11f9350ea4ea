"""What a check finds: `Violation`, and what a check is: `Invariant`.

A module of its own so that the checks (`invariants`) and the helpers that turn their
findings into violations (`findings`) share them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:  # attribution needs torch; this module stays light
    from .attribution import Context

Severity = Literal["error", "quirk", "info"]


class IntColumn(Protocol):
    """A 1-D integer column that lists itself: a ``torch.Tensor`` or a numpy array."""

    def tolist(self) -> Any: ...


class _Indices:
    """A `Violation` field of row or target indices, a ``tuple[int, ...]`` when read.

    It is given a tuple, or a 1-D integer column (`IntColumn`) that it keeps as given and
    turns into the tuple at its first read. A check on a training-scale batch can name a
    million rows, and a tuple of a million Python ints takes longer to build than
    ``build_targets`` takes to run; most readers never look at the rows (a check's
    callers read ``fails``, ``check`` and the message), and those that do get the same
    tuple as if it had been built at once.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.slot = name, f"_{name}"

    def __get__(self, obj: object, owner: type | None = None) -> tuple[int, ...]:
        if obj is None:  # dataclass asks for a default: there is none
            raise AttributeError(self.name)
        value = obj.__dict__[self.slot]
        if not isinstance(value, tuple):
            value = tuple(value.tolist())
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: object, value: tuple[int, ...] | IntColumn) -> None:
        obj.__dict__[self.slot] = value


@dataclass(frozen=True)
class Violation:
    """One finding: which check, how severe, where, and a one-line human message.

    ``rows`` index the canonical table (`Assignment.from_yolov5` order: level by level, in
    output order); ``targets`` index the input targets. Each is read as a tuple of ints and
    may be given as one, or as a 1-D integer column, listed at its first read (`_Indices`).
    """

    check: str
    severity: Severity
    level: int | None
    rows: _Indices = _Indices()
    targets: _Indices = _Indices()
    message: str

    @property
    def fails(self) -> bool:
        return self.severity == "error"

    def with_severity(self, severity: Severity) -> Violation:
        """The same finding at another severity; its rows and targets stay as given."""
        new = copy.copy(self)
        object.__setattr__(new, "severity", severity)
        return new

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
