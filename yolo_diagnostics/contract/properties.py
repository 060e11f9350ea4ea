"""The contract's properties: each draws a case and judges an assigner's outputs on it.

A property returns the quirk findings it saw (reported as warnings) and raises
`ContractFailure` for a failing one. Properties that compare several calls carry the
``equivariance``, ``reference`` or ``device`` id of the invariants table; the single-call
checks run under ``invariants``, and again under ``scale`` (with the reference) on a few
training-scale batches. A crash of the assigner fails with the id ``crash``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from ..assigners import Factory
from ..assignment import Assignment, YoloV5Output, diff
from ..errors import NotApplicable
from ..harness.property import Case, ContractFailure, Property
from ..invariants import Violation, check, shape_violations
from ..problem import Problem
from ..reference import Semantics, assign
from ..rules import DEFAULT_RULE
from ..scale import large_cases
from ..strategies import edge_kinds, problems, targets
from .cases import case_to_data
from .reduce import reduce_rows


@dataclass(frozen=True)
class ContractOptions:
    """What the contract runs against: an assigner and how strictly to judge it."""

    factory: Factory
    assigner: str = "yolo_diagnostics.reference:make_assigner"
    devices: tuple[str, ...] = ("cpu",)
    strict: bool = False
    reference: Semantics | None = "yolov5"
    rule: str = DEFAULT_RULE
    """The neighbour rule the assigner implements: every problem is drawn under it."""


def call(options: ContractOptions, device: str, problem: Problem, t: Tensor) -> YoloV5Output:
    """The assigner's output on ``device``; a crash fails the contract. `NotApplicable`, the
    assigner's declaration that it does not implement the problem, passes through."""
    dev = torch.device(device)
    try:
        return options.factory(problem, dev)(problem.feature_maps(dev), t.to(dev))
    except NotApplicable:
        raise
    except Exception as error:  # the assigner under test may fail in any way
        raise ContractFailure(
            "crash", f"the assigner raised {type(error).__name__}: {error}"
        ) from error


def build(options: ContractOptions, device: str, problem: Problem, t: Tensor) -> Assignment:
    """The assigner's output as a CPU table; a malformed output fails the contract."""
    output = call(options, device, problem, t)
    shapes = shape_violations(problem, t, output)
    if shapes:
        raise ContractFailure("shapes", str(shapes[0]))
    return Assignment.from_yolov5(output).to("cpu")


def _judge(options: ContractOptions, found: list[Violation]) -> list[Violation]:
    """Raise on the first failing finding; return the quirks (to be warned about)."""
    for v in found:
        if v.fails:
            raise ContractFailure(v.check, str(v))
    return [v for v in found if v.severity == "quirk"]


def _same(
    check_id: str, what: str, expected: Assignment, actual: Assignment, shown: Tensor
) -> None:
    """Fail unless the tables are equal as multisets; ``shown`` are the targets ``actual``
    was assigned from."""
    d = diff(expected, actual)
    if not d.equal:
        raise ContractFailure(check_id, f"{what}: {d.summary()}", d, shown)


# --------------------------------------------------------------------------- cases
def _plain(options: ContractOptions) -> st.SearchStrategy[Case]:
    return problems(rule=options.rule).flatmap(
        lambda p: targets(p).map(lambda t: {"problem": p, "targets": t})
    )


def _exact(options: ContractOptions) -> st.SearchStrategy[Case]:
    return problems(exact=True, rule=options.rule).flatmap(
        lambda p: targets(p, exact=True).map(lambda t: {"problem": p, "targets": t})
    )


def _large(options: ContractOptions) -> st.SearchStrategy[Case]:
    return large_cases(rule=options.rule).map(lambda case: {"problem": case[0], "targets": case[1]})


@st.composite
def _permuted(draw: st.DrawFn, options: ContractOptions) -> Case:
    case = draw(_plain(options))
    case["permutation"] = draw(st.permutations(range(len(case["targets"]))))
    return case


@st.composite
def _split_batch(draw: st.DrawFn, options: ContractOptions) -> Case:
    """Targets of some images, and other images' targets added to them."""
    case = draw(_plain(options))
    problem: Problem = case["problem"]
    case["kept_images"] = sorted(draw(st.sets(st.integers(0, problem.batch_size - 1), min_size=1)))
    return case


@st.composite
def _shifted(draw: st.DrawFn, options: ContractOptions) -> Case:
    case = draw(_exact(options))
    case["shift"] = draw(st.sampled_from([(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1)]))
    return case


@st.composite
def _flipped(draw: st.DrawFn, options: ContractOptions) -> Case:
    case = draw(_exact(options))
    case["axes"] = draw(st.sampled_from([(True, False), (False, True), (True, True)]))
    return case


# --------------------------------------------------------------------------- properties
def _invariants(options: ContractOptions, device: str, case: Case) -> list[Violation]:
    problem, t = case["problem"], case["targets"].to(device)
    output = call(options, device, problem, t)
    return _judge(options, check(problem, t, output, strict=options.strict))


def _reference(options: ContractOptions, device: str, case: Case) -> list[Violation]:
    problem, t = case["problem"], case["targets"]
    assert options.reference is not None
    expected = assign(problem, t, semantics=options.reference)
    _same(
        "reference",
        f"differs from the {options.reference} reference",
        expected,
        build(options, device, problem, t),
        t,
    )
    return []


def _scale(options: ContractOptions, device: str, case: Case) -> list[Violation]:
    """Every single-call invariant, then the reference, on one training-scale batch."""
    problem, t = case["problem"], case["targets"]
    size = f"{len(t)} targets in a batch of {problem.batch_size}"
    output = call(options, device, problem, t.to(device))
    found = check(problem, t.to(device), output, strict=options.strict)
    for v in found:
        if v.fails:
            raise ContractFailure("scale", f"{size}: {v.check}: {v}")
    if options.reference is not None:
        expected = assign(problem, t, semantics=options.reference)
        actual = Assignment.from_yolov5(output).to("cpu")
        _same(
            "scale", f"{size}: differs from the {options.reference} reference", expected, actual, t
        )
    return [v for v in found if v.severity == "quirk"]


SCALE_EXAMPLES = 10
"""Examples `test_scale` spends (a hundredth of a profile's, if more), each up to 10 000
targets: a fixed, small cost."""


def _permutation(options: ContractOptions, device: str, case: Case) -> list[Violation]:
    problem, t = case["problem"], case["targets"]
    perm = torch.tensor(case["permutation"], dtype=torch.long)
    _same(
        "equivariance",
        "permuting the target rows changed the assignment",
        build(options, device, problem, t),
        build(options, device, problem, t[perm]),
        t[perm],
    )
    return []


def _batch(options: ContractOptions, device: str, case: Case) -> list[Violation]:
    problem, t = case["problem"], case["targets"]
    kept = torch.tensor(case["kept_images"])
    mine = torch.isin(t[:, 0].long(), kept)
    alone = build(options, device, problem, t[mine])
    together = build(options, device, problem, t)
    _same(
        "equivariance",
        "adding other images' targets changed this image's assignment",
        alone,
        together.select(torch.isin(together.image, kept)),
        t,
    )
    return []


def _translation(options: ContractOptions, device: str, case: Case) -> list[Violation]:
    """Shift by one coarsest-stride cell; targets near a border are left out (clamps and
    border tests legitimately differ there)."""
    problem, t = case["problem"], case["targets"]
    h, w = problem.img_size
    s = max(problem.strides)
    sx, sy = case["shift"]
    size = torch.tensor([w, h], dtype=torch.float64)
    step = torch.tensor([sx, sy], dtype=torch.float64) * s
    centre = t[:, 2:4].double() * size
    inside = (
        (centre > s) & (centre < size - s) & (centre + step > s) & (centre + step < size - s)
    ).all(1)
    t = t[inside]
    moved = t.clone()
    moved[:, 2:4] = ((centre[inside] + step) / size).float()
    before, after = build(options, device, problem, t), build(options, device, problem, moved)
    cells = torch.tensor([s // stride for stride in problem.strides])[before.level]
    expected = dataclasses.replace(before, gi=before.gi + sx * cells, gj=before.gj + sy * cells)
    _same(
        "equivariance",
        f"shifting every box by ({sx * s}, {sy * s}) px did not shift the "
        "assignment by one coarsest cell",
        expected,
        after,
        moved,
    )
    return []


def _flip(options: ContractOptions, device: str, case: Case) -> list[Violation]:
    """Mirror x and/or y: cells mirror, tbox offsets become 1 - offset.

    A centre on a cell boundary (integer grid coordinate) belongs to the cell on its right
    (below) whichever way the image faces, so such targets are left out on a flipped axis.
    """
    problem, t = case["problem"], case["targets"]
    fx, fy = case["axes"]
    h, w = problem.img_size
    grid = t[:, 2:4].double() * torch.tensor([w, h]) / min(problem.strides)
    tie = (grid % 1 == 0) & torch.tensor([fx, fy])
    t = t[~tie.any(1)]
    flipped = t.clone()
    if fx:
        flipped[:, 2] = 1 - t[:, 2]
    if fy:
        flipped[:, 3] = 1 - t[:, 3]
    before, after = build(options, device, problem, t), build(options, device, problem, flipped)
    ny = torch.tensor([s[0] for s in problem.feature_shapes])[before.level]
    nx = torch.tensor([s[1] for s in problem.feature_shapes])[before.level]
    tbox = before.tbox.clone()
    gi, gj = before.gi, before.gj
    if fx:
        gi, tbox[:, 0] = nx - 1 - gi, 1 - tbox[:, 0]
    if fy:
        gj, tbox[:, 1] = ny - 1 - gj, 1 - tbox[:, 1]
    expected = dataclasses.replace(before, gi=gi, gj=gj, tbox=tbox)
    axes = " and ".join(n for n, f in (("x", fx), ("y", fy)) if f)
    _same(
        "equivariance", f"mirroring {axes} did not mirror the assignment", expected, after, flipped
    )
    return []


def _dtype(options: ContractOptions, device: str, case: Case) -> list[Violation]:
    """float64 copies of float32 targets. The wh ratio ``w * nx / a`` is a division, which
    the two dtypes round differently: a target whose ratio test against anchor_t comes out
    differently in float32 and float64 is left out (both answers are right for their dtype)."""
    problem, t = case["problem"], case["targets"]
    t = t[(_ratio_test(problem, t) == _ratio_test(problem, t.double())).all(1)]
    single, double = build(options, device, problem, t), build(options, device, problem, t.double())
    _same(
        "equivariance",
        "float64 targets (exact copies of float32 ones) changed the assignment",
        single,
        double,
        t.double(),
    )
    return []


def _ratio_test(problem: Problem, t: Tensor) -> Tensor:
    """``Tensor[nt, nl * na]`` bool: YOLOv5's ``max(r, 1 / r) < anchor_t`` in ``t``'s dtype,
    per target, level and anchor."""
    gain = torch.tensor([(nx, ny) for ny, nx in problem.feature_shapes], dtype=torch.float32)
    r = t[None, None, :, 4:6] * gain[:, None, None] / problem.anchors_grid()[:, :, None]
    kept = torch.max(r, 1 / r).amax(-1) < problem.anchor_t  # [nl, na, nt]
    return kept.flatten(0, 1).T


def _device(options: ContractOptions, device: str, case: Case) -> list[Violation]:
    problem, t = case["problem"], case["targets"]
    on_cpu = build(options, "cpu", problem, t)
    _same("device", f"{device} and cpu disagree", on_cpu, build(options, device, problem, t), t)
    return []


def _kinds(case: Case) -> set[str]:
    """The anchor family's edge kinds of a case (`strategies.edge_kinds`)."""
    return edge_kinds(case["problem"], case["targets"])


def _property(*args: Any, **kw: Any) -> Property:
    return Property(*args, kinds=_kinds, **kw)


PROPERTIES: dict[str, Property] = {
    p.id: p
    for p in (
        _property(
            "invariants",
            "invariants",
            "every single-call invariant holds",
            _plain,
            _invariants,
            reduce=reduce_rows,
        ),
        _property(
            "reference",
            "reference",
            "the output equals the reference's as a multiset",
            _plain,
            _reference,
            lambda o, d: None if o.reference else "--reference-semantics none",
            reduce=reduce_rows,
        ),
        _property(
            "scale",
            "scale",
            "every single-call invariant and the reference hold on training-scale batches",
            _large,
            _scale,
            examples=lambda n: min(n, max(SCALE_EXAMPLES, n // 100)),
            reduce=reduce_rows,
        ),
        _property(
            "permutation",
            "equivariance",
            "permuting target rows permutes nothing else",
            _permuted,
            _permutation,
        ),
        _property(
            "batch",
            "equivariance",
            "other images' targets do not change an image's rows",
            _split_batch,
            _batch,
        ),
        _property(
            "translation",
            "equivariance",
            "a shift by one coarsest cell shifts every assigned cell",
            _shifted,
            _translation,
        ),
        _property(
            "flip",
            "equivariance",
            "a mirrored input gives the mirrored assignment",
            _flipped,
            _flip,
        ),
        _property(
            "dtype", "equivariance", "float64 targets give the float32 assignment", _exact, _dtype
        ),
        _property(
            "device",
            "device",
            "every requested device agrees with the CPU",
            _plain,
            _device,
            lambda o, d: (
                None
                if d != "cpu"
                else "compares a non-CPU device with the CPU; request one with --device cuda"
            ),
        ),
    )
}


def check_golden(options: ContractOptions, device: str, cases: list) -> None:
    """Fail on the first snapshot case whose rows differ from what the assigner gives now."""
    from ..snapshot import rows_of, table_of

    for case in cases:
        now = build(options, device, case.problem, case.targets)
        if rows_of(now) == case.rows:
            continue
        try:
            _same(
                "golden",
                f"case {case.name!r} changed since the snapshot",
                table_of(case.rows, case.problem.nl),
                now,
                case.targets,
            )
        except ContractFailure as failure:
            failure.case = case_to_data(
                "golden", device, {"problem": case.problem, "targets": case.targets}
            )
            raise
