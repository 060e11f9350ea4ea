"""Run contract properties with Hypothesis, inside pytest or outside it, for any family.

`run_property` runs one `Property` on one device under a Hypothesis profile: quirk and info
findings are warned about, examples the assigner declares `NotApplicable` are drawn again,
and the shrunk failure carries its case as plain data. `run_properties` runs a family's
table of them outside pytest (`check_assigner`, `check_tal_assigner`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import HealthCheck, event, given, reject, settings, target
from hypothesis.errors import Unsatisfiable
from hypothesis.statistics import collector, describe_statistics

from ..errors import DiagnosticsError, NotApplicable
from ..profiles import default_profile, register_profiles, storage_in_the_user_cache
from .cases import case_to_data
from .property import Case, ContractFailure, Property


class QuirkWarning(UserWarning):
    """A quirk-severity finding: behaviour YOLOv5 itself has; fails only under --strict."""


class InfoWarning(UserWarning):
    """An info-severity finding a property reports (never fails): a count worth knowing,
    such as the decisions float16 inputs flip."""


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
    quirks: tuple[Any, ...] = ()
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
    options: Any,
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
        kinds = prop.kinds(case)
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
            quirks.setdefault((v.check, str(v)), v)

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
        by_check: dict[tuple[str, str], list[Any]] = {}
        for v in quirks.values():
            by_check.setdefault((v.check, v.severity), []).append(v)
        for (check_id, severity), found in by_check.items():
            if severity == "info":
                warning: UserWarning = InfoWarning(
                    f"{prop.id}: {len(found)} distinct '{check_id}' finding(s); first: {found[0]}"
                )
            else:
                warning = QuirkWarning(
                    f"{prop.id}: {len(found)} distinct '{check_id}' quirk finding(s), which "
                    f"fail only under --strict; first: {found[0]}"
                )
            warnings.warn(warning, stacklevel=2)
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


def _reduced(prop: Property, options: Any, device: str, error: ContractFailure) -> ContractFailure:
    """``error``, or for a property that asks for it the smaller failure its `Property.reduce`
    finds, carrying Hypothesis' notes."""
    if prop.reduce is None:
        return error
    reduced = prop.reduce(prop, options, device, error)
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


def run_properties(
    table: dict[str, Property],
    options: Any,
    names: Sequence[str] | None,
    *,
    profile: str | None,
    max_examples: int | None,
    fail_fast: bool,
) -> ContractResult:
    """Run the properties named (all of ``table`` by default) outside pytest, on the last of
    ``options.devices``, with the named Hypothesis profile; any family's properties."""
    register_profiles()
    chosen = settings.get_profile(profile or default_profile())
    if max_examples is not None:
        chosen = settings(chosen, max_examples=max_examples)
    outcomes = []
    for p in list(table) if names is None else names:
        if p not in table:
            raise DiagnosticsError(f"properties: unknown {p!r}; known: {', '.join(table)}")
        outcome = run_property(table[p], options, options.devices[-1], chosen, raise_failure=False)
        outcomes.append(outcome)
        if fail_fast and outcome.status == "failed":
            break
    return ContractResult(tuple(outcomes))
