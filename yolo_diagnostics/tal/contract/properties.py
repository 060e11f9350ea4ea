"""The TAL contract's properties: each draws a case and judges an assigner's outputs on it.

The same `Property` records and Hypothesis runner as the anchor family's contract
(`yolo_diagnostics.harness`); what differs is what is drawn (`yolo_diagnostics.tal.strategies`,
`yolo_diagnostics.tal.scale`) and judged:

- ``invariants``: every single-call check of `yolo_diagnostics.tal.invariants`;
- ``reference``: the output against the reference (`compare`: decisions may differ only
  where the reference's own decision was a tie);
- ``scale``: both, on training-scale batches (16 to 64 images, 8 400 to 34 000 anchor
  points, up to 300 GT rows per image where the batch allows it);
- ``batch``, ``permutation``, ``padding``, ``dtype``, ``device``: several calls compared
  (`multi`).

A crash fails with the check ``crash``, except ultralytics' own (`base.call`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from ...harness.property import ContractFailure, Property
from ..compare import compare
from ..invariants import check
from ..problem import TalProblem
from ..scale import large_tal_cases, large_tal_problems
from ..strategies import tal_edge_kinds
from ..violations import TalViolation
from .base import (
    TalContractOptions,
    call,
    cpu_batch,
    guarded,
    judge,
    reference_assign,
    small_cases,
)
from .cases import Case, batch_of, case_of
from .multi import (
    batch_property,
    device_property,
    dtype_property,
    padded_cases,
    padding_property,
    permutation_property,
    permuted_cases,
)

__all__ = ["PROPERTIES", "SCALE_EXAMPLES", "TalContractOptions"]

_PAIRS = 16 * 300 * 8_400
"""The most (image, GT row, anchor) pairs of a scale example: 16 images of 640 px with 300 GT
rows each. Every assigner materialises ``[b, n, na]`` tensors (ultralytics keeps about 14
bytes per pair alive, the reference 5), so larger batches get fewer rows per image."""

_SCORES = 16 * 8_400 * 80
"""The most ``pd_scores`` values of a scale example (80 classes at 16 x 640 px, 43 MB)."""


@st.composite
def _large(draw: st.DrawFn, options: TalContractOptions) -> Case:
    """16 to 64 images of 640 to 1 280 px (8 400 to 34 000 anchor points), with up to 300 GT
    rows per image where the pair budget allows it (300 at 16 x 640 px, 18 at 64 x 1 280 px)
    and as many classes as the score budget allows."""
    problem = replace(draw(large_tal_problems()), stal=True, stal_threshold=None)  # 8.4's floor
    b, na = problem.batch_size, problem.num_anchors
    problem = replace(problem, num_classes=max(1, min(problem.num_classes, _SCORES // (b * na))))
    per_image = max(1, min(300, _PAIRS // (b * na)))
    drawn = large_tal_cases(problem=problem, max_gt_per_image=per_image, max_gt=b * per_image)
    return case_of(*draw(drawn))


def _kinds(case: Case) -> set[str]:
    return tal_edge_kinds(case["problem"], batch_of(case))


def _invariants(options: TalContractOptions, device: str, case: Case) -> list[TalViolation]:
    problem, batch = case["problem"], batch_of(case)
    output = call(options, device, problem, batch)
    return judge(check(problem, batch, output, strict=options.strict))


def _reference(options: TalContractOptions, device: str, case: Case) -> list:
    problem, batch = case["problem"], batch_of(case)
    assert options.reference is not None
    output = call(options, device, problem, batch)
    if not _has_reference(problem, options.reference):
        return []
    d = compare(reference_assign(problem, batch, options.reference), output)
    if not d.equal:
        raise ContractFailure(
            "reference", f"differs from the {options.reference} reference: {d.summary()}"
        )
    return []


def _scale(options: TalContractOptions, device: str, case: Case) -> list[TalViolation]:
    problem, batch = case["problem"], batch_of(case)
    size = (
        f"{problem.batch_size} images x {problem.num_anchors} anchors, "
        f"{batch.gt_bboxes.shape[1]} GT rows"
    )
    output = call(options, device, problem, batch)
    batch = cpu_batch(batch)
    found = check(problem, batch, output, strict=options.strict)
    for v in found:
        if v.fails:
            raise ContractFailure("scale", f"{size}: {v.check}: {v}")
    if options.reference is not None and _has_reference(problem, options.reference):
        d = compare(reference_assign(problem, batch, options.reference), output)
        if not d.equal:
            raise ContractFailure(
                "scale", f"{size}: differs from the {options.reference} reference: {d.summary()}"
            )
    return [v for v in found if v.severity in ("quirk", "info")]


def _has_reference(problem: TalProblem, semantics: str) -> bool:
    """Whether the reference answers: ultralytics itself raises on fewer anchor points than
    topk, so an assigner that does not has nothing to be compared with there."""
    return not (semantics == "ultralytics" and problem.too_few_anchors)


def _no_second_device(options: TalContractOptions, device: str) -> str | None:
    if device == "cpu":
        return "compares a non-CPU device with the CPU; request one with --device cuda"
    return None


SCALE_EXAMPLES = 3
"""Examples `test_scale` spends (a hundredth of a profile's, if more): each up to 40 M
(image, GT, anchor) pairs and seconds of work, so a few."""


def _a_third(max_examples: int) -> int:
    """A TAL example is a batch of up to 4 images and 12 GT rows, judged with the reference's
    tie structure: several times an anchor example's work, so a third of the profile's
    examples (50 in ``ci``, 1 000 in ``thorough``)."""
    return max(10, max_examples // 3)


def _tal(id: str, check_id: str, meaning: str, draw, run, **kw: Any) -> Property:
    kw.setdefault("examples", _a_third)
    return Property(id, check_id, meaning, draw, guarded(run), kinds=_kinds, **kw)


PROPERTIES: dict[str, Property] = {
    p.id: p
    for p in (
        _tal(
            "invariants",
            "invariants",
            "every single-call invariant holds",
            small_cases,
            _invariants,
        ),
        _tal(
            "reference",
            "reference",
            "the output equals the reference's, ties aside",
            small_cases,
            _reference,
            skip=lambda o, d: None if o.reference else "--reference-semantics none",
        ),
        _tal(
            "scale",
            "scale",
            "the invariants and the reference hold on training-scale batches",
            _large,
            _scale,
            examples=lambda n: min(n, max(SCALE_EXAMPLES, n // 100)),
        ),
        _tal(
            "batch",
            "batch",
            "an image alone gives the batch's outputs for it",
            small_cases,
            batch_property,
        ),
        _tal(
            "permutation",
            "permutation",
            "permuting GT rows renumbers the owners, ties aside",
            permuted_cases,
            permutation_property,
        ),
        _tal(
            "padding",
            "padding",
            "padding rows after the GTs change nothing",
            padded_cases,
            padding_property,
        ),
        _tal(
            "dtype",
            "dtype",
            "float16 inputs: the decisions they flip (info)",
            small_cases,
            dtype_property,
        ),
        _tal(
            "device",
            "device",
            "every requested device agrees with the CPU, ties aside",
            small_cases,
            device_property,
            skip=_no_second_device,
        ),
    )
}
