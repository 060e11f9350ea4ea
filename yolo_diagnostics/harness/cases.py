"""A contract case as plain data, and the text of a case file.

`case_to_data` writes any family's case (its problem dataclass as its fields, tensors as
``{"dtype", "shape", "data"}``); each family reads its own back (`contract.cases`,
`tal.contract.cases`). `dumps_case` writes a case file one target row per line.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import torch

from .property import Case

FAMILIES = {"Problem": "anchor", "TalProblem": "tal"}
"""The family of a case, by its problem's class: its case file says which (``family``)."""


def case_to_data(property_id: str, device: str, case: Case) -> dict[str, Any]:
    """A case as plain JSON-able data: problems (any family's dataclass) as their fields,
    tensors as ``{"dtype", "data"}``; ``family`` names the problem's family."""
    data: dict[str, Any] = {"property": property_id, "device": device}
    problem = case.get("problem")
    if type(problem).__name__ in FAMILIES and FAMILIES[type(problem).__name__] != "anchor":
        data["family"] = FAMILIES[type(problem).__name__]  # anchor case files predate families
    for key, value in case.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        elif isinstance(value, torch.Tensor):
            value = {
                "dtype": str(value.dtype).removeprefix("torch."),
                "shape": list(value.shape),  # an empty tensor's data alone loses its shape
                "data": value.tolist(),
            }
        data[key] = value
    return data


def dumps_case(content: dict[str, Any]) -> str:
    """A case file's JSON text: indented, each target row on one line (a 4 000-row case
    reads as 4 000 lines, not 30 000), the case's ``targets`` found under ``content["case"]``."""
    targets = (content.get("case") or {}).get("targets")
    if not isinstance(targets, dict) or not isinstance(targets.get("data"), list):
        return json.dumps(content, indent=1)
    sentinel = f"rows-{uuid.uuid4().hex}"
    rows = ",\n".join("    " + json.dumps(row) for row in targets["data"])
    outer = {**content, "case": {**content["case"], "targets": {**targets, "data": sentinel}}}
    block = f"[\n{rows}\n   ]" if rows else "[]"
    return json.dumps(outer, indent=1).replace(json.dumps(sentinel), block, 1)
