"""A contract case and its plain-data form, which a JSON case file holds and replays from."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import DiagnosticsError
from ..harness.cases import case_to_data, dumps_case
from ..harness.property import Case
from ..problem import Problem

__all__ = ["Case", "case_from_data", "case_to_data", "dumps_case"]


def case_from_data(data: dict[str, Any]) -> tuple[str, str, Case]:
    """Inverse of `case_to_data`: (property id, device, case).

    Raises `DiagnosticsError` naming the field that is missing or malformed.
    """
    if not isinstance(data, dict):
        raise DiagnosticsError(f"the case is not an object, got {type(data).__name__}")
    for key in ("property", "device", "problem", "targets"):
        if key not in data:
            raise DiagnosticsError(f"the case has no {key!r}")
    for key in ("property", "device"):
        if not isinstance(data[key], str):
            raise DiagnosticsError(f"the case's {key!r} must be a string, got {data[key]!r}")
    case: Case = {}
    for key, value in data.items():
        if key in ("property", "device"):
            continue
        if key == "problem":
            value = _problem(value)
        elif key == "targets":
            value = _targets(value)
        case[key] = value
    return data["property"], data["device"], case


def _problem(value: object) -> Problem:
    if not isinstance(value, dict):
        raise DiagnosticsError(f"the case's 'problem' must be an object, got {value!r}")
    try:
        return Problem(**value)
    except TypeError as error:  # an unknown or missing field
        raise DiagnosticsError(f"the case's 'problem': {error}") from None


def _targets(value: object) -> torch.Tensor:
    """``{"dtype": "float32", "data": [[image, class, x, y, w, h], ...]}`` as a tensor."""
    if not isinstance(value, dict) or not {"dtype", "data"} <= value.keys():
        raise DiagnosticsError("the case's 'targets' must be an object with 'dtype' and 'data'")
    dtype = getattr(torch, str(value["dtype"]), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise DiagnosticsError(
            f"the case's targets: dtype must name a torch floating dtype, got {value['dtype']!r}"
        )
    rows = value["data"]
    if not isinstance(rows, list):
        raise DiagnosticsError("the case's targets: data must be a list of rows of 6 numbers")
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 6 and all(map(_is_number, row))):
            raise DiagnosticsError(f"the case's targets: row {i} is not a list of 6 numbers")
    try:
        return torch.tensor(rows, dtype=dtype).reshape(-1, 6)
    except (OverflowError, RuntimeError) as error:  # an integer beyond any float
        raise DiagnosticsError(f"the case's targets: {error}") from None


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
