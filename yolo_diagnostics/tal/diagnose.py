"""``yolo-diagnostics check --family tal``: a TAL assigner over a fixed corpus, judged.

The corpus is seeded and the same every run (`corpus`): for each of five problems -- the
ultralytics preset at 320 px, P6 at 256 x 384, YOLO26's one-to-one head, TOOD's knobs, and
an input so small that it has fewer anchor points than ``topk`` -- one batch of every kind of
`yolo_diagnostics.tal.corpus.make_batch` (random, near the GT, identical predictions, zero
scores, boxes near the floor's sides, edges through anchor centres, boxes larger than the
input), one with interleaved padding and empty images, and one with no GT rows at all. Each
case runs the assigner, every single-call invariant and the tie-aware diff with the
reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..errors import NotApplicable
from .compare import compare
from .contract.base import reference_assign
from .corpus import KINDS, TalBatch, make_batch
from .invariants import TalViolation, check
from .problem import TalProblem


@dataclass(frozen=True)
class TalCase:
    """One problem and its six inputs (float32, CPU)."""

    name: str
    problem: TalProblem
    batch: TalBatch


def problems() -> dict[str, TalProblem]:
    """The corpus's problems: small inputs, so that every case runs in milliseconds."""
    return {
        "ultralytics-320": TalProblem.preset(
            "ultralytics", img_size=(320, 320), batch_size=2, num_classes=8
        ),
        "ultralytics-p6-256x384": TalProblem.preset(
            "ultralytics-p6", img_size=(256, 384), batch_size=2, num_classes=4
        ),
        "one2one-192": TalProblem.preset(
            "one2one", img_size=(192, 192), batch_size=2, num_classes=3
        ),
        "tood-160x256": TalProblem.preset("tood", img_size=(160, 256), batch_size=2, num_classes=5),
        # 4 + 1 anchor points at strides 8 and 16: fewer than topk = 10
        "few-anchors-16": TalProblem.preset(
            "ultralytics", img_size=(16, 16), strides=(8, 16), batch_size=1, num_classes=2
        ),
    }


def corpus(seed: int = 0) -> list[TalCase]:
    """Every problem with a batch of each kind, interleaved padding, and no GT rows."""
    cases = []
    for name, problem in problems().items():
        for k, kind in enumerate(KINDS):
            batch = make_batch(problem, seed=seed * 1000 + k, kind=kind, n=6)
            cases.append(TalCase(f"{name}/{kind}", problem, batch))
        padded = make_batch(
            problem, seed=seed * 1000 + 97, n=8, padding="interleaved", empty_images=1
        )
        cases.append(TalCase(f"{name}/interleaved-padding", problem, padded))
        cases.append(TalCase(f"{name}/no-gt", problem, make_batch(problem, seed=seed, n=0)))
    return cases


@dataclass(frozen=True)
class TalCaseResult:
    """What one case gave: GT rows and positives, violations, a crash, or why the assigner
    declared the case not applicable."""

    case: str
    gts: int
    positives: int
    violations: tuple[TalViolation, ...]
    crash: str | None = None
    not_applicable: str | None = None

    @property
    def failed(self) -> bool:
        return self.crash is not None or any(v.fails for v in self.violations)

    def as_dict(self) -> dict[str, object]:
        return {
            "case": self.case,
            "gts": self.gts,
            "positives": self.positives,
            "violations": [
                {"check": v.check, "severity": v.severity, "message": v.message}
                for v in self.violations
            ],
            "crash": self.crash,
            "not_applicable": self.not_applicable,
            "failed": self.failed,
        }


def run_case(
    factory: Callable,
    case: TalCase,
    device: torch.device,
    *,
    reference: str | None = "ultralytics",
    strict: bool = False,
) -> TalCaseResult:
    """Run the assigner on the case on ``device`` and judge its output."""
    problem, batch = case.problem, TalBatch(*(t.to(device) for t in case.batch))
    gts = int(batch.mask_gt.sum())
    try:
        output = factory(problem, device)(*batch)
    except NotApplicable as declared:
        return TalCaseResult(case.name, gts, 0, (), not_applicable=str(declared))
    except Exception as error:  # the assigner under test may fail in any way: report it
        what = f"{type(error).__name__}: {error}"
        if problem.too_few_anchors and not strict:  # ultralytics' own crash
            quirk = TalViolation(
                "few-anchors",
                "quirk",
                f"{problem.num_anchors} anchor points, fewer than topk {problem.topk}: {what}",
            )
            return TalCaseResult(case.name, gts, 0, (quirk,))
        return TalCaseResult(case.name, gts, 0, (), crash=what)
    if isinstance(output, (tuple, list)):
        output = tuple(t.cpu() if isinstance(t, torch.Tensor) else t for t in output)
    cpu = TalBatch(*(t.cpu() for t in batch))
    violations = check(problem, cpu, output, strict=strict)
    if reference is not None and not any(v.check == "shapes" for v in violations):
        d = compare(reference_assign(problem, cpu, reference), output)
        if not d.equal:
            message = f"against the {reference} reference: {d.summary()}"
            violations.append(TalViolation("reference", "error", message))
    positives = int(output[3].sum()) if not any(v.check == "shapes" for v in violations) else 0
    return TalCaseResult(case.name, gts, positives, tuple(violations))


def run_corpus(
    factory: Callable,
    cases: Sequence[TalCase],
    device: torch.device,
    *,
    reference: str | None = "ultralytics",
    strict: bool = False,
) -> list[TalCaseResult]:
    return [run_case(factory, c, device, reference=reference, strict=strict) for c in cases]
