"""Run contract properties with Hypothesis, inside pytest or from `check_assigner`."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import event, given, settings, target
from hypothesis.statistics import collector, describe_statistics

from ..assigners import Factory, load_factory
from ..devices import resolve_devices
from ..invariants import Violation
from ..profiles import default_profile, register_profiles
from ..reference import Semantics
from ..strategies import edge_kinds
from .cases import Case, case_from_data, case_to_data
from .properties import PROPERTIES, ContractFailure, ContractOptions, Property
from .reduce import reduce_rows


class QuirkWarning(UserWarning):
    """A quirk-severity finding: behaviour YOLOv5 itself has; fails only under --strict."""


@dataclass(frozen=True)
class Failure:
    """A failing property: the check that failed and the minimal example Hypothesis found.

    ``example`` is plain data (see `case_to_data`), so it can be saved as JSON and replayed
    with `replay`. ``examples_to_fail`` counts the examples run until the first failure.
    """

    property: str
    check: str
    message: str
    example: dict[str, Any]
    examples_to_fail: int
    reproduce: str | None


@dataclass(frozen=True)
class Outcome:
    property: str
    device: str
    status: Literal["passed", "failed", "skipped"]
    examples: int
    reason: str | None = None
    quirks: tuple[Violation, ...] = ()
    failure: Failure | None = None


@dataclass(frozen=True)
class ContractResult:
    """What `check_assigner` found, property by property."""

    outcomes: tuple[Outcome, ...]

    @property
    def passed(self) -> bool:
        return all(o.status != "failed" for o in self.outcomes)

    @property
    def failures(self) -> list[Failure]:
        return [o.failure for o in self.outcomes if o.failure is not None]


def run_property(
    prop: Property,
    options: ContractOptions,
    device: str,
    profile: settings,
    *,
    raise_failure: bool,
    statistics: Callable[[str], None] | None = None,
) -> Outcome:
    """Run one property with Hypothesis on ``device``.

    With ``raise_failure`` the shrunk failure propagates (pytest reports it, with
    Hypothesis' falsifying example, its `ContractFailure` carrying the minimal case) and
    quirks are issued as `QuirkWarning`; otherwise it is captured into the returned
    `Outcome`. ``statistics`` receives Hypothesis' statistics of the run as text.
    """
    reason = prop.skip(options, device)
    if reason is not None:
        return Outcome(prop.id, device, "skipped", 0, reason=reason)
    calls, first_failure, quirks = [0], [0], {}

    @settings(profile, max_examples=prop.examples(profile.max_examples), report_multiple_bugs=False)
    @given(case=prop.draw())
    def run(case: Case) -> None:
        calls[0] += 1
        kinds = edge_kinds(case["problem"], case["targets"])
        for kind in kinds:
            event(kind)
        target(float(len(kinds)), label="edge kinds in one case")
        try:
            found = prop.run(options, device, case)
        except ContractFailure as failure:
            first_failure[0] = first_failure[0] or calls[0]
            # the case travels with its failure: Hypothesis raises the minimal example's
            # exception, while its explain phase runs variations of that example after it
            failure.drawn = case
            raise
        for v in found:
            quirks.setdefault((v.check, v.level, v.message), v)

    if raise_failure:
        try:
            _with_statistics(run, statistics)
        except ContractFailure as error:
            reduced = _reduced(prop, options, device, error)
            reduced.case = case_to_data(prop.id, device, reduced.drawn)
            if reduced is error:
                raise
            raise reduced from None
        by_check: dict[str, list[Violation]] = {}
        for v in quirks.values():
            by_check.setdefault(v.check, []).append(v)
        for check_id, found in by_check.items():
            warnings.warn(
                QuirkWarning(
                    f"{prop.id}: {len(found)} distinct '{check_id}' quirk finding(s), which "
                    f"fail only under --strict; first: {found[0]}"
                ),
                stacklevel=2,
            )
        return Outcome(prop.id, device, "passed", calls[0], quirks=tuple(quirks.values()))
    try:
        run()
    except ContractFailure as shrunk:
        error = _reduced(prop, options, device, shrunk)
        notes = getattr(error, "__notes__", [])
        blob = next((n.strip() for n in notes if "@reproduce_failure" in n), None)
        failure = Failure(
            prop.id,
            error.check,
            error.message,
            case_to_data(prop.id, device, error.drawn),
            first_failure[0],
            blob,
        )
        return Outcome(prop.id, device, "failed", calls[0], failure=failure)
    return Outcome(prop.id, device, "passed", calls[0], quirks=tuple(quirks.values()))


def _reduced(
    prop: Property, options: ContractOptions, device: str, error: ContractFailure
) -> ContractFailure:
    """``error``, or for a property that asks for it (`Property.reduce`) the failure of the
    fewest target rows that fail alike (`reduce_rows`), carrying Hypothesis' notes."""
    if not prop.reduce:
        return error
    reduced = reduce_rows(prop, options, device, error)
    if reduced is not error:
        before, after = len(error.drawn["targets"]), len(reduced.drawn["targets"])
        notes = getattr(error, "__notes__", [])
        reduced.__notes__ = [
            *notes,
            f"yolo-diagnostics cut the shrunk example from {before} to {after} target rows",
        ]
    return reduced


def _with_statistics(run: Callable[[], None], note: Callable[[str], None] | None) -> None:
    if note is None:
        run()
        return
    with collector.with_value(lambda stats: note(describe_statistics(stats))):
        run()


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
) -> ContractResult:
    """Run the contract on an assigner factory (or ``"module:factory"``) outside pytest.

    Runs every property (or those named) on ``device`` (the ``device`` property compares it
    with the CPU), with the named Hypothesis ``profile`` (default: ``ci`` when CI is set,
    else ``dev``), ``max_examples`` overriding its example count. Quirks fail only with
    ``strict``.
    ``fail_fast`` stops at the first failing property.
    """
    register_profiles()
    name = factory if isinstance(factory, str) else f"{factory.__module__}:{factory.__name__}"
    options = ContractOptions(
        factory=load_factory(factory) if isinstance(factory, str) else factory,
        assigner=name,
        devices=resolve_devices(["cpu", device]),
        strict=strict,
        reference=reference,
    )
    chosen = settings.get_profile(profile or default_profile())
    if max_examples is not None:
        chosen = settings(chosen, max_examples=max_examples)
    outcomes = []
    for p in list(PROPERTIES) if properties is None else properties:
        outcome = run_property(
            PROPERTIES[p], options, options.devices[-1], chosen, raise_failure=False
        )
        outcomes.append(outcome)
        if fail_fast and outcome.status == "failed":
            break
    return ContractResult(tuple(outcomes))


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
    )
    return PROPERTIES[property_id].run(options, device, case)
