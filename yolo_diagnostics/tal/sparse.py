"""Small vectorized helpers over sparse (key, value) lists: look-ups in a sorted key list,
per-group extremes, and ranks within groups. Device-agnostic; no Python loop per entry."""

from __future__ import annotations

import torch
from torch import Tensor


def lookup(sorted_keys: Tensor, queries: Tensor) -> tuple[Tensor, Tensor]:
    """Positions of ``queries`` (any shape) in ``sorted_keys`` ``Tensor[N]`` (ascending, unique).

    Returns ``(index, found)``: ``index`` is a valid position (0 where not found, and where
    the list is empty use ``found`` before indexing), ``found`` whether the key is there.
    """
    if sorted_keys.numel() == 0:
        zeros = torch.zeros_like(queries)
        return zeros, zeros.bool()
    index = torch.searchsorted(sorted_keys, queries).clamp_(max=sorted_keys.numel() - 1)
    return index, sorted_keys[index] == queries


def gather_or(values: Tensor, index: Tensor, found: Tensor, default: float = 0.0) -> Tensor:
    """``values[index]`` where ``found``, else ``default``; safe on an empty ``values``."""
    if values.numel() == 0:
        return torch.full(index.shape, default, dtype=values.dtype, device=values.device)
    return torch.where(found, values[index], default)


def group_max(values: Tensor, group: Tensor, size: int, initial: float) -> Tensor:
    """``Tensor[size]``: the largest value of each group, ``initial`` for groups with none
    (and where ``initial`` is larger)."""
    out = torch.full((size,), initial, dtype=values.dtype, device=values.device)
    return out.scatter_reduce_(0, group, values, "amax")


def group_min(values: Tensor, group: Tensor, size: int, initial: int) -> Tensor:
    """``Tensor[size]``: the smallest value of each group, ``initial`` for groups with none."""
    out = torch.full((size,), initial, dtype=values.dtype, device=values.device)
    return out.scatter_reduce_(0, group, values, "amin")


def group_count(group: Tensor, size: int) -> Tensor:
    """``Tensor[size]`` int64: entries per group."""
    return torch.bincount(group, minlength=size)


def rank_by(group: Tensor, *keys: Tensor) -> Tensor:
    """Each entry's rank within its group when the group is ordered by ``keys`` (first key
    first, all ascending; ties keep the input order). ``Tensor[N]`` int64."""
    order = torch.arange(group.numel(), device=group.device)
    for key in reversed((group, *keys)):
        order = order[torch.sort(key[order], stable=True).indices]
    sorted_group = group[order]
    start = torch.ones_like(sorted_group, dtype=torch.bool)
    start[1:] = sorted_group[1:] != sorted_group[:-1]
    position = torch.arange(group.numel(), device=group.device)
    first = torch.cummax(torch.where(start, position, 0), 0).values
    rank = torch.empty_like(order)
    rank[order] = position - first
    return rank
