"""The TAL contract outside pytest: `check_tal_assigner`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ...assigners import load_factory
from ...devices import resolve_devices
from ...errors import DiagnosticsError
from ...harness.runner import ContractResult, run_properties
from ..problem import TalProblem
from .properties import PROPERTIES, TalContractOptions

SEMANTICS = ("ultralytics", "strict")


def check_tal_assigner(
    factory: Callable[[TalProblem, torch.device], Callable] | str,
    *,
    device: str = "cpu",
    strict: bool = False,
    max_examples: int | None = None,
    reference: str | None = "ultralytics",
    properties: Sequence[str] | None = None,
    fail_fast: bool = False,
    profile: str | None = None,
) -> ContractResult:
    """Run the TAL contract on an assigner factory (or ``"module:factory"``) outside pytest.

    As `yolo_diagnostics.check_assigner`: every property (or those named) on ``device``,
    with the named Hypothesis ``profile``, ``max_examples`` overriding its example count;
    quirks fail only with ``strict``; ``reference`` is ``"ultralytics"``, ``"strict"`` or
    None (no reference diff).
    """
    if reference not in (*SEMANTICS, None):
        raise DiagnosticsError(
            f"reference: expected one of {', '.join(SEMANTICS)} or None, got {reference!r}"
        )
    name = factory if isinstance(factory, str) else f"{factory.__module__}:{factory.__name__}"
    options = TalContractOptions(
        factory=load_factory(factory) if isinstance(factory, str) else factory,
        assigner=name,
        devices=resolve_devices(["cpu", device]),
        strict=strict,
        reference=reference,
    )
    return run_properties(
        PROPERTIES,
        options,
        properties,
        profile=profile,
        max_examples=max_examples,
        fail_fast=fail_fast,
    )
