"""``bench assign``: implementations of ``build_targets`` timed side by side.

Per number of targets ``nt``, on `random_targets` of one batch, round-robin in a shuffled order
(`interleave`):

- ``yolov5``: the ``yolov5`` package's own ``ComputeLoss.build_targets`` (through
  ``adapters.yolov5``), when the package imports; it is the *baseline* of the ratios, and
  the reference ``ref`` is when it does not;
- ``ref`` and ``strict``: `reference.make_assigner` with each semantics;
- ``assigner``: a ``--assigner MODULE:FACTORY``, when one other than the reference is given;
- ``check``: `invariants.check` on the baseline's output -- the cost of checking a call;
  ``check(ref)`` and ``check(assigner)`` on those outputs;
- ``guard1`` and ``guard10``: ``yolo_diagnostics.guard.guard(baseline, problem, every=N)``,
  when that module imports; ``guard10`` and ``<baseline>x10`` (the plain baseline) are timed
  as 10 consecutive calls, divided by 10: the check's cost amortized over 10 calls.

A warm-up call of each comes first; its total sets how many rounds fit in the time budget
(`rounds_for`). Peak memory is measured once per implementation at the largest ``nt``.
"""

from __future__ import annotations

import importlib
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

from ..assigners import DEFAULT_ASSIGNER, BuildTargets, load_factory
from ..invariants import check
from ..problem import Problem
from ..reference import make_assigner
from .boxes import random_targets
from .measure import device_sync, interleave, peak_bytes, rounds_for, timed

NTS: tuple[int, ...] = (0, 10, 100, 1000, 10000, 100000)
AMORTIZED = 10  # calls per sample of guard10 and its plain counterpart
MEMORY_METHOD = {
    "cpu": "torch.profiler profile_memory: max running sum of [memory] events",
    "cuda": "torch.cuda.max_memory_allocated after reset_peak_memory_stats, minus baseline",
}


@dataclass(frozen=True)
class AssignBench:
    """What to measure.

    Args:
        problem: the batch (``batch_size``), input size, anchors and ``anchor_t``.
        nts: the numbers of targets per batch, one table row each.
        device: where targets, feature maps and every implementation live.
        repeats: at most this many timed rounds per ``nt``.
        budget_s: per ``nt``, fewer rounds when ``repeats`` would take longer (never < 3).
        seed: of `random_targets` and of the order of the calls in each round.
        assigner: an extra ``MODULE:FACTORY`` to time, or ``None``.
    """

    problem: Problem
    nts: tuple[int, ...] = NTS
    device: str = "cpu"
    repeats: int = 21
    budget_s: float = 10.0
    seed: int = 0
    assigner: str | None = None


@dataclass
class NtTimes:
    """One ``nt``: seconds per call of every implementation, one entry per round."""

    nt: int
    rounds: int
    warmup_s: float
    times_s: dict[str, list[float]]

    @property
    def median_s(self) -> dict[str, float]:
        return {name: statistics.median(t) for name, t in self.times_s.items()}


@dataclass
class AssignResult:
    """Everything ``bench assign`` measured; `as_dict` is its JSON."""

    config: AssignBench
    baseline: str
    implementations: dict[str, str]  # name -> what it is
    skipped: dict[str, str]  # name -> why it was not measured
    ratio_terms: dict[str, tuple[str, str]]  # "a/b" -> (numerator, denominator) names
    per_nt: list[NtTimes] = field(default_factory=list)
    peak_bytes: dict[str, int] = field(default_factory=dict)

    def ratios(self, row: NtTimes) -> dict[str, float | None]:
        """Per ratio, the numerator's median over the denominator's, at one ``nt``."""
        median = row.median_s
        return {
            name: median[a] / median[b] if median[b] > 0 else None
            for name, (a, b) in self.ratio_terms.items()
        }

    def as_dict(self) -> dict[str, object]:
        c, device = self.config, torch.device(self.config.device)
        return {
            "command": "bench assign",
            "config": {
                "nt": list(c.nts),
                "batch_size": c.problem.batch_size,
                "img_size": list(c.problem.img_size),
                "strides": list(c.problem.strides),
                "anchors": [list(map(list, level)) for level in c.problem.anchors],
                "anchor_t": c.problem.anchor_t,
                "repeats": c.repeats,
                "budget_s": c.budget_s,
                "seed": c.seed,
                "assigner": c.assigner,
            },
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": c.device,
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "baseline": self.baseline,
            "implementations": self.implementations,
            "skipped": self.skipped,
            "ratio_terms": {k: list(v) for k, v in self.ratio_terms.items()},
            "results": [
                {
                    "nt": row.nt,
                    "rounds": row.rounds,
                    "warmup_s": row.warmup_s,
                    "median_s": row.median_s,
                    "times_s": row.times_s,
                    "ratios": self.ratios(row),
                }
                for row in self.per_nt
            ],
            "peak_memory": {
                "nt": max(c.nts),
                "method": MEMORY_METHOD[device.type],
                "bytes": self.peak_bytes,
            },
        }


def run(config: AssignBench, progress: Callable[[str], None] | None = None) -> AssignResult:
    """Time every implementation at every ``nt`` of ``config``; ``progress`` gets a line per
    ``nt`` as it is done."""
    problem, device = config.problem, torch.device(config.device)
    assigners, implementations, skipped = _assigners(config)
    baseline = "yolov5" if "yolov5" in assigners else "ref"
    for name in list(assigners):
        check_name = _check_name(name, baseline)
        if check_name is not None:
            implementations[check_name] = f"invariants.check on {name}'s output"
    guards = _guards(assigners[baseline], problem, baseline, implementations, skipped)
    if guards:  # the plain baseline, amortized like guard10
        guards[f"{baseline}x{AMORTIZED}"] = (assigners[baseline], AMORTIZED)
    result = AssignResult(config, baseline, implementations, skipped, {})
    sync = device_sync(device)
    p = problem.feature_maps(device)
    for nt in config.nts:
        targets = random_targets(problem, nt, seed=config.seed, device=device)
        calls, per_sample, warmup_s = _warm_calls(
            problem, p, targets, assigners, guards, baseline, sync
        )
        rounds = rounds_for(warmup_s, config.repeats, config.budget_s)
        times = interleave(calls, rounds, sync, seed=config.seed)
        times = {name: [t / per_sample[name] for t in ts] for name, ts in times.items()}
        result.per_nt.append(NtTimes(nt, rounds, warmup_s, times))
        if nt == max(config.nts):  # guards are their baseline plus check: not measured apart
            measured = [name for name in calls if name not in guards]
            result.peak_bytes = {name: peak_bytes(calls[name], device) for name in measured}
        if progress is not None:
            progress(f"nt={nt}: {rounds} rounds, warm-up round {warmup_s:.2f} s")
        del calls
    result.ratio_terms = _ratio_terms(list(result.per_nt[0].times_s), baseline)
    return result


def _warm_calls(
    problem: Problem,
    p: Sequence[Tensor],
    targets: Tensor,
    assigners: dict[str, BuildTargets],
    guards: dict[str, tuple[BuildTargets, int]],
    baseline: str,
    sync: Callable[[], None] | None,
) -> tuple[dict[str, Callable[[], object]], dict[str, int], float]:
    """The calls to time on ``targets``, build_targets calls per sample of each, and the
    seconds of one warm-up call of each, made here."""
    calls: dict[str, Callable[[], object]] = {}
    per_sample: dict[str, int] = {}
    warmup_s, outputs = 0.0, {}
    for name, build_targets in assigners.items():
        calls[name], per_sample[name] = partial(build_targets, p, targets), 1
        seconds, outputs[name] = timed(calls[name], sync)
        warmup_s += seconds
    later = _checks(problem, targets, outputs, baseline)
    per_sample.update(dict.fromkeys(later, 1))
    for name, (build_targets, n) in guards.items():
        later[name], per_sample[name] = partial(_calls, build_targets, p, targets, n), n
    for fn in later.values():
        warmup_s += timed(fn, sync)[0]
    calls.update(later)
    return calls, per_sample, warmup_s


def _assigners(
    config: AssignBench,
) -> tuple[dict[str, BuildTargets], dict[str, str], dict[str, str]]:
    """The ``build_targets`` to time, what each is, and what was skipped and why."""
    problem, device = config.problem, config.device
    found: dict[str, BuildTargets] = {}
    about: dict[str, str] = {}
    skipped: dict[str, str] = {}
    try:
        from ..adapters.yolov5 import make_assigner as yolov5_assigner
    except ImportError as error:
        skipped["yolov5"] = str(error)
    else:
        from importlib.metadata import version

        found["yolov5"] = yolov5_assigner(problem, device)
        about["yolov5"] = f"yolov5 {version('yolov5')} ComputeLoss.build_targets"
    found["ref"] = make_assigner(problem, device, semantics="yolov5")
    about["ref"] = "yolo_diagnostics.reference, yolov5 semantics"
    found["strict"] = make_assigner(problem, device, semantics="strict")
    about["strict"] = "yolo_diagnostics.reference, strict semantics"
    if config.assigner is not None and config.assigner != DEFAULT_ASSIGNER:
        found["assigner"] = load_factory(config.assigner)(problem, torch.device(device))
        about["assigner"] = config.assigner
    return found, about, skipped


def _check_name(name: str, baseline: str) -> str | None:
    """``check`` on the baseline's output, ``check(name)`` on the others' but strict's:
    `invariants.check` judges yolov5 semantics."""
    if name == "strict":
        return None
    return "check" if name == baseline else f"check({name})"


def _checks(
    problem: Problem, targets: Tensor, outputs: dict[str, object], baseline: str
) -> dict[str, Callable[[], object]]:
    """A call of `invariants.check` per output, named by `_check_name`."""
    calls: dict[str, Callable[[], object]] = {}
    for name, out in outputs.items():
        check_name = _check_name(name, baseline)
        if check_name is not None:
            calls[check_name] = partial(check, problem, targets, out)
    return calls


def _guards(
    build_targets: BuildTargets,
    problem: Problem,
    baseline: str,
    about: dict[str, str],
    skipped: dict[str, str],
) -> dict[str, tuple[BuildTargets, int]]:
    """``guard1`` and ``guard10`` around the baseline with their calls per sample, or none
    when ``guard`` does not import."""
    try:
        guard = importlib.import_module("yolo_diagnostics.guard").guard
    except (ImportError, AttributeError) as error:
        skipped["guard"] = f"yolo_diagnostics.guard.guard is not importable: {error}"
        return {}
    about["guard1"] = f"guard({baseline}, every=1)"
    about[f"guard{AMORTIZED}"] = f"guard({baseline}, every={AMORTIZED}), per call of {AMORTIZED}"
    about[f"{baseline}x{AMORTIZED}"] = f"{baseline} alone, per call of {AMORTIZED}"
    return {
        "guard1": (guard(build_targets, problem, every=1), 1),
        f"guard{AMORTIZED}": (guard(build_targets, problem, every=AMORTIZED), AMORTIZED),
    }


def _calls(build_targets: BuildTargets, p: Sequence[Tensor], targets: Tensor, n: int) -> object:
    """``n`` consecutive calls; the last output."""
    for _ in range(n):
        out = build_targets(p, targets)
    return out


def _ratio_terms(names: Sequence[str], baseline: str) -> dict[str, tuple[str, str]]:
    """Each implementation over the baseline; ``guard10`` over the plain baseline x10."""
    plain = f"{baseline}x{AMORTIZED}"
    terms = {}
    for name in names:
        if name in (baseline, plain):
            continue
        denominator = plain if name == f"guard{AMORTIZED}" else baseline
        terms[f"{name}/{baseline}"] = (name, denominator)
    return terms
