"""A contract case and its plain-data form, which a JSON case file holds and replays from."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..problem import Problem

Case = dict[str, Any]
"""A drawn case: ``problem``, ``targets`` and whatever else the property drew."""


def case_to_data(property_id: str, device: str, case: Case) -> dict[str, Any]:
    """A case as plain JSON-able data."""
    data: dict[str, Any] = {"property": property_id, "device": device}
    for key, value in case.items():
        if isinstance(value, Problem):
            value = dataclasses.asdict(value)
        elif isinstance(value, torch.Tensor):
            value = {"dtype": str(value.dtype).removeprefix("torch."), "data": value.tolist()}
        data[key] = value
    return data


def case_from_data(data: dict[str, Any]) -> tuple[str, str, Case]:
    """Inverse of `case_to_data`: (property id, device, case)."""
    case: Case = {}
    for key, value in data.items():
        if key in ("property", "device"):
            continue
        if key == "problem":
            value = Problem(**value)
        elif key == "targets":
            value = torch.tensor(value["data"], dtype=getattr(torch, value["dtype"])).reshape(-1, 6)
        case[key] = value
    return data["property"], data["device"], case
