"""Run contract properties with Hypothesis, inside pytest or from `check_assigner`."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import HealthCheck, event, given, reject, settings, target
from hypothesis.errors import Unsatisfiable
from hypothesis.statistics import collector, describe_statistics

from ..assigners import Factory, load_factory
from ..devices import resolve_devices
from ..errors import DiagnosticsError, NotApplicable
from ..invariants import Violation
from ..profiles import default_profile, register_profiles, storage_in_the_user_cache
from ..reference import Semantics
from ..rules import DEFAULT_RULE, RULES
from ..strategies import edge_kinds
from .cases import Case, case_from_data, case_to_data
from .properties import PROPERTIES, ContractFailure, ContractOptions, Property
from .reduce import reduce_rows


class QuirkWarning(UserWarning):
    """A quirk-severity finding: behaviour YOLOv5 itself has; fails only under --strict."""


class NotApplicableWarning(UserWarning):
    """Some examples of a property were declared `NotApplicable` by the assigner: they were
    drawn again, and the property judged on the applicable ones."""


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
    not_applicable: int = 0
    """Examples the assigner declared `NotApplicable` (not counted in ``examples``)."""


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
    declined: list[tuple[str, Case]] = []  # (the assigner's reason, the case), per example

    @settings(
        profile,
        max_examples=prop.examples(profile.max_examples),
        report_multiple_bugs=False,
        # examples an assigner declares not applicable are drawn again, as a filter would
        suppress_health_check=[*profile.suppress_health_check, HealthCheck.filter_too_much],
    )
    @given(case=prop.draw(options))
    def run(case: Case) -> None:
        calls[0] += 1
        kinds = edge_kinds(case["problem"], case["targets"])
        for kind in kinds:
            event(kind)
        target(float(len(kinds)), label="edge kinds in one case")
        try:
            found = prop.run(options, device, case)
        except NotApplicable as declared:
            declined.append((str(declared), case))
            reject()
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
            with storage_in_the_user_cache():
                _with_statistics(run, statistics)
        except Unsatisfiable:
            raise _nothing_applicable(prop, device, declined) from None
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
        if declined:
            warnings.warn(
                NotApplicableWarning(
                    f"{prop.id}: {len(declined)} example(s) not applicable to the assigner, "
                    f"drawn again; first: {declined[0][0]}"
                ),
                stacklevel=2,
            )
        return _passed(prop, device, calls[0], quirks, declined)
    try:
        with storage_in_the_user_cache():
            run()
    except Unsatisfiable:
        failure = _nothing_applicable(prop, device, declined)
        return Outcome(
            prop.id,
            device,
            "failed",
            0,
            failure=Failure(prop.id, failure.check, failure.message, failure.case or {}, 0, None),
            not_applicable=len(declined),
        )
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
    return _passed(prop, device, calls[0], quirks, declined)


def _passed(
    prop: Property, device: str, calls: int, quirks: dict, declined: list[tuple[str, Case]]
) -> Outcome:
    return Outcome(
        prop.id,
        device,
        "passed",
        calls - len(declined),
        quirks=tuple(quirks.values()),
        not_applicable=len(declined),
    )


def _nothing_applicable(
    prop: Property, device: str, declined: list[tuple[str, Case]]
) -> ContractFailure:
    """The failure of a property none of whose examples the assigner would take."""
    reason = declined[0][0] if declined else "no example could be drawn"
    failure = ContractFailure(
        "not-applicable",
        f"the assigner declared all {len(declined)} example(s) not applicable; first: {reason}",
    )
    if declined:
        failure.drawn = declined[0][1]
        failure.case = case_to_data(prop.id, device, declined[0][1])
    return failure


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
        rule=case["problem"].rule,
    )
    return PROPERTIES[property_id].run(options, device, case)
