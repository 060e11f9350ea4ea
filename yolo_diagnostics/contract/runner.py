"""The anchor contract outside pytest: `check_assigner`, and `replay` of a saved case.

The runner is the families' shared one (`yolo_diagnostics.harness.runner`); its result and
warning types are named here too, as the contract's public API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..assigners import Factory, load_factory
from ..devices import resolve_devices
from ..errors import DiagnosticsError
from ..harness.runner import (
    ContractResult,
    Failure,
    InfoWarning,
    NotApplicableWarning,
    Outcome,
    QuirkWarning,
    run_properties,
    run_property,
)
from ..invariants import Violation
from ..profiles import register_profiles
from ..reference import Semantics
from ..rules import DEFAULT_RULE, RULES
from .cases import case_from_data
from .properties import PROPERTIES, ContractOptions

__all__ = [
    "ContractResult",
    "Failure",
    "InfoWarning",
    "NotApplicableWarning",
    "Outcome",
    "QuirkWarning",
    "check_assigner",
    "replay",
    "run_property",
]


def check_assigner(
    factory: Factory | str,
    *,
    device: str = "cpu",
    strict: bool = False,
    max_examples: int | None = None,
    reference: Semantics | None = "yolov5",
    properties: Sequence[str] | None = None,
    fail_fast: bool = False,
    profile: str | None = None,
    rule: str = DEFAULT_RULE,
) -> ContractResult:
    """Run the contract on an assigner factory (or ``"module:factory"``) outside pytest.

    Runs every property (or those named) on ``device`` (the ``device`` property compares it
    with the CPU), with the named Hypothesis ``profile`` (default: ``ci`` when CI is set,
    else ``dev``), ``max_examples`` overriding its example count, every problem drawn under
    the neighbour ``rule``. Quirks fail only with ``strict``. Examples the assigner declares
    `NotApplicable` are drawn again; a property none of whose examples it takes fails with
    the check ``not-applicable``. ``fail_fast`` stops at the first failing property.
    """
    if rule not in RULES:
        raise DiagnosticsError(f"rule: expected one of {', '.join(RULES)}, got {rule!r}")
    register_profiles()
    name = factory if isinstance(factory, str) else f"{factory.__module__}:{factory.__name__}"
    options = ContractOptions(
        factory=load_factory(factory) if isinstance(factory, str) else factory,
        assigner=name,
        devices=resolve_devices(["cpu", device]),
        strict=strict,
        reference=reference,
        rule=rule,
    )
    return run_properties(
        PROPERTIES,
        options,
        properties,
        profile=profile,
        max_examples=max_examples,
        fail_fast=fail_fast,
    )


def replay(
    factory: Factory,
    data: dict[str, Any],
    *,
    strict: bool = False,
    reference: Semantics | None = "yolov5",
) -> list[Violation]:
    """Run a saved case again; raises `ContractFailure` if it still fails."""
    property_id, device, case = case_from_data(data)
    options = ContractOptions(
        factory=factory,
        devices=resolve_devices(["cpu", device]),
        strict=strict,
        reference=reference,
        rule=case["problem"].rule,
    )
    return PROPERTIES[property_id].run(options, device, case)
