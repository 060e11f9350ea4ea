"""A TAL contract case and its plain-data form, as a JSON case file holds it.

A case is ``{"problem": TalProblem, "pd_scores": ..., ..., "mask_gt": ...}`` plus whatever
its property drew (a permutation, padding rows). `case_to_data` is the anchor family's
(problems as their fields, tensors as ``{"dtype", "data"}``, ``"family": "tal"``);
`case_from_data` here rebuilds and validates a TAL case.
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import DiagnosticsError
from ...harness.cases import case_to_data
from ...harness.property import Case
from ..corpus import TalBatch
from ..problem import TalProblem
from ..validate import INPUTS, validate_inputs

__all__ = ["Case", "batch_of", "case_from_data", "case_of", "case_to_data"]


def case_of(problem: TalProblem, batch: TalBatch, **drawn: Any) -> Case:
    """A case from a problem, its six inputs and what else a property drew."""
    return {"problem": problem, **batch._asdict(), **drawn}


def batch_of(case: Case) -> TalBatch:
    """The six inputs of a case, in ``TaskAlignedAssigner.forward``'s order."""
    return TalBatch(*(case[name] for name in INPUTS))


def case_from_data(data: dict[str, Any]) -> tuple[str, str, Case]:
    """Inverse of `case_to_data` for a TAL case: (property id, device, case).

    Nothing is trusted: the fields must be there, of the right kinds, and the inputs valid
    for the problem (`validate_inputs`). Raises `DiagnosticsError` naming what is wrong.
    """
    if not isinstance(data, dict):
        raise DiagnosticsError(f"the case is not an object, got {type(data).__name__}")
    if data.get("family") != "tal":
        raise DiagnosticsError(f"not a TAL case (family {data.get('family')!r})")
    for key in ("property", "device", "problem", *INPUTS):
        if key not in data:
            raise DiagnosticsError(f"the case has no {key!r}")
    problem = data["problem"]
    if not isinstance(problem, dict):
        raise DiagnosticsError(f"the case's 'problem' must be an object, got {problem!r}")
    try:
        problem = TalProblem(**problem)
    except TypeError as error:  # an unknown or missing field
        raise DiagnosticsError(f"the case's 'problem': {error}") from None
    case: Case = {"problem": problem}
    for key, value in data.items():
        if key in ("property", "device", "problem", "family"):
            continue
        case[key] = _tensor(key, value) if key in INPUTS else value
    validate_inputs(problem, *batch_of(case))
    return str(data["property"]), str(data["device"]), case


def _tensor(name: str, value: object) -> torch.Tensor:
    if not isinstance(value, dict) or not {"dtype", "data"} <= value.keys():
        raise DiagnosticsError(f"the case's {name!r} must be an object with 'dtype' and 'data'")
    dtype = getattr(torch, str(value["dtype"]), None)
    if not isinstance(dtype, torch.dtype):
        raise DiagnosticsError(f"the case's {name}: not a torch dtype: {value['dtype']!r}")
    try:
        return torch.tensor(value["data"], dtype=dtype).reshape(value.get("shape", [-1]))
    except (TypeError, ValueError, OverflowError, RuntimeError) as error:
        raise DiagnosticsError(f"the case's {name}: {error}") from None
