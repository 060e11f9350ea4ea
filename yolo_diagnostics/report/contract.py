"""What a failing contract case leaves behind: a JSON case file, an overlay, a diff table.

The case file replays without pytest (`yolo-diagnostics show CASE.json`); the overlay and
the table are what the pytest-html report shows on the failing row. HTML comes from Jinja2
templates with autoescaping, never from string concatenation.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import torch
from torch import Tensor

from ..assignment import Assignment, Diff, diff
from ..contract.cases import case_from_data
from ..contract.properties import ContractOptions, call
from ..errors import DiagnosticsError
from ..files import write_atomic
from ..harness.cases import dumps_case
from ..harness.property import ContractFailure
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
    """The failing case judged again: the PNG and what was drawn on it, and a close-up of
    the offending cells (``None`` when there are none, or the whole input is no larger)."""

    png: bytes
    violations: tuple[Violation, ...]
    diff: Diff | None
    closeup: Closeup | None = None


@dataclass(frozen=True)
class Closeup:
    """A readable close-up: the PNG, and which region of which image it enlarges."""

    png: bytes
    image: int
    region: tuple[int, int, int, int]  # x0, y0, x1, y1 in network pixels


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
    return Overlay(
        png, violations, found, _closeup(problem, targets, table, violations, found, image)
    )


def _closeup(
    problem: Problem,
    targets: Tensor,
    table: Assignment,
    violations: tuple[Violation, ...],
    found: Diff | None,
    image: int,
) -> Closeup | None:
    """The offending cells of ``image`` (failing rows, then missing and extra ones) drawn
    large: around all of them when they lie close together, else around the first."""
    from ..render.closeup import cell_boxes, closeup_region, render_closeup

    # in the violations' order, without repeats: the first box is the first failing row
    failing = list(dict.fromkeys(r for v in violations for r in v.rows if 0 <= r < len(table)))
    parts = [table.select(torch.tensor(failing, dtype=torch.long))]
    if found is not None:
        parts += [found.missing, found.extra]
    boxes = np.concatenate(
        [cell_boxes(problem, part.select(part.image == image)) for part in parts]
    )
    if not len(boxes):
        return None
    region = closeup_region(problem, boxes) or closeup_region(problem, boxes[:1])
    if region is None:
        return None
    png = render_closeup(
        problem, targets, table, region, violations=violations, diff=found, image_index=image
    )
    return Closeup(png, image, region)


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
    """The failing check, a close-up of the offending cells shown at its own size (legible
    in the row, no click), the full overlay one click away (a ``<details>`` element), and the
    diff table (expected vs actual rows), as escaped HTML. Images are inline PNG data URIs, so
    the row needs no asset file and no script."""
    d = found.diff
    tables = []
    if d is not None:
        tables = [
            ("expected, missing from the output", d.missing.records()),
            ("in the output, not expected", d.extra.records()),
        ]
    case = failure.case or {}
    closeup = found.closeup
    return _TEMPLATES.get_template("failure.html.j2").render(
        overlay=_picture(found.png),
        closeup=None if closeup is None else _picture(closeup.png),
        closeup_image=None if closeup is None else closeup.image,
        closeup_region=None if closeup is None else closeup.region,
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


def _picture(png: bytes) -> dict[str, Any]:
    """An image for the template: its data URI and its size in pixels (from the PNG header:
    the signature, then the IHDR chunk's width and height)."""
    width, height = struct.unpack(">II", png[16:24])
    return {
        "src": "data:image/png;base64," + base64.b64encode(png).decode(),
        "w": width,
        "h": height,
    }


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
    tal = isinstance(content["case"], dict) and content["case"].get("family") == "tal"
    semantics = ("ultralytics", "strict") if tal else ("yolov5", "strict")
    if content.get("reference") not in (None, *semantics):
        raise DiagnosticsError(
            f'{path}: \'reference\' must be "{semantics[0]}", "strict" or null, '
            f"got {content['reference']!r}"
        )
    try:
        if tal:  # validated as it loads: the six inputs against the problem
            from ..tal.contract.cases import case_from_data as tal_case_from_data

            tal_case_from_data(content["case"])
        else:
            _, _, case = case_from_data(content["case"])
            validate_targets(case["problem"], case["targets"])
    except ValueError as error:
        raise DiagnosticsError(f"{path}: the case does not load: {error}") from None
    return content
