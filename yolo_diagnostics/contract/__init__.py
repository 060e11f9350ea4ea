"""The contract: property-based checks any ``build_targets`` must pass.

Run it as a test suite against your own assigner::

    pytest --pyargs yolo_diagnostics.contract --assigner mypkg.loss:make_assigner

or from Python with `check_assigner`.
"""

from .properties import PROPERTIES, ContractFailure, ContractOptions
from .runner import ContractResult, Failure, QuirkWarning, check_assigner, replay

__all__ = [
    "PROPERTIES",
    "ContractFailure",
    "ContractOptions",
    "ContractResult",
    "Failure",
    "QuirkWarning",
    "check_assigner",
    "replay",
]
