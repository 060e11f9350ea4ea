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
    """A case file's JSON text, indented, each tensor's innermost rows on one line each: a
    4 000-row anchor case reads as 4 000 lines, not 30 000; a TAL case's boxes one per line.
    The case is ``content["case"]``."""
    case = content.get("case") or {}
    blocks: dict[str, str] = {}
    tensors = {}
    for key, value in case.items():
        if isinstance(value, dict) and isinstance(value.get("data"), list):
            sentinel = json.dumps(f"rows-{uuid.uuid4().hex}")
            blocks[sentinel] = _block(value["data"], "    ")
            tensors[key] = {**value, "data": json.loads(sentinel)}
    text = json.dumps({**content, "case": {**case, **tensors}}, indent=1)
    for sentinel, block in blocks.items():
        text = text.replace(sentinel, block, 1)
    return text


def _block(data: list, indent: str) -> str:
    """A nested list as JSON with its innermost lists one per line, nested ones indented."""
    if not data or not isinstance(data[0], list):
        return json.dumps(data)
    if not data[0] or not isinstance(data[0][0], list):  # rows of numbers
        rows = ",\n".join(indent + json.dumps(row) for row in data)
    else:
        rows = ",\n".join(indent + _block(inner, indent + " ") for inner in data)
    return f"[\n{rows}\n{indent[:-1]}]"
