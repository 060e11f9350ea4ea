"""``bench``: ``bench contract`` times the contract's properties (also bare ``bench``);
``bench assign`` times ``build_targets`` implementations side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..assigners import DEFAULT_ASSIGNER
from ..devices import resolve_devices
from ..errors import DiagnosticsError
from ..files import writable
from .common import input_and_anchors

# Bare `bench` is `bench contract`: the contract's options live on `bench` itself, and the
# modes' copies default to SUPPRESS so that `bench --device cuda contract` keeps the value.
_KEEP = argparse.SUPPRESS


def add_command(sub: argparse._SubParsersAction) -> None:
    """Register ``bench`` and its two modes on the subcommand parser ``sub``."""
    bench = sub.add_parser(
        "bench",
        help="time the contract (bench [contract]) or build_targets implementations (bench assign)",
        description="bench [contract]: run the contract's properties on an assigner and "
        "print, per property, the examples run, the seconds taken and examples per second. "
        "bench assign: time build_targets implementations side by side.",
    )
    _contract_options(bench, default=True)
    bench.set_defaults(run=contract_mode)
    modes = bench.add_subparsers(metavar="MODE", dest="mode")

    contract = modes.add_parser(
        "contract",
        help="time the contract's properties on an assigner (the default)",
        description="Run the contract's properties on an assigner (check_assigner) and print, "
        "per property, the examples run, the seconds taken and examples per second.",
    )
    _contract_options(contract, default=False)
    contract.set_defaults(run=contract_mode)

    assign = modes.add_parser(
        "assign",
        help="time yolov5's build_targets, the reference, check and guard side by side",
        description="Time, interleaved round-robin on seeded random boxes, the yolov5 "
        "package's ComputeLoss.build_targets (when installed), the reference with yolov5 and "
        "strict semantics, an --assigner, invariants.check on their outputs and the guard "
        "(every=1, every=10 amortized); print median ms per call, ratios to yolov5's "
        "build_targets and peak memory at the largest nt. With --family tal, time "
        "ultralytics' TaskAlignedAssigner, the TAL reference and tal.invariants.check per "
        "(input size, GTs per image) row, with peak memory at every row. Always exit 0.",
    )
    _assign_options(assign)
    _tal_options(assign)
    assign.set_defaults(run=assign_mode)


_TAL_ONLY = ("rows", "tal_preset", "num_classes")


def anchor_defaults(args: argparse.Namespace) -> None:
    """Refuse ``--family tal``'s options; fill the anchor family's left unset (``--nt``,
    ``--img-size``; `inputs.problem_of` fills ``--anchors`` and ``--anchor-t``)."""
    from ..bench.assign import NTS

    given = [f"--{n.replace('_', '-')}" for n in _TAL_ONLY if getattr(args, n) is not None]
    if given:
        raise DiagnosticsError(f"{', '.join(given)}: --family tal's, not the anchor family's")
    if args.nt is None:
        args.nt = list(NTS)
    if args.img_size is None:
        args.img_size = [640]


def _contract_options(parser: argparse.ArgumentParser, default: bool) -> None:
    parser.add_argument(
        "--assigner",
        default=DEFAULT_ASSIGNER if default else _KEEP,
        metavar="MODULE:FACTORY",
        help=f"assigner factory (default: {DEFAULT_ASSIGNER})",
    )
    parser.add_argument(
        "--device", default="cpu" if default else _KEEP, help="cpu, cuda or cuda:N (default: cpu)"
    )
    parser.add_argument(
        "--profile",
        choices=("dev", "ci", "thorough"),
        default="ci" if default else _KEEP,
        help="Hypothesis profile (default: ci)",
    )


def _assign_options(parser: argparse.ArgumentParser) -> None:
    from ..bench.assign import NTS

    parser.add_argument(
        "--assigner",
        default=_KEEP,
        metavar="MODULE:FACTORY",
        help="an assigner to time too (default: none besides the reference)",
    )
    parser.add_argument("--device", default=_KEEP, help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument(
        "--nt",
        type=int,
        nargs="+",
        default=list(NTS),
        metavar="N",
        help=f"targets per batch, one row each (default: {' '.join(map(str, NTS))})",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="images per batch (16)")
    input_and_anchors(parser)
    parser.add_argument(
        "--repeats",
        type=int,
        default=21,
        help="timed rounds per nt, at most (default 21); the median is reported",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="per nt, fewer rounds (never fewer than 3) where --repeats would take longer, "
        "judged from the warm-up round (default 10)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random boxes and of the order of calls (0)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    # None until given, so that --family tal can refuse them (`assign_mode` fills them in)
    parser.set_defaults(nt=None, img_size=None, anchors=None, anchor_t=None)


def _tal_options(parser: argparse.ArgumentParser) -> None:
    from ..bench.tal import ROWS

    group = parser.add_argument_group("--family tal")
    group.add_argument(
        "--family",
        choices=("anchor", "tal"),
        default="anchor",
        help="anchor (build_targets, default) or tal (the task-aligned assigner)",
    )
    group.add_argument(
        "--rows",
        nargs="+",
        default=None,
        metavar="PX:GTS",
        help="with --family tal: one table row per square input side and GTs per image "
        f"(default {' '.join(f'{s}:{g}' for s, g in ROWS)})",
    )
    group.add_argument(
        "--tal-preset",
        default=None,
        metavar="PRESET",
        help="with --family tal: the TalProblem preset (default ultralytics)",
    )
    group.add_argument(
        "--num-classes", type=int, default=None, help="with --family tal: classes (default 80)"
    )


def contract_mode(args: argparse.Namespace) -> int:
    """``bench`` / ``bench contract``: examples and examples/s per property of the contract."""
    import time

    import torch

    from ..contract.properties import PROPERTIES
    from ..contract.runner import check_assigner

    (device,) = resolve_devices([args.device])
    print(
        f"yolo-diagnostics bench: assigner={args.assigner} device={device} "
        f"profile={args.profile} torch={torch.__version__} threads={torch.get_num_threads()}"
    )
    print(f"{'property':<12} {'status':<8} {'examples':>8} {'seconds':>8} {'examples/s':>10}")
    total_examples, total_seconds, failed = 0, 0.0, False
    for name in PROPERTIES:
        start = time.perf_counter()
        (outcome,) = check_assigner(
            args.assigner, device=device, profile=args.profile, properties=[name]
        ).outcomes
        seconds = time.perf_counter() - start
        rate = outcome.examples / seconds if outcome.examples else 0.0
        print(
            f"{name:<12} {outcome.status:<8} {outcome.examples:>8d} {seconds:>8.2f} {rate:>10.1f}"
        )
        total_examples += outcome.examples
        total_seconds += seconds
        failed |= outcome.status == "failed"
    print(
        f"{'total':<12} {'':<8} {total_examples:>8d} {total_seconds:>8.2f} "
        f"{total_examples / total_seconds:>10.1f}"
    )
    return 1 if failed else 0


def assign_mode(args: argparse.Namespace) -> int:
    """``bench assign``: print the tables, write ``--json``; exit 0 (no speed is gated)."""
    import dataclasses

    import torch

    from ..bench.assign import AssignBench, run
    from ..bench.tables import format_tables
    from .inputs import print_bench, problem_of

    if args.json is not None:
        writable(args.json)  # before minutes of timing, not after
    if args.repeats < 1:
        raise DiagnosticsError(f"--repeats: expected >= 1, got {args.repeats}")
    if args.threads is not None:
        if args.threads < 1:
            raise DiagnosticsError(f"--threads: expected >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.family == "tal":
        from .tal_bench import bench_tal

        return bench_tal(args)
    anchor_defaults(args)
    if min(args.nt) < 0:
        raise DiagnosticsError(f"--nt: expected numbers >= 0, got {args.nt}")
    (device,) = resolve_devices([args.device])
    problem = dataclasses.replace(problem_of(args), batch_size=args.batch_size)
    assigner = None if args.assigner == DEFAULT_ASSIGNER else args.assigner
    config = AssignBench(
        problem=problem,
        nts=tuple(args.nt),
        device=device,
        repeats=args.repeats,
        budget_s=args.budget,
        seed=args.seed,
        assigner=assigner,
    )
    h, w = problem.img_size
    print(
        f"yolo-diagnostics bench assign: device={device} torch={torch.__version__} "
        f"threads={torch.get_num_threads()} batch={problem.batch_size} img={h}x{w} "
        f"anchors={args.anchors} anchor_t={problem.anchor_t:g} seed={args.seed} "
        f"repeats<={args.repeats} budget={args.budget:g}s/nt"
    )
    result = run(config, progress=print)
    print_bench(result, format_tables(result), 16, args.json)
    return 0
