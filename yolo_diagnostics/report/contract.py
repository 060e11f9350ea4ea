"""What a failing contract case leaves behind: a JSON case file, an overlay, a diff table.

The case file replays without pytest (`yolo-diagnostics show CASE.json`); the overlay and
the table are what the pytest-html report shows on the failing row. HTML comes from Jinja2
templates with autoescaping, never from string concatenation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from torch import Tensor

from ..assignment import Assignment, Diff, diff
from ..contract.cases import case_from_data, dumps_case
from ..contract.properties import ContractFailure, ContractOptions, call
from ..errors import DiagnosticsError
from ..files import write_atomic
from ..invariants import Violation, check, shape_violations
from ..problem import Problem
from ..reference import assign
from ..validate import validate_targets

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("yolo_diagnostics.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class Overlay:
    """The failing case judged again: the PNG and what was drawn on it."""

    png: bytes
    violations: tuple[Violation, ...]
    diff: Diff | None


def overlay(
    options: ContractOptions, device: str, case: dict[str, Any], failure: ContractFailure | None
) -> Overlay:
    """Re-run the assigner on the case (the targets of the failing comparison, if any) and
    draw its assignment with the violations and the diff (the failure's, or against the
    reference)."""
    from ..render import render_assignment, render_targets  # only when a report asks for it

    problem: Problem = case["problem"]
    targets: Tensor = case["targets"]
    if failure is not None and failure.targets is not None:
        targets = failure.targets
    targets = targets.cpu()
    try:
        output = call(options, device, problem, targets)
    except ContractFailure:
        return Overlay(
            render_targets(problem, targets, image_index=_first_image(targets)), (), None
        )
    if shape_violations(problem, targets.to(device), output):
        return Overlay(
            render_targets(problem, targets, image_index=_first_image(targets)), (), None
        )
    table = Assignment.from_yolov5(output).to("cpu")
    found_all = check(problem, targets.to(device), output, strict=options.strict)
    violations = tuple(v for v in found_all if v.fails)  # red means failing
    found: Diff | None = failure.diff if failure is not None else None
    if found is None and options.reference is not None:
        found = diff(assign(problem, targets, semantics=options.reference), table)
    image = _image_of_interest(table, violations, found, targets)
    png = render_assignment(
        problem, targets, table, violations=violations, diff=found, image_index=image
    )
    return Overlay(png, violations, found)


def _first_image(targets: Tensor) -> int:
    return int(targets[0, 0]) if len(targets) else 0


def _image_of_interest(
    table: Assignment, violations: tuple[Violation, ...], found: Diff | None, targets: Tensor
) -> int:
    """The image of the first offending row, else of the first diff row, else target 0."""
    for v in violations:
        if v.fails and v.rows:
            return int(table.image[v.rows[0]])
    if found is not None:
        for part in (found.missing, found.extra):
            if len(part):
                return int(part.image[0])
    return _first_image(targets)


def failure_html(
    options: ContractOptions,
    device: str,
    failure: ContractFailure,
    found: Overlay,
    reproduce: str | None,
) -> str:
    """The diff table (expected vs actual rows) with the failing check, as escaped HTML."""
    d = found.diff
    tables = []
    if d is not None:
        tables = [
            ("expected, missing from the output", d.missing.records()),
            ("in the output, not expected", d.extra.records()),
        ]
    case = failure.case or {}
    return _TEMPLATES.get_template("failure.html.j2").render(
        property=case.get("property", "?"),
        check=failure.check,
        message=failure.message,
        assigner=options.assigner,
        device=device,
        reference=options.reference or "none",
        strict=options.strict,
        reproduce=reproduce,
        tables=tables,
        violations=[str(v) for v in found.violations if v.fails],
        limit=50,
    )


def case_file(
    options: ContractOptions, failure: ContractFailure, reproduce: str | None
) -> dict[str, Any]:
    """The JSON content of a case file: the minimal case and how to judge it again."""
    return {
        "assigner": options.assigner,
        "reference": options.reference,
        "strict": options.strict,
        "check": failure.check,
        "message": failure.message,
        "reproduce": reproduce,
        "case": failure.case,
    }


def save_case(folder: Path, name: str, content: dict[str, Any]) -> Path:
    """Write a case file into ``folder`` under a file-system-safe version of ``name``."""
    path = folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") + ".json")
    write_atomic(path, dumps_case(content))
    return path


def load_case(path: Path) -> dict[str, Any]:
    """Read a case file; `DiagnosticsError` naming the file and what is wrong.

    Nothing in it is trusted: the case must load (`case_from_data`) and its targets must be
    valid for its problem, as every case the contract or the guard saves is.
    """
    try:
        content = json.loads(path.read_bytes())
    except OSError as error:
        raise DiagnosticsError(f"{path}: cannot read the case file: {error.strerror}") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an int too long
        raise DiagnosticsError(f"{path}: not a readable case file: {error}") from None
    except RecursionError:
        raise DiagnosticsError(f"{path}: not a readable case file, nested too deeply") from None
    if not isinstance(content, dict):
        raise DiagnosticsError(f"{path}: not a case file, the top level is not an object")
    for key in ("assigner", "case"):
        if key not in content:
            raise DiagnosticsError(f"{path}: not a case file, no {key!r}")
    if not isinstance(content["assigner"], str):
        raise DiagnosticsError(
            f"{path}: 'assigner' must be a 'module.path:factory' string, "
            f"got {content['assigner']!r}"
        )
    if not isinstance(content.get("strict", False), bool):
        raise DiagnosticsError(f"{path}: 'strict' must be true or false, got {content['strict']!r}")
    if content.get("reference") not in (None, "yolov5", "strict"):
        raise DiagnosticsError(
            f'{path}: \'reference\' must be "yolov5", "strict" or null, '
            f"got {content['reference']!r}"
        )
    try:
        _, _, case = case_from_data(content["case"])
        validate_targets(case["problem"], case["targets"])
    except ValueError as error:
        raise DiagnosticsError(f"{path}: the case does not load: {error}") from None
    return content
