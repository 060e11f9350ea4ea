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
from .corpus import PROBLEMS, corpus
from .data import letterbox
from .errors import DiagnosticsError
from .files import write_atomic
from .problem import Problem

FORMAT = "yolo-diagnostics snapshot 1"


@dataclass(frozen=True)
class SnapshotCase:
    """One case of a snapshot: the problem, its targets and the recorded rows."""

    name: str
    problem: Problem
    targets: Tensor
    rows: tuple[str, ...]


def snapshot_corpus() -> list[tuple[str, Problem, Tensor]]:
    """The fixed, seeded corpus: the built-in edge-case corpus (its g = 0.5 problems) and the
    boxes of the fixture photo (the sample dataset's ``grace_hopper.jpg``, 512 x 600 px)
    letterboxed to two network inputs."""
    cases = [(c.name, c.problem, c.targets) for c in corpus(seed=0) if c.problem.g == 0.5]
    h0, w0 = 600, 512
    boxes = torch.tensor(  # person, tie: centre and size in raw pixels
        [
            [0, 0, 255 / w0, 310 / h0, 430 / w0, 580 / h0],
            [0, 27, 252 / w0, 470 / h0, 75 / w0, 180 / h0],
        ]
    )
    raw = np.zeros((h0, w0, 3), np.uint8)  # the geometry alone decides the targets
    for size in ((320, 640), (640, 640)):
        problem = dataclasses.replace(PROBLEMS["yolov5-p5-640"], img_size=size)
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


def record(factory: Factory, device: torch.device | str = "cpu") -> list[SnapshotCase]:
    """Run the assigner on every case of `snapshot_corpus`."""
    device = torch.device(device)
    out = []
    for name, problem, targets in snapshot_corpus():
        output = factory(problem, device)(problem.feature_maps(device), targets.to(device))
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
    """Parse a snapshot file; ValueError naming the file and line on anything unexpected."""
    try:
        text = path.read_text().splitlines()
    except OSError as error:
        raise DiagnosticsError(f"{path}: cannot read the snapshot: {error}") from None
    if not text or text[0] != f"# {FORMAT}":
        raise DiagnosticsError(f"{path}:1: not a snapshot (expected '# {FORMAT}')")
    cases: list[SnapshotCase] = []
    head: dict | None = None
    rows: list[str] = []
    for number, line in enumerate(text[1:], start=2):
        if line.startswith("#"):
            continue
        if line.startswith("case "):
            if head is not None:
                cases.append(_case(head, rows))
            try:
                head, rows = json.loads(line[5:]), []
            except json.JSONDecodeError as error:
                raise DiagnosticsError(f"{path}:{number}: bad case line: {error}") from None
        elif head is None or len(line.split()) != 12:
            raise DiagnosticsError(f"{path}:{number}: expected a case line or a row of 12 fields")
        else:
            rows.append(line)
    if head is not None:
        cases.append(_case(head, rows))
    return cases


def _case(head: dict, rows: list[str]) -> SnapshotCase:
    targets = torch.tensor(
        [[_value(v) for v in row] for row in head["targets"]], dtype=torch.float32
    ).reshape(-1, 6)
    return SnapshotCase(head["name"], Problem(**head["problem"]), targets, tuple(rows))


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
