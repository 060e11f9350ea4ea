"""Cut a failing case's target rows further than Hypothesis' shrinker does.

The shrinker orders examples by their choices, not by their rows: for the scale property a
batch whose rows come from a few drawn numbers can be its minimal example with thousands of
rows, and a plain case can keep a row it could not delete without changing the others.
`reduce_rows` then runs the property again on parts of the rows (delta debugging: each part
alone, then each part left out, the parts halved when none fails) and keeps the smallest
that fails the same way, within `MAX_CALLS` runs.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import NotApplicable
from ..harness.property import Case, ContractFailure, Property

MAX_CALLS = 64


def reduce_rows(
    prop: Property, options: Any, device: str, failure: ContractFailure
) -> ContractFailure:
    """The failure of the smallest row subset of ``failure.drawn`` found to fail alike (the
    same check, the same invariant or cause); ``failure`` itself if none is smaller.
    ``options`` are the property's own (`properties.ContractOptions`)."""
    case: Case = failure.drawn
    targets = case["targets"]
    same = _signature(failure)
    best, rows, calls, parts = failure, torch.arange(len(targets)), 0, 2

    def fails(keep: torch.Tensor) -> ContractFailure | None:
        trial = {**case, "targets": targets[keep]}
        try:
            prop.run(options, device, trial)
        except NotApplicable:  # the assigner would not take these rows: not a smaller failure
            return None
        except ContractFailure as found:
            if _signature(found) == same:
                found.drawn = trial
                return found
        return None

    while len(rows) > 1 and calls < MAX_CALLS:
        pieces = rows.tensor_split(parts)
        rests = [torch.cat(pieces[:k] + pieces[k + 1 :]) for k in range(parts)] if parts > 2 else []
        for keep in [*pieces, *rests]:
            if calls >= MAX_CALLS:
                break
            calls += 1
            found = fails(keep)
            if found is not None:
                best, rows = found, keep
                parts = 2 if len(keep) <= len(pieces[0]) else max(parts - 1, 2)
                break
        else:
            if parts >= len(rows):
                break
            parts = min(len(rows), 2 * parts)
    return best


def _signature(failure: ContractFailure) -> tuple[str, str]:
    """The check and what failed inside it: for the scale property the invariant's id or the
    reference diff (its messages read "<size>: <what>: ..."), for a crash the exception type
    ("the assigner raised <type>: ..."); elsewhere the check (the invariant's id) alone."""
    parts = failure.message.split(": ")
    if failure.check == "scale":
        return failure.check, parts[1] if len(parts) > 2 else parts[0]
    return failure.check, parts[0] if failure.check == "crash" else ""
