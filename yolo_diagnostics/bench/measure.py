"""Timing and peak memory of one call.

Timing: `interleave` times the implementations round-robin -- per round, one call of each,
in an order shuffled anew each round (seeded) -- so that machine noise (another process,
frequency scaling, a cold cache) hits all of them alike instead of whichever happened to run
during it. The shuffle matters: in a fixed order each call always runs after the same
other one, and what that one leaves in the caches favours some calls over others. In
``bench assign``'s fixed order (2 runs, CPU, nt = 10 and 100) ``check`` on yolov5's output
took 9-17 % longer than ``check`` on the reference's equal output right after it, and
check/yolov5 was 1.48-1.63; shuffled, the two checks agree within 3 % and check/yolov5 was
1.29-1.41.
On CUDA the device is synchronized before and after each call; a call's result is released
after the clock stops, so freeing the output is not timed.

Peak memory: the bytes allocated above the baseline during one call, the output included.
On CUDA, ``torch.cuda.reset_peak_memory_stats`` and ``max_memory_allocated``. On the CPU,
``torch.profiler`` with ``profile_memory=True``: torch's CPU allocator reports every
allocation and free as a ``[memory]`` event with signed ``nbytes`` (in
``prof.profiler.kineto_results.events()``; ``prof.events()`` folds them into operators), and
the peak is the largest running sum in time order. Chosen over the process's VmHWM (reset by
writing 5 to ``/proc/self/clear_refs``, with glibc's ``M_MMAP_THRESHOLD`` lowered so freed
buffers leave the process) because it counts bytes, not touched pages -- an untouched
``torch.empty`` is invisible to VmHWM --, counts nothing but torch's tensors, needs no
process-wide allocator setting, is not Linux-only, and gives the same figure on every call.
Checked with torch 2.14: ``torch.empty(10_000_000)`` gives 40,000,000 bytes; allocating and
freeing two 40 MB buffers in turn gives 40 MB, not 80 MB; for yolov5's ``build_targets`` and
the reference at 10^4..10^6 targets it agrees with VmHWM within 1 %. Memory that does not go
through torch's allocator (Python objects, NumPy arrays) is not counted.
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch

Sync = Callable[[], None]


def device_sync(device: torch.device | str) -> Sync | None:
    """What to call around a timed call on ``device``: CUDA synchronization, else nothing."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return lambda: torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], sync: Sync | None = None) -> tuple[float, object]:
    """Seconds one call of ``fn()`` takes (synchronized by ``sync``), and its result."""
    if sync is not None:
        sync()
    start = time.perf_counter()
    result = fn()
    if sync is not None:
        sync()
    return time.perf_counter() - start, result


def interleave(
    calls: Mapping[str, Callable[[], object]],
    rounds: int,
    sync: Sync | None = None,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Seconds per call of each of ``calls``, ``rounds`` each, taken round-robin.

    Round ``r`` calls every callable once, in an order shuffled by a ``random.Random(seed)``,
    before round ``r + 1`` begins. Returns per name its ``rounds`` times, in round order. No
    warm-up is made here.
    """
    times: dict[str, list[float]] = {name: [] for name in calls}
    order, rng = list(calls), random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            seconds, result = timed(calls[name], sync)
            del result  # freed outside the timed interval
            times[name].append(seconds)
    return times


def rounds_for(round_s: float, repeats: int, budget_s: float, minimum: int = 3) -> int:
    """How many rounds of ``round_s`` seconds to time: as many as fit in ``budget_s``, at
    most ``repeats`` and at least ``minimum`` (or ``repeats`` if that is fewer)."""
    fit = math.floor(budget_s / round_s) if round_s > 0 else repeats
    return min(repeats, max(minimum, fit))


def peak_bytes(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """Peak bytes allocated on ``device`` above the baseline during one call of ``fn()``.

    The result of ``fn`` is alive when the call ends, so it counts. See the module's
    docstring for how, and how this was checked.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return _cuda_peak(fn, device)
    return _cpu_peak(fn)


def _cuda_peak(fn: Callable[[], object], device: torch.device) -> int:
    torch.cuda.synchronize(device)
    baseline = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    result = fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - baseline
    del result
    return peak


def _cpu_peak(fn: Callable[[], object]) -> int:
    from torch.profiler import ProfilerActivity, profile

    prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
    with _quiet_stderr():  # kineto logs its start and stop (and any GPU probe) on fd 2
        prof.start()
    try:
        result = fn()
    finally:
        with _quiet_stderr():
            prof.stop()
    del result
    events = prof.profiler.kineto_results.events()
    memory = sorted((e for e in events if e.name() == "[memory]"), key=lambda e: e.start_ns())
    running = peak = 0
    for event in memory:  # nbytes > 0 allocates, < 0 frees
        running += event.nbytes()
        peak = max(peak, running)
    return peak


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null: C++ log lines bypass ``sys.stderr``."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
