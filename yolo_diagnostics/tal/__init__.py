"""The task-aligned assigner (TAL) family: YOLOv8, YOLO11 and YOLO26's target assignment.

- `TalProblem` (``problem``): strides, input size, classes and the assigner's knobs; presets.
- ``reference``: `assign` with provenance, and the assigner factories `make_assigner`
  (ultralytics 8.4.190 semantics, bit-exact) and `make_strict_assigner`.
- `validate_inputs` (``validate``): one `DiagnosticsError` naming the first bad value.
- `compare` (``compare``): a candidate's output against the reference, ties accepted.
- `check` (``invariants``): the checks judged from one call's inputs and outputs alone,
  registered in `TAL_INVARIANTS`; each finding a `TalViolation` (error, quirk or info).
- `tal_problems`, `tal_batches`, `tal_cases` (``strategies``): Hypothesis strategies biased to
  TAL's edges, each drawn from a named kind (``kinds``); `tal_edge_kinds` (``edges``) names
  the edge classes a batch holds (`TAL_EDGE_KINDS`); `large_tal_cases` (``scale``) draws
  training-scale batches that shrink by rows.
- ``geometry`` (candidate test, CIoU), ``ties`` (tie structure), ``assignment`` (result),
  ``sparse`` (group reductions), ``corpus`` (seeded edge-biased batches); the bench against
  ultralytics is ``yolo-diagnostics bench assign --family tal`` (`yolo_diagnostics.bench.tal`).
- ``yolo_diagnostics.adapters.ultralytics:make_assigner``: the package's own assigner.

An assigner factory is ``factory(problem, device) -> assign`` with ``assign(pd_scores,
pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt) -> (target_labels, target_bboxes,
target_scores, fg_mask, target_gt_idx)``, exactly ``TaskAlignedAssigner.forward``'s.
"""

from __future__ import annotations

from .assignment import Candidates, Positives, TalAssignment, TalOutput
from .compare import TalDiff, compare
from .invariants import TAL_INVARIANTS, TalInvariant, TalViolation, check
from .problem import TAL_PRESETS, TalProblem
from .reference import SEMANTICS, assign, make_assigner, make_strict_assigner
from .scale import large_tal_cases, large_tal_problems
from .strategies import TAL_EDGE_KINDS, tal_batches, tal_cases, tal_edge_kinds, tal_problems
from .ties import TieTolerance
from .validate import validate_inputs

__all__ = [
    "SEMANTICS",
    "TAL_EDGE_KINDS",
    "TAL_INVARIANTS",
    "TAL_PRESETS",
    "Candidates",
    "Positives",
    "TalAssignment",
    "TalDiff",
    "TalInvariant",
    "TalOutput",
    "TalProblem",
    "TalViolation",
    "TieTolerance",
    "assign",
    "check",
    "compare",
    "large_tal_cases",
    "large_tal_problems",
    "make_assigner",
    "make_strict_assigner",
    "tal_batches",
    "tal_cases",
    "tal_edge_kinds",
    "tal_problems",
    "validate_inputs",
]
