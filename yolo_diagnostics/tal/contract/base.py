"""What every TAL contract property shares: the options, calling the assigner, judging.

A crash of the assigner fails with the check ``crash``, except where ultralytics itself
crashes -- fewer anchor points than ``topk`` (or a running ``topk2``) -- which is the quirk
``few-anchors`` (an error under ``--strict``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st

from ...errors import NotApplicable
from ...harness.property import ContractFailure
from ..assignment import TalAssignment, TalOutput
from ..corpus import TalBatch
from ..problem import TalProblem
from ..reference import assign
from ..strategies import tal_batches, tal_problems
from ..violations import TalViolation
from .cases import Case, case_of


@dataclass(frozen=True)
class TalContractOptions:
    """What the TAL contract runs against: an assigner and how strictly to judge it."""

    factory: Callable[[TalProblem, torch.device], Callable[..., TalOutput]]
    assigner: str = "yolo_diagnostics.tal.reference:make_assigner"
    devices: tuple[str, ...] = ("cpu",)
    strict: bool = False
    reference: str | None = "ultralytics"


class Declined(Exception):
    """ultralytics' own crash on fewer anchor points than topk, taken as a quirk."""

    def __init__(self, violation: TalViolation) -> None:
        super().__init__(str(violation))
        self.violation = violation


def call(options: TalContractOptions, device: str, problem: TalProblem, batch: TalBatch) -> Any:
    """The assigner's output on ``device``, moved to the CPU; a crash fails the contract
    (`NotApplicable` passes through). Where ultralytics itself raises a crash is `Declined`."""
    dev = torch.device(device)
    try:
        output = options.factory(problem, dev)(*(t.to(dev) for t in batch))
    except NotApplicable:
        raise
    except Exception as error:  # the assigner under test may fail in any way
        what = f"the assigner raised {type(error).__name__}: {error}"
        if problem.too_few_anchors and not options.strict:
            raise Declined(
                TalViolation(
                    "few-anchors",
                    "quirk",
                    f"{problem.num_anchors} anchor points, fewer than topk {problem.topk} "
                    f"(topk2 {problem.topk2}): {what}",
                )
            ) from error
        raise ContractFailure("crash", what) from error
    return on_cpu(output)


def on_cpu(output: Any) -> Any:
    """The outputs on the CPU (what is not a tuple of tensors is left for the checks)."""
    if isinstance(output, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in output):
        return tuple(t.cpu() for t in output)
    return output


def cpu_batch(batch: TalBatch) -> TalBatch:
    return TalBatch(*(t.cpu() for t in batch))


def judge(found: list[TalViolation]) -> list[TalViolation]:
    """Raise on the first failing finding; return the quirks and infos (to be warned about)."""
    for v in found:
        if v.fails:
            raise ContractFailure(v.check, str(v))
    return [v for v in found if v.severity in ("quirk", "info")]


def guarded(run: Callable[[TalContractOptions, str, Case], list]) -> Callable:
    """A property run that reports ultralytics' own few-anchors crash as its quirk."""

    def run_guarded(options: TalContractOptions, device: str, case: Case) -> list:
        try:
            return run(options, device, case)
        except Declined as declined:
            return [declined.violation]

    run_guarded.__doc__ = run.__doc__
    return run_guarded


def reference_of(
    options: TalContractOptions, problem: TalProblem, batch: TalBatch
) -> TalAssignment:
    """The reference's answer (its tie structure) in the options' semantics, or ultralytics'
    when the contract runs without a reference diff."""
    semantics = options.reference or "ultralytics"
    if problem.too_few_anchors:  # ultralytics has no answer there: the strict one's ties
        semantics = "strict"
    return reference_assign(problem, batch, semantics)


def reference_assign(problem: TalProblem, batch: TalBatch, semantics: str) -> TalAssignment:
    """The reference's answer, with provenance, for a batch of the six inputs (on the CPU)."""
    b = cpu_batch(batch)
    return assign(
        problem,
        b.pd_scores,
        b.pd_bboxes,
        b.gt_labels,
        b.gt_bboxes,
        b.mask_gt,
        anc_points=b.anc_points,
        semantics=semantics,  # type: ignore[arg-type]
    )


def small_cases(options: TalContractOptions) -> st.SearchStrategy[Case]:
    """Small, edge-biased problems and batches (`strategies`), with ultralytics 8.4's
    small-box floor: the one every TAL assigner trained today has (the floor's other
    versions are the reference's and the mutation catalog's to test)."""
    problems = tal_problems(stal=True, stal_threshold=None)
    return problems.flatmap(lambda p: tal_batches(p).map(lambda b: case_of(p, b)))
