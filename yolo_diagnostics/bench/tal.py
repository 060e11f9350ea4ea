"""``bench assign --family tal``: task-aligned assigners timed side by side.

Per row -- an input size and a number of GTs per image -- on one seeded batch
(`tal.corpus.make_batch`, kind ``random``, every row real), round-robin in a shuffled order
(`interleave`):

- ``ultralytics``: ``TaskAlignedAssigner.forward`` of the ``ultralytics`` package (through
  ``adapters.ultralytics``), when it imports; it is the *baseline* of the ratios, the
  reference ``ref`` is when it does not;
- ``ref`` and ``strict``: `tal.reference.make_assigner` with each semantics;
- ``assigner``: an ``--assigner MODULE:FACTORY`` other than the reference;
- ``check``: `tal.invariants.check` on the baseline's output -- the cost of checking a call.

A warm-up call of each comes first; its total sets how many rounds fit in the time budget.
Peak memory (`measure.peak_bytes`: bytes torch allocates above the baseline during one call,
the output included) is measured for every implementation at every row: this assigner's
memory grows with images x GT rows x anchor points (ultralytics#25240, #25990).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch

from ..assigners import load_factory
from ..errors import NotApplicable
from ..tal.corpus import make_batch
from ..tal.invariants import check
from ..tal.problem import TalProblem
from ..tal.reference import make_assigner
from .measure import device_sync, interleave, peak_bytes, rounds_for, timed

ROWS: tuple[tuple[int, int], ...] = ((640, 10), (640, 50), (640, 300), (1280, 50))
"""Default rows: (input side in px, GTs per image): 8 400 anchor points at 640 px, 33 600 at
1 280 px."""

DEFAULT_TAL_ASSIGNER = "yolo_diagnostics.tal.reference:make_assigner"


@dataclass(frozen=True)
class TalBench:
    """What to measure.

    Args:
        preset: the `TalProblem` preset (its topk, alpha, beta, floor and strides).
        rows: (input side, GTs per image) per table row.
        batch_size: images per batch.
        num_classes: columns of ``pd_scores``.
        device: where the inputs and every implementation live.
        repeats: at most this many timed rounds per row.
        budget_s: per row, fewer rounds when ``repeats`` would take longer (never < 3).
        seed: of `make_batch` and of the order of the calls in each round.
        assigner: an extra ``MODULE:FACTORY`` to time, or ``None``.
    """

    preset: str = "ultralytics"
    rows: tuple[tuple[int, int], ...] = ROWS
    batch_size: int = 16
    num_classes: int = 80
    device: str = "cpu"
    repeats: int = 11
    budget_s: float = 20.0
    seed: int = 0
    assigner: str | None = None

    def problem(self, side: int) -> TalProblem:
        return TalProblem.preset(
            self.preset,
            img_size=(side, side),
            batch_size=self.batch_size,
            num_classes=self.num_classes,
        )


@dataclass
class TalRow:
    """One row: seconds per call of every implementation, one entry per round, and peak
    bytes of one call of each."""

    side: int
    gts: int
    anchors: int
    rounds: int
    times_s: dict[str, list[float]]
    peak_bytes: dict[str, int]

    @property
    def median_s(self) -> dict[str, float]:
        return {name: statistics.median(t) for name, t in self.times_s.items()}


@dataclass
class TalBenchResult:
    """Everything measured; `as_dict` is the JSON of ``--json``."""

    config: TalBench
    baseline: str
    implementations: dict[str, str]
    skipped: dict[str, str]
    rows: list[TalRow] = field(default_factory=list)

    def ratios(self, row: TalRow) -> dict[str, float]:
        """Each implementation's median and peak memory over the baseline's."""
        median, base = row.median_s, row.median_s[self.baseline]
        out = {}
        for name in median:
            if name != self.baseline:
                out[f"{name}/{self.baseline}"] = median[name] / base
                if name in row.peak_bytes and row.peak_bytes[self.baseline]:
                    out[f"{name} memory/{self.baseline}"] = (
                        row.peak_bytes[name] / row.peak_bytes[self.baseline]
                    )
        return out

    def as_dict(self) -> dict[str, object]:
        c = self.config
        return {
            "command": "bench assign --family tal",
            "config": {
                "preset": c.preset,
                "rows": [list(r) for r in c.rows],
                "batch_size": c.batch_size,
                "num_classes": c.num_classes,
                "repeats": c.repeats,
                "budget_s": c.budget_s,
                "seed": c.seed,
                "assigner": c.assigner,
            },
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": c.device,
            "baseline": self.baseline,
            "implementations": self.implementations,
            "skipped": self.skipped,
            "results": [
                {
                    "img_size": row.side,
                    "gts_per_image": row.gts,
                    "anchor_points": row.anchors,
                    "rounds": row.rounds,
                    "median_s": row.median_s,
                    "times_s": row.times_s,
                    "peak_bytes": row.peak_bytes,
                    "ratios": self.ratios(row),
                }
                for row in self.rows
            ],
        }


def run(config: TalBench, progress: Callable[[str], None] | None = None) -> TalBenchResult:
    """Time every implementation at every row; ``progress`` gets a line per row."""
    device = torch.device(config.device)
    sync = device_sync(device)
    result = TalBenchResult(config, "", {}, {})
    for side, gts in config.rows:
        problem = config.problem(side)
        assigners = _assigners(config, problem, result)
        batch = make_batch(
            problem, seed=config.seed, kind="random", n=gts, padding="none", device=device
        )
        calls = {name: partial(fn, *batch) for name, fn in assigners.items()}
        warmup_s, outputs = 0.0, {}
        for name, fn in calls.items():
            seconds, outputs[name] = timed(fn, sync)
            warmup_s += seconds
        calls["check"] = partial(check, problem, batch, outputs[result.baseline])
        warmup_s += timed(calls["check"], sync)[0]
        del outputs
        rounds = rounds_for(warmup_s, config.repeats, config.budget_s)
        times = interleave(calls, rounds, sync, seed=config.seed)
        peaks = {name: peak_bytes(fn, device) for name, fn in calls.items()}
        result.rows.append(TalRow(side, gts, problem.num_anchors, rounds, times, peaks))
        if progress is not None:
            progress(f"{side} px, {gts} GTs per image: {rounds} rounds, warm-up {warmup_s:.2f} s")
        del calls, batch
    result.implementations["check"] = f"tal.invariants.check on {result.baseline}'s output"
    return result


def _assigners(
    config: TalBench, problem: TalProblem, result: TalBenchResult
) -> dict[str, Callable]:
    """The assigners to time, the baseline first; what each is and what was skipped is
    recorded in ``result``."""
    found: dict[str, Callable] = {}
    device = torch.device(config.device)
    try:
        from ..adapters.ultralytics import make_assigner as ultralytics_assigner

        found["ultralytics"] = ultralytics_assigner(problem, device)
    except (ImportError, NotApplicable) as error:
        result.skipped["ultralytics"] = str(error)
    else:
        from importlib.metadata import version

        result.implementations["ultralytics"] = (
            f"ultralytics {version('ultralytics')} TaskAlignedAssigner.forward"
        )
    found["ref"] = make_assigner(problem, device)
    result.implementations["ref"] = "yolo_diagnostics.tal.reference, ultralytics semantics"
    found["strict"] = make_assigner(problem, device, semantics="strict")
    result.implementations["strict"] = "yolo_diagnostics.tal.reference, strict semantics"
    if config.assigner is not None and config.assigner != DEFAULT_TAL_ASSIGNER:
        found["assigner"] = load_factory(config.assigner)(problem, device)
        result.implementations["assigner"] = config.assigner
    result.baseline = next(iter(found))
    return found


def format_tal_tables(result: TalBenchResult) -> str:
    """Median milliseconds per call, peak MiB, and both as ratios to the baseline."""
    names = list(result.rows[0].times_s) if result.rows else []
    width = {name: max(10, len(name)) for name in names}
    head = f"{'px':>5} {'GTs':>4} {'anchors':>7} {'rounds':>6} "
    lines = ["median ms per call (timed calls of each, interleaved)"]
    lines.append(head + " ".join(f"{n:>{width[n]}}" for n in names))
    for row in result.rows:
        median = row.median_s
        cells = " ".join(f"{median[n] * 1e3:>{width[n]}.1f}" for n in names)
        lines.append(f"{row.side:>5} {row.gts:>4} {row.anchors:>7} {row.rounds:>6} {cells}")
    lines += ["", "peak MiB above the baseline during one call (the output included)"]
    lines.append(head + " ".join(f"{n:>{width[n]}}" for n in names))
    for row in result.rows:
        cells = " ".join(f"{row.peak_bytes[n] / 2**20:>{width[n]}.1f}" for n in names)
        lines.append(f"{row.side:>5} {row.gts:>4} {row.anchors:>7} {'':>6} {cells}")
    if result.rows:
        others = [n for n in names if n != result.baseline]
        lines += ["", f"ratios to {result.baseline}: time (t) and peak memory (mem)"]
        terms = [f"{n} {what}" for n in others for what in ("t", "mem")]
        rwidth = {t: max(7, len(t)) for t in terms}
        lines.append(f"{'px':>5} {'GTs':>4} " + " ".join(f"{t:>{rwidth[t]}}" for t in terms))
        for row in result.rows:
            ratios = result.ratios(row)
            cells = []
            for n in others:
                for key, term in (
                    (f"{n}/{result.baseline}", f"{n} t"),
                    (f"{n} memory/{result.baseline}", f"{n} mem"),
                ):
                    value = ratios.get(key)
                    text = "-" if value is None else f"{value:.2f}"
                    cells.append(f"{text:>{rwidth[term]}}")
            lines.append(f"{row.side:>5} {row.gts:>4} " + " ".join(cells))
    return "\n".join(lines)
