"""What every family's contract is made of: properties, and the failure a property raises.

A `Property` draws a case with Hypothesis and judges an assigner's outputs on it; it returns
the quirk and info findings it saw (the runner warns about them) and raises
`ContractFailure` for a failing one. The anchor family's (`yolo_diagnostics.contract`) and
the TAL family's (`yolo_diagnostics.tal.contract`) properties are such records; the runner
(`harness.runner`) runs either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

Case = dict[str, Any]
"""A drawn case: ``problem`` and the inputs, and whatever else the property drew."""


class ContractFailure(AssertionError):
    """A failing finding: the check id it belongs to and a one-line message.

    A failed comparison may also carry what a report draws: the family's difference
    (``diff``: the anchor family's `Diff`, expected vs actual rows) and the inputs the
    compared output was assigned from (``targets``).
    """

    def __init__(self, check: str, message: str, diff: Any = None, targets: Any = None) -> None:
        super().__init__(f"[{check}] {message}")
        self.check = check
        self.message = message
        self.diff = diff
        self.targets = targets
        self.case: dict[str, Any] | None = None  # the minimal example, set by the runner
        self.drawn: Case | None = None  # the drawn case it failed on, set by the runner


@dataclass(frozen=True)
class Property:
    """One contract property: how to draw its cases, how to judge them, when it applies."""

    id: str
    check: str
    meaning: str
    draw: Callable[[Any], st.SearchStrategy[Case]]
    """The case strategy, given the options (a family's own options class)."""
    run: Callable[[Any, str, Case], list[Any]]
    """Judge one case on one device: the quirk and info findings, or raise
    `ContractFailure`."""
    skip: Callable[[Any, str], str | None] = lambda options, device: None
    examples: Callable[[int], int] = lambda max_examples: max_examples
    """The examples to spend, given the profile's ``max_examples``."""
    reduce: Callable[[Property, Any, str, ContractFailure], ContractFailure] | None = None
    """Cut a shrunk failing example further than Hypothesis does (the anchor family's
    `contract.reduce.reduce_rows`): ``reduce(property, options, device, failure)``."""
    kinds: Callable[[Case], set[str]] = lambda case: set()
    """The edge kinds a case holds, for Hypothesis' events and target (the family's)."""
