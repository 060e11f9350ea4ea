"""``check --family tal``: the task-aligned family's side of the ``check`` command."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from ..assigners import load_factory
from ..errors import DiagnosticsError
from ..files import write_atomic

DEFAULT_TAL_ASSIGNER = "yolo_diagnostics.tal.reference:make_assigner"


def check_tal(args: argparse.Namespace, device: str) -> int:
    """Run a TAL assigner over the TAL corpus; the same output, JSON and exit codes as the
    anchor family's ``check``."""
    import torch

    from ..tal.diagnose import corpus, run_corpus

    if args.rule is not None:
        raise DiagnosticsError("--rule: the anchor family's neighbour rule; TAL has none")
    if args.reference_semantics == "yolov5":
        raise DiagnosticsError(
            "--reference-semantics yolov5: the TAL reference takes ultralytics, strict or none"
        )
    args.assigner = args.assigner or DEFAULT_TAL_ASSIGNER
    semantics = args.reference_semantics or "ultralytics"
    factory = load_factory(args.assigner)
    reference = None if semantics == "none" else semantics
    print(
        f"yolo-diagnostics check: family=tal assigner={args.assigner} device={device} "
        f"torch={torch.__version__} reference={semantics} strict={args.strict} seed={args.seed}"
    )
    results = run_corpus(
        factory, corpus(args.seed), torch.device(device), reference=reference, strict=args.strict
    )
    width = max(len(r.case) for r in results)
    print(f"{'case':<{width}}  GTs  positives  error  quirk  info")
    totals: Counter[tuple[str, str]] = Counter()
    for r in results:
        if r.not_applicable is not None:
            print(f"{r.case:<{width}}  {r.gts:3d}        n/a  not applicable: {r.not_applicable}")
            continue
        sev = Counter(v.severity for v in r.violations)
        status = f"  CRASH {r.crash}" if r.crash else ""
        print(
            f"{r.case:<{width}}  {r.gts:3d}  {r.positives:9d}  {sev['error']:5d}  "
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
    content = {
        "family": "tal",
        "assigner": args.assigner,
        "device": device,
        "torch": torch.__version__,
        "reference": semantics,
        "strict": args.strict,
        "seed": args.seed,
        "cases": [r.as_dict() for r in results],
    }
    write_atomic(args.json, json.dumps(content, indent=1))
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


def replay_tal_case(args: argparse.Namespace, content: dict, out: Path) -> int:
    """``show CASE.json`` for a TAL case: run its property again, print what fails (exit 1)
    or ``passes now`` (exit 0), and write its overlay (and the close-up beside it, when the
    input is large enough to need one)."""
    from ..devices import resolve_devices
    from ..harness.property import ContractFailure
    from ..report.tal import tal_overlay
    from ..tal.contract.cases import case_from_data
    from ..tal.contract.properties import PROPERTIES, TalContractOptions

    prop, saved_on, case = case_from_data(content["case"])
    if prop not in PROPERTIES:
        raise DiagnosticsError(f"{args.case}: unknown TAL property {prop!r}")
    spec = args.assigner or content["assigner"]
    if args.device is not None:
        devices = resolve_devices(["cpu", args.device])
    else:
        try:
            devices = resolve_devices(["cpu", saved_on], option="device")
        except DiagnosticsError as error:
            raise DiagnosticsError(f"{args.case}: the case's {error}") from None
    device = devices[-1]
    if prop == "device" and device == "cpu":
        raise DiagnosticsError(
            f"{args.case}: a 'device' case compares the CPU with {saved_on}; it needs "
            "--device naming that device"
        )
    try:
        factory = load_factory(spec)
    except DiagnosticsError as error:
        if args.assigner:
            raise
        raise DiagnosticsError(f"{args.case}: the case's {error}") from None
    options = TalContractOptions(
        factory=factory,
        assigner=spec,
        devices=devices,
        strict=bool(content.get("strict", False)),
        reference=content.get("reference"),
    )
    failure: ContractFailure | None = None
    try:
        found = PROPERTIES[prop].run(options, device, case)
    except ContractFailure as error:
        failure, found = error, []
    drawn = tal_overlay(options, device, case)
    write_atomic(out, drawn.png)
    closeup = out.with_name(out.stem + "-closeup.png") if drawn.closeup else None
    if closeup is not None:
        write_atomic(closeup, drawn.closeup)
    problem = case["problem"]
    print(
        f"case {args.case}: TAL property {prop} on {device}, assigner {spec}, "
        f"{problem.batch_size} image(s) of {problem.img_size[0]}x{problem.img_size[1]}, "
        f"{int(case['mask_gt'].sum())} GT(s)"
    )
    if failure is None:
        print("passes now")
        for v in found:
            print(f"    {v}")
    else:
        print(f"fails: [{failure.check}] {failure.message}")
        for v in drawn.violations:
            print(f"    {v}")
    print(f"overlay of image {drawn.image} written to {out}")
    if closeup is not None:
        print(f"close-up written to {closeup}")
    return 0 if failure is None else 1
