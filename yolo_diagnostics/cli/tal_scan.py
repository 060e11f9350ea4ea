"""``yolo-diagnostics scan --family tal``: the task-aligned assigner's candidate set of a dataset.

The same loaders, letterbox, options and report frame as the anchor scan (`cli.dataset`);
the anchor family's options (``--anchors``, ``--anchor-t``, ``--semantics``) and its CI gate
(``--fail-under-bpr``) do not apply and are refused in one line.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..devices import resolve_devices
from ..errors import DiagnosticsError
from .inputs import anchor_options, check_outputs, img_size, load, progress_bar, write_pages

DEFAULT_PRESET = "ultralytics"


def scan_tal(args: argparse.Namespace) -> int:
    """Scan the dataset the options name for TAL's candidates; write the report."""
    from ..report.tal_dataset import write_tal_report
    from ..scan.tal import scan_dataset_tal
    from ..scan.tal_summary import tal_summary
    from ..tal.problem import TalProblem

    given = anchor_options(args)
    if args.fail_under_bpr is not None:
        given.append("--fail-under-bpr")
    if given:
        raise DiagnosticsError(
            f"{', '.join(given)}: the anchor family's, not --family tal's (its problem is "
            "--tal-preset and --img-size)"
        )
    check_outputs(args)
    (device,) = resolve_devices([args.device])
    preset = args.tal_preset or DEFAULT_PRESET
    problem = TalProblem.preset(preset, img_size=img_size(args))
    start = time.perf_counter()
    args.finished = "nothing (loading the dataset)"
    dataset = load(args)
    load_seconds = time.perf_counter() - start
    args.finished = f"loading {dataset.num_images:,} images"
    h, w = problem.img_size
    floor = (
        f"floor {problem.stal_side:g} px under {problem.stal_below:g} px"
        if problem.stal
        else "no floor"
    )
    print(
        f"yolo-diagnostics scan --family tal: {dataset.source}: {dataset.num_images:,} images"
        + (f" ({len(dataset.skipped_images):,} left out)" if dataset.skipped_images else "")
        + f", {dataset.num_boxes:,} boxes; input {h}x{w}, preset {preset} (strides "
        f"{', '.join(map(str, problem.strides))}, topk {problem.topk}, {floor}), {device}"
    )
    with progress_bar(dataset.num_boxes, "counting candidates", "targets") as bar:
        result = scan_dataset_tal(
            dataset,
            problem,
            preset=preset,
            scale_aug=args.scale_aug,
            device=device,
            progress=bar.update,
            on_bad_annotation=args.on_bad_annotation,
        )
    result.seconds = {"load": load_seconds, **result.seconds}
    s = tal_summary(result)
    index = write_pages(args, "the candidates", write_tal_report, result, s)
    _print_summary(s, index, args)
    return 0


def _print_summary(s: dict[str, Any], index: Any, args: argparse.Namespace) -> None:
    skipped = ", ".join(f"{reason}: {n:,}" for reason, n in s["skipped_annotations"].items())
    print(f"targets {s['targets']:,}" + (f" ({skipped} skipped)" if skipped else ""))
    if s["skipped_images"]:
        left = ", ".join(f"{reason}: {n:,}" for reason, n in s["skipped_images"].items())
        print(f"images left out, as YOLOv5 leaves them out of training: {left}")
    if s["restored_jpegs"]:
        print(f"JPEGs YOLOv5 restores (re-saves) and trains on: {s['restored_jpegs']:,}")
    topk = s["config"]["topk"]
    rows = [("", "")] + ([("_without_floor", " without the floor")] if s["config"]["stal"] else [])
    for suffix, name in rows:
        scales = ", ".join(
            f"{f}x {v['targets_without_candidates']:,}/{v['targets_below_topk']:,}"
            for f, v in s["candidates_by_scale" + suffix].items()
        )
        print(
            f"without a candidate{name} {s['targets_without_candidates' + suffix]:,}, "
            f"below topk {topk} {s['targets_below_topk' + suffix]:,}; "
            f"per level {s['candidates_per_level' + suffix]}; at box scale {scales}"
        )
    print(f"floored targets {s['floored_targets']:,}")
    seconds = ", ".join(f"{phase} {v:.2f} s" for phase, v in s["seconds"].items())
    print(f"time: {seconds}")
    print(f"report: {index}  (open {index.resolve().as_uri()} in a browser)")
    print(f"summary: {args.out / 'summary.json'}" + (f", {args.json}" if args.json else ""))
