"""Commands for loss code: ``check``, ``bench`` (in `bench`), ``snapshot``, ``invariants``, and
the case replay of ``show``."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from ..assigners import DEFAULT_ASSIGNER, load_factory
from ..devices import resolve_devices
from ..errors import DiagnosticsError
from ..files import writable, write_atomic
from ..rules import DEFAULT_RULE
from . import bench
from .common import assigner_and_device, rule

MAX_REPLAY_SIDE = 4096
"""The largest input side ``show`` replays a case at: its overlay is drawn at full size
(about 1.6 GB of memory at 4096 px, 4.4 GB at 8192 px)."""


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the loss-code commands on the subcommand parser ``sub``."""
    run = sub.add_parser(
        "check",
        help="run an assigner over the built-in edge-case corpus and check every invariant",
        description="Run an assigner over the built-in corpus (edge cases, seeded random "
        "boxes, empty batches on P5, P6, YOLOv7's anchors and a tiny grid, all under --rule; "
        "with --family tal, seeded TAL batches of every edge kind on five problems), check "
        "every single-call invariant and diff the output with the reference. Exit 1 on a "
        "failing finding, or when the assigner declares no case applicable.",
    )
    assigner_and_device(run)
    run.add_argument(
        "--family",
        choices=("anchor", "tal"),
        default="anchor",
        help="the assigner's family: anchor (build_targets, default) or tal (the "
        "task-aligned assigner, TaskAlignedAssigner.forward)",
    )
    rule(run)
    run.add_argument(
        "--reference-semantics",
        choices=("yolov5", "ultralytics", "strict", "none"),
        default=None,
        help="reference to diff against (default: yolov5; ultralytics with --family tal)",
    )
    # the default assigner and rule are the family's
    run.set_defaults(assigner=None, rule=None)
    run.add_argument("--strict", action="store_true", help="quirk findings fail too")
    run.add_argument("--seed", type=int, default=0, help="seed of the random cases (default 0)")
    run.add_argument(
        "--json",
        type=Path,
        default=Path("reports/check.json"),
        help="where to write the findings (default: reports/check.json)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="print every finding")
    run.set_defaults(run=_check)

    bench.add_command(sub)

    snap = sub.add_parser(
        "snapshot",
        help="record an assigner's assignment of the fixed corpus as a golden snapshot",
        description="Record the assignment of a fixed, seeded corpus (the edge-case corpus and "
        "the fixture photo's boxes) in a diffable text file; the contract's --golden FILE "
        "then fails on any changed row.",
    )
    assigner_and_device(snap)
    rule(snap)
    snap.add_argument("--out", type=Path, required=True, help="the snapshot file to write")
    snap.set_defaults(run=_snapshot)

    table = sub.add_parser("invariants", help="list the invariants, their severity and meaning")
    table.set_defaults(run=_invariants)


def _check(args: argparse.Namespace) -> int:
    import torch

    from ..corpus import corpus
    from ..diagnose import run_corpus

    writable(args.json)  # before the corpus runs, not after
    (device,) = resolve_devices([args.device])
    if not 0 <= args.seed < 2**64:  # torch's generator takes no more
        raise DiagnosticsError(f"--seed {args.seed}: must be in [0, 2**64)")
    if args.family == "tal":
        from .tal import check_tal

        return check_tal(args, device)
    if args.reference_semantics == "ultralytics":
        raise DiagnosticsError(
            "--reference-semantics ultralytics: the anchor family's reference takes yolov5, "
            "strict or none (ultralytics is --family tal's)"
        )
    args.assigner = args.assigner or DEFAULT_ASSIGNER
    args.rule = args.rule or DEFAULT_RULE
    args.reference_semantics = args.reference_semantics or "yolov5"
    factory = load_factory(args.assigner)
    reference = None if args.reference_semantics == "none" else args.reference_semantics
    print(
        f"yolo-diagnostics check: assigner={args.assigner} rule={args.rule} device={device} "
        f"torch={torch.__version__} reference={args.reference_semantics} "
        f"strict={args.strict} seed={args.seed}"
    )
    results = run_corpus(
        factory,
        corpus(args.seed, args.rule),
        torch.device(device),
        reference=reference,
        strict=args.strict,
    )

    width = max(len(r.case) for r in results)
    print(f"{'case':<{width}}  targets   rows  error  quirk  info")
    totals: Counter[tuple[str, str]] = Counter()
    for r in results:
        sev = Counter(v.severity for v in r.violations)
        if r.not_applicable is not None:
            print(f"{r.case:<{width}}  {r.targets:7d}    n/a  not applicable: {r.not_applicable}")
            continue
        status = f"  CRASH {r.crash}" if r.crash else ""
        print(
            f"{r.case:<{width}}  {r.targets:7d}  {r.rows:5d}  {sev['error']:5d}  "
            f"{sev['quirk']:5d}  {sev['info']:4d}{status}"
        )
        for v in r.violations:
            totals[(v.check, v.severity)] += 1
            if args.verbose or v.fails:
                print(f"    {v}")
    print("findings per check:")
    for (check_id, severity), n in sorted(totals.items()):
        print(f"  {check_id:<17} {severity:<5} {n:3d} case-level finding(s)")
    failed = [r.case for r in results if r.failed]
    applicable = [r for r in results if r.not_applicable is None]

    write_atomic(
        args.json,
        json.dumps(
            {
                "assigner": args.assigner,
                "device": device,
                "torch": torch.__version__,
                "rule": args.rule,
                "reference": args.reference_semantics,
                "strict": args.strict,
                "seed": args.seed,
                "cases": [r.as_dict() for r in results],
            },
            indent=1,
        ),
    )
    skipped = len(results) - len(applicable)
    if failed:
        verdict = f"FAIL ({len(failed)} of {len(applicable)} applicable cases)"
    elif not applicable:
        verdict = f"FAIL (the assigner declared none of the {len(results)} cases applicable)"
    else:
        verdict = "PASS"
    if skipped:
        verdict += f"; {skipped} case(s) not applicable to the assigner"
    print(f"result: {verdict}; findings written to {args.json}")
    return 1 if failed or not applicable else 0


def _snapshot(args: argparse.Namespace) -> int:
    from ..snapshot import record, snapshot_corpus, write

    writable(args.out)
    (device,) = resolve_devices([args.device])
    factory = load_factory(args.assigner)
    try:
        cases = record(factory, device, args.rule)
    except DiagnosticsError as error:  # it raised, or returned no build_targets output
        raise DiagnosticsError(f"assigner {args.assigner!r}: {error}") from None
    if not cases:
        raise DiagnosticsError(
            f"assigner {args.assigner!r}: declared no case of rule {args.rule!r} applicable"
        )
    write(args.out, args.assigner, cases)
    rows = sum(len(c.rows) for c in cases)
    left_out = len(snapshot_corpus(args.rule)) - len(cases)
    note = f" ({left_out} not applicable to it, left out)" if left_out else ""
    print(
        f"snapshot of {args.assigner} on {device}, rule {args.rule}: {len(cases)} cases{note}, "
        f"{rows} rows -> {args.out}"
    )
    return 0


def replay_case(args: argparse.Namespace) -> int:
    """``show CASE.json``: run a saved failing case again and draw its overlay.

    A case file is input like any other: what is wrong with it (the device it names, an
    input too large to draw, fields its property cannot run with) is one `DiagnosticsError`
    naming the file.
    """
    from torch import device as torch_device

    from ..contract.cases import case_from_data
    from ..contract.properties import PROPERTIES, ContractFailure, ContractOptions
    from ..report.contract import load_case, overlay

    out = args.out or Path("reports") / (args.case.stem + ".png")
    writable(out)
    content = load_case(args.case)
    if content["case"].get("family") == "tal":
        from .tal import replay_tal_case

        return replay_tal_case(args, content, out)
    spec = args.assigner or content["assigner"]
    prop, saved_on, case = case_from_data(content["case"])
    device = args.device or saved_on  # --device replays elsewhere than the case ran
    if prop == "device" and args.device is not None and torch_device(device).type == "cpu":
        raise DiagnosticsError(
            f"{args.case}: a 'device' case compares the CPU with {saved_on}; --device "
            f"{args.device} would compare the CPU with itself"
        )
    if prop not in PROPERTIES:
        raise DiagnosticsError(
            f"{args.case}: a {prop!r} case replays only in the contract (--golden)"
        )
    h, w = case["problem"].img_size
    if max(h, w) > MAX_REPLAY_SIDE:
        raise DiagnosticsError(
            f"{args.case}: the case's input {h}x{w} is too large to draw "
            f"(at most {MAX_REPLAY_SIDE} px a side)"
        )
    if args.device is not None:
        devices = resolve_devices(["cpu", args.device])
    else:
        try:
            devices = resolve_devices(["cpu", device], option="device")
        except DiagnosticsError as error:
            raise DiagnosticsError(f"{args.case}: the case's {error}") from None
    device = devices[-1]
    try:
        factory = load_factory(spec)
    except DiagnosticsError as error:
        if args.assigner:
            raise
        raise DiagnosticsError(f"{args.case}: the case's {error}") from None
    options = ContractOptions(
        factory=factory,
        assigner=spec,
        devices=devices,
        strict=bool(content.get("strict", False)),
        reference=content.get("reference"),
        rule=case["problem"].rule,
    )
    failure: ContractFailure | None = None
    try:
        PROPERTIES[prop].run(options, device, case)
    except ContractFailure as error:
        failure = error
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as error:
        # the assigner's own errors are ContractFailures (`call`): these are the case's fields
        raise DiagnosticsError(
            f"{args.case}: the {prop!r} case does not run: {type(error).__name__}: {error}"
        ) from None
    found = overlay(options, device, case, failure)
    write_atomic(out, found.png)
    print(
        f"case {args.case}: property {prop} on {device}, assigner {spec}, "
        f"{len(case['targets'])} target(s)"
    )
    if failure is None:
        print("passes now")
    else:
        print(f"fails: [{failure.check}] {failure.message}")
        for v in found.violations:
            if v.fails:
                print(f"    {v}")
    print(f"overlay written to {out}")
    return 0 if failure is None else 1


def _invariants(args: argparse.Namespace) -> int:
    from ..invariants import INVARIANTS

    for inv in INVARIANTS.values():
        scope = "one call" if inv.single_call else "several calls"
        print(f"{inv.id:<17} {inv.severity:<5} {scope:<13} {inv.meaning}")
    return 0
