"""Golden snapshots: an assigner's assignment of a fixed corpus, in a diffable text file.

A team records the snapshot of its loss code once (``yolo-diagnostics snapshot``) and runs
the contract with ``--golden FILE`` on every change: any changed row fails, with the diff
drawn. The file is plain text: one ``case`` line (name, problem and targets as JSON), then
one line per assigned row, sorted, floats written exactly (the shortest decimal that reads
back as the same float32, ``float.hex`` for anything else), so that a
``git diff`` of two snapshots shows which rows moved.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .assigners import Factory
from .assignment import Assignment
from .corpus import corpus, problems
from .data import letterbox
from .errors import DiagnosticsError, NotApplicable
from .files import write_atomic
from .invariants import shape_violations
from .problem import Problem
from .rules import DEFAULT_RULE
from .validate import validate_targets

FORMAT = "yolo-diagnostics snapshot 1"


@dataclass(frozen=True)
class SnapshotCase:
    """One case of a snapshot: the problem, its targets and the recorded rows."""

    name: str
    problem: Problem
    targets: Tensor
    rows: tuple[str, ...]


def snapshot_corpus(rule: str = DEFAULT_RULE) -> list[tuple[str, Problem, Tensor]]:
    """The fixed, seeded corpus under ``rule``: the built-in edge-case corpus and the boxes of
    the fixture photo (the sample dataset's ``grace_hopper.jpg``, 512 x 600 px) letterboxed to
    two network inputs."""
    cases = [(c.name, c.problem, c.targets) for c in corpus(seed=0, rule=rule)]
    h0, w0 = 600, 512
    boxes = torch.tensor(  # person, tie: centre and size in raw pixels
        [
            [0, 0, 255 / w0, 310 / h0, 430 / w0, 580 / h0],
            [0, 27, 252 / w0, 470 / h0, 75 / w0, 180 / h0],
        ]
    )
    raw = np.zeros((h0, w0, 3), np.uint8)  # the geometry alone decides the targets
    for size in ((320, 640), (640, 640)):
        problem = dataclasses.replace(problems(rule)["yolov5-p5-640"], img_size=size)
        cases.append(
            (f"fixture-photo-{size[0]}x{size[1]}", problem, letterbox(raw, size).targets(boxes))
        )
    return cases


def _num(v: float) -> str:
    """Exactly: the shortest decimal that reads back as the same float32, else float.hex."""
    single = np.float32(v)
    if float(single) == v:
        return np.format_float_positional(single, unique=True, trim="-")
    return float(v).hex()


def _value(text: str) -> float:
    return float.fromhex(text) if "0x" in text else float(np.float32(text))


def rows_of(table: Assignment) -> tuple[str, ...]:
    """Rows as sorted text lines: level image anchor gj gi cls, then tbox and anch exactly."""
    lines = []
    for key, values in zip(table.key.tolist(), table.values.tolist()):
        lines.append(" ".join([*map(str, key), *map(_num, values)]))
    return tuple(sorted(lines))


def record(
    factory: Factory, device: torch.device | str = "cpu", rule: str = DEFAULT_RULE
) -> list[SnapshotCase]:
    """Run the assigner on every case of `snapshot_corpus` that it does not declare
    `NotApplicable` (those are left out).

    Raises `DiagnosticsError` naming the case when the assigner raises or returns something
    other than build_targets' ``(tcls, tbox, indices, anch)``: a snapshot holds only rows.
    """
    device = torch.device(device)
    out = []
    for name, problem, targets in snapshot_corpus(rule):
        targets = targets.to(device)
        try:
            output = factory(problem, device)(problem.feature_maps(device), targets)
        except NotApplicable:
            continue
        except Exception as error:  # the assigner may fail in any way: one line naming the case
            detail = " ".join(f"{type(error).__name__}: {error}".split())
            raise DiagnosticsError(f"case {name!r}: the assigner raised {detail}") from error
        shapes = shape_violations(problem, targets, output)
        if shapes:
            raise DiagnosticsError(f"case {name!r}: {shapes[0]}")
        out.append(SnapshotCase(name, problem, targets, rows_of(Assignment.from_yolov5(output))))
    return out


def write(path: Path, assigner: str, cases: list[SnapshotCase]) -> None:
    lines = [f"# {FORMAT}", f"# assigner {assigner}"]
    for case in cases:
        head = {
            "name": case.name,
            "problem": dataclasses.asdict(case.problem),
            "targets": [[_num(v) for v in row] for row in case.targets.tolist()],
        }
        lines.append("case " + json.dumps(head, separators=(",", ":")))
        lines += case.rows
    write_atomic(path, "\n".join(lines) + "\n")


def read(path: Path) -> list[SnapshotCase]:
    """Parse a snapshot file; `DiagnosticsError` naming the file and line on anything
    unexpected: another format or version, a file cut short (`write` ends every line with a
    line break), a case line that is not a case, a row that does not parse."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DiagnosticsError(f"{path}: cannot read the snapshot: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise DiagnosticsError(f"{path}: not a snapshot, not UTF-8 text: {error}") from None
    text = raw.splitlines()
    if not text or text[0] != f"# {FORMAT}":
        raise DiagnosticsError(f"{path}:1: not a snapshot (expected '# {FORMAT}')")
    if not raw.endswith("\n"):
        raise DiagnosticsError(
            f"{path}:{len(text)}: the file is cut short, its last line has no end"
        )
    cases: list[SnapshotCase] = []
    head: tuple[str, object] | None = None  # where the current case line is, and its JSON
    rows: list[str] = []
    for number, line in enumerate(text[1:], start=2):
        if line.startswith("#"):
            continue
        if line.startswith("case "):
            if head is not None:
                cases.append(_case(*head, rows))
            try:
                head, rows = (f"{path}:{number}", json.loads(line[5:])), []
            except ValueError as error:  # JSONDecodeError, an int too long
                raise DiagnosticsError(f"{path}:{number}: bad case line: {error}") from None
        elif head is None or not _is_row(line):
            raise DiagnosticsError(
                f"{path}:{number}: expected a case line or a row of 12 fields "
                "(level image anchor gj gi cls, then 6 numbers)"
            )
        else:
            rows.append(line)
    if head is not None:
        cases.append(_case(*head, rows))
    return cases


def _is_row(line: str) -> bool:
    """A recorded row: 6 integers, then 6 numbers as `_num` writes them."""
    fields = line.split()
    if len(fields) != 12:
        return False
    try:
        [int(v) for v in fields[:6]] + [_value(v) for v in fields[6:]]
    except ValueError:
        return False
    return True


def _case(where: str, head: object, rows: list[str]) -> SnapshotCase:
    """A case line's JSON (`write`'s ``head``) and its rows; ``where`` is its file and line."""
    if not isinstance(head, dict) or not {"name", "problem", "targets"} <= head.keys():
        raise DiagnosticsError(f"{where}: bad case line: expected name, problem and targets")
    written = head["targets"]
    if not isinstance(head["name"], str) or not (
        isinstance(written, list)
        and all(
            isinstance(r, list) and len(r) == 6 and all(isinstance(v, str) for v in r)
            for r in written
        )
    ):
        raise DiagnosticsError(
            f"{where}: bad case line: expected a name and targets as rows of 6 numbers in text"
        )
    try:
        problem = Problem(**head["problem"])
        values = [[_value(v) for v in row] for row in written]
        targets = torch.tensor(values, dtype=torch.float32).reshape(-1, 6)
        validate_targets(problem, targets)
    except (TypeError, ValueError) as error:  # ValueError: DiagnosticsError too
        raise DiagnosticsError(f"{where}: bad case line: {error}") from None
    return SnapshotCase(head["name"], problem, targets, tuple(rows))


def table_of(rows: tuple[str, ...], num_levels: int) -> Assignment:
    """Recorded rows back as a table (provenance unknown)."""
    ints = torch.tensor([[int(v) for v in r.split()[:6]] for r in rows], dtype=torch.long)
    floats = torch.tensor([[_value(v) for v in r.split()[6:]] for r in rows], dtype=torch.float64)
    ints, floats = ints.reshape(-1, 6), floats.reshape(-1, 6)
    unknown = torch.full((len(rows),), -1, dtype=torch.long)
    return Assignment(
        *ints.T,
        tbox=floats[:, :4],
        anch=floats[:, 4:],
        target=unknown,
        offset=unknown.clone(),
        num_levels=num_levels,
    )
