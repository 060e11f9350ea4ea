"""Run an assigner over the built-in corpus: invariant checks plus a diff with the reference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from .assigners import Factory
from .assignment import Assignment, diff
from .corpus import Case
from .errors import NotApplicable
from .invariants import Violation, check
from .reference import Semantics, assign


@dataclass(frozen=True)
class CaseResult:
    """What one case gave: rows assigned, violations, the exception the assigner raised, or
    why the assigner declared the case not applicable (`NotApplicable`)."""

    case: str
    targets: int
    rows: int
    violations: tuple[Violation, ...]
    crash: str | None = None
    not_applicable: str | None = None

    @property
    def failed(self) -> bool:
        return self.crash is not None or any(v.fails for v in self.violations)

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["failed"] = self.failed
        return out


def run_case(
    factory: Factory,
    case: Case,
    device: torch.device,
    *,
    reference: Semantics | None = "yolov5",
    strict: bool = False,
) -> CaseResult:
    """Build the case's targets with the assigner on ``device`` and judge the output."""
    problem, targets = case.problem, case.targets.to(device)
    try:
        output = factory(problem, device)(problem.feature_maps(device), targets)
    except NotApplicable as declared:
        return CaseResult(case.name, len(targets), 0, (), not_applicable=str(declared))
    except Exception as error:  # the assigner under test may fail in any way: report it
        return CaseResult(case.name, len(targets), 0, (), f"{type(error).__name__}: {error}")
    violations = check(problem, targets, output, strict=strict)
    if any(v.check == "shapes" for v in violations):
        return CaseResult(case.name, len(targets), 0, tuple(violations))
    table = Assignment.from_yolov5(output)
    if reference is not None:
        violations += _reference_violations(
            assign(problem, targets, semantics=reference), table, reference
        )
    return CaseResult(case.name, len(targets), len(table), tuple(violations))


def _reference_violations(
    expected: Assignment, actual: Assignment, semantics: str
) -> list[Violation]:
    d = diff(expected, actual)
    if d.equal:
        return []
    return [
        Violation(
            "reference",
            "error",
            None,
            (),
            (),
            f"against the {semantics} reference: {d.summary()}",
        )
    ]


def run_corpus(
    factory: Factory,
    cases: Sequence[Case],
    device: torch.device,
    *,
    reference: Semantics | None = "yolov5",
    strict: bool = False,
) -> list[CaseResult]:
    return [run_case(factory, case, device, reference=reference, strict=strict) for case in cases]
