"""The TAL contract: property-based checks any task-aligned assigner must pass.

Run it as a test suite against your own assigner::

    pytest --pyargs yolo_diagnostics.tal.contract --assigner mypkg.loss:make_tal_assigner

or from Python with `check_tal_assigner`. The factory is ``factory(problem, device) ->
assign`` with ``assign(pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt)``
returning ``TaskAlignedAssigner.forward``'s five outputs (`yolo_diagnostics.tal`).
"""

from .properties import PROPERTIES, TalContractOptions
from .runner import check_tal_assigner

__all__ = ["PROPERTIES", "TalContractOptions", "check_tal_assigner"]
