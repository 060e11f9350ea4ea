"""Commands for datasets: ``scan``, ``synth``, and the image views of ``show``."""

from __future__ import annotations

import argparse
import os
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..devices import resolve_devices
from ..errors import DiagnosticsError
from ..files import make_folder, writable, write_atomic
from . import common
from .inputs import (
    anchor_options,
    check_outputs,
    load,
    problem_of,
    progress_bar,
    tal_presets,
    write_pages,
)

if TYPE_CHECKING:
    from ..data import BoxDataset


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``scan`` and ``synth`` on the subcommand parser ``sub``."""
    scan = sub.add_parser(
        "scan",
        help="scan a dataset: which boxes get no positive and why, per level, per image; "
        "an HTML report",
        description="Run every box of a COCO or YOLO dataset through YOLOv5's input pipeline "
        "(no augmentation) and the reference assignment; write a JSON summary and a "
        "browsable HTML report. With no dataset, scans the bundled sample. With --family tal, "
        "count each box's candidates of the task-aligned assigner (YOLOv8/YOLO11/YOLO26) "
        "instead: the anchor points inside it, where small objects are lost.",
    )
    dataset_options(scan)
    scan.add_argument(
        "--family",
        choices=("anchor", "tal"),
        default="anchor",
        help="anchor: YOLOv5's build_targets (default); tal: the task-aligned assigner's "
        "candidate set (--anchors, --anchor-t and --semantics do not apply)",
    )
    scan.add_argument(
        "--tal-preset",
        choices=tal_presets(),
        default=None,
        metavar="PRESET",
        help="with --family tal: the TalProblem preset: strides, topk and small-box floor "
        f"({', '.join(tal_presets())}; default ultralytics)",
    )
    scan.add_argument(
        "--scale-aug",
        type=float,
        default=0.5,
        metavar="S",
        help="YOLOv5's hyp.scale: also report recall with boxes x(1-S) and x(1+S) (default 0.5)",
    )
    scan.add_argument(
        "--out",
        type=Path,
        default=Path("reports/scan"),
        help="report folder (default: reports/scan)",
    )
    scan.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the JSON summary here (it is always in the report folder)",
    )
    scan.add_argument(
        "--pages",
        type=int,
        default=200,
        metavar="N",
        help="per-image pages for the N images most worth a look (default 200)",
    )
    scan.add_argument(
        "--fail-under-bpr",
        type=float,
        default=None,
        metavar="X",
        help="exit 1 when the realized recall is below X (a CI gate)",
    )
    scan.add_argument(
        "--on-bad-annotation",
        choices=("fail", "skip"),
        default="skip",
        help="stop at the first bad annotation or image file (fail), or leave it out, "
        "counted and named in the report (skip, the default); crowd annotations are always "
        "left out",
    )
    scan.add_argument(
        "--workers",
        type=int,
        default=min(8, os.cpu_count() or 1),
        metavar="N",
        help="threads checking image files and drawing pages",
    )
    scan.set_defaults(run=_scan)

    synth = sub.add_parser(
        "synth",
        help="write a synthetic COCO-like dataset (for scale tests)",
        description="Write a deterministic COCO instances JSON with COCO-like image and box "
        "sizes (41 %% small, 34 %% medium, 24 %% large by area) and no image files.",
    )
    synth.add_argument("--images", type=int, default=100_000, help="images (default 100000)")
    synth.add_argument("--boxes", type=int, default=1_000_000, help="boxes (default 1000000)")
    synth.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    synth.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    synth.set_defaults(run=_synth)


def dataset_options(parser: argparse.ArgumentParser, *, show: bool = False) -> None:
    """The dataset and problem options ``scan`` and ``show`` share."""
    group = parser.add_argument_group("dataset")
    group.add_argument("--coco", type=Path, metavar="ANN.json", help="a COCO instances JSON")
    group.add_argument(
        "--images",
        type=Path,
        metavar="DIR",
        help="the folder of the COCO file's images: each is checked as YOLOv5 checks it "
        "(one it would not train on is left out) and drawn in the per-image views",
    )
    if show:
        group.add_argument("--image-id", metavar="N", help="the COCO image id to show")
        group.add_argument(
            "--yolo",
            type=Path,
            metavar="IMAGE",
            help="an image of a YOLO dataset (its labels/ file beside images/)",
        )
        group.add_argument(
            "--names",
            type=Path,
            metavar="data.yaml",
            help="class names for --yolo, from a YOLOv5 data YAML",
        )
        parser.set_defaults(split="train", workers=1)  # one image: no split, no threads
    else:
        group.add_argument(
            "--yolo",
            type=Path,
            metavar="DIR|data.yaml",
            help="a YOLO dataset folder (images/, labels/) or a YOLOv5 data YAML",
        )
        group.add_argument("--split", default="train", help="the data YAML's split (train)")
    group = parser.add_argument_group("assignment")
    common.input_and_anchors(group)
    group.add_argument(
        "--semantics",
        choices=("yolov5", "strict"),
        default="yolov5",
        help="the reference's semantics (default yolov5)",
    )
    common.device(group)
    # None until given, so that --family tal can refuse them (`anchor_options` fills them in)
    parser.set_defaults(anchors=None, anchor_t=None, semantics=None)


def _scan(args: argparse.Namespace) -> int:
    if args.family == "tal":
        from .tal_scan import scan_tal

        return scan_tal(args)
    if args.tal_preset is not None:
        raise DiagnosticsError("--tal-preset applies to --family tal only")
    from ..report.dataset import write_report
    from ..scan import scan_dataset, summary

    check_outputs(args)
    (device,) = resolve_devices([args.device])
    problem = problem_of(args)
    start = time.perf_counter()
    args.finished = "nothing (loading the dataset)"
    dataset = load(args)
    load_seconds = time.perf_counter() - start
    args.finished = f"loading {dataset.num_images:,} images"
    print(
        f"yolo-diagnostics scan: {dataset.source}: {dataset.num_images:,} images"
        + (f" ({len(dataset.skipped_images):,} left out)" if dataset.skipped_images else "")
        + f", {dataset.num_boxes:,} boxes; input {problem.img_size[0]}x{problem.img_size[1]}, "
        f"anchors {args.anchors}, anchor_t {problem.anchor_t:g}, {args.semantics} semantics, "
        f"{device}"
    )
    with progress_bar(dataset.num_boxes, "assigning", "targets") as bar:
        result = scan_dataset(
            dataset,
            problem,
            semantics=args.semantics,
            scale_aug=args.scale_aug,
            device=device,
            progress=bar.update,
            on_bad_annotation=args.on_bad_annotation,
        )
    result.seconds = {"load": load_seconds, **result.seconds}
    s = summary(result)
    index = write_pages(args, "the assignment", write_report, result, s)
    _print_summary(s, index, args)
    bpr = s["bpr_realized"]
    if args.fail_under_bpr is not None and (bpr is None or bpr < args.fail_under_bpr):
        got = "undefined (no targets)" if bpr is None else f"{bpr}, below"
        print(f"FAIL: bpr_realized {got} --fail-under-bpr {args.fail_under_bpr}")
        return 1
    return 0


def _print_summary(s: dict[str, Any], index: Path, args: argparse.Namespace) -> None:
    skipped = ", ".join(f"{reason}: {n:,}" for reason, n in s["skipped_annotations"].items())
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in s["unmatched_by_reason"].items())
    scales = ", ".join(f"{f}x {_fmt(v)}" for f, v in s["bpr_by_scale"].items())
    seconds = ", ".join(f"{phase} {v:.2f} s" for phase, v in s["seconds"].items())
    print(f"targets {s['targets']:,}" + (f" ({skipped} skipped)" if skipped else ""))
    if s["skipped_images"]:
        left = ", ".join(f"{reason}: {n:,}" for reason, n in s["skipped_images"].items())
        print(f"images left out, as YOLOv5 leaves them out of training: {left}")
    if s["restored_jpegs"]:
        print(
            f"JPEGs YOLOv5 restores (re-saves) and trains on: {s['restored_jpegs']:,} "
            "(no JPEG end marker at their end; named in the report)"
        )
    print(f"unmatched {s['unmatched_targets']:,} ({reasons}); tiny {s['tiny_targets']:,}")
    print(
        f"bpr_realized {_fmt(s['bpr_realized'])}, bpr_autoanchor {_fmt(s['bpr_autoanchor'])}, "
        f"anchors_per_target {_fmt(s['anchors_per_target'])}; at box scale {scales}"
    )
    print(
        f"positives per level {s['positives_per_level']}; duplicates {s['duplicates']:,}; "
        f"collisions {s['collisions']:,}"
    )
    print(f"time: {seconds}")
    print(f"report: {index}  (open {index.resolve().as_uri()} in a browser)")
    print(f"summary: {args.out / 'summary.json'}" + (f", {args.json}" if args.json else ""))


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def show_image(args: argparse.Namespace) -> int:
    """``show --coco ANN.json --image-id N`` / ``show --yolo IMAGE``: the seed notebook's
    views of one image, as PNG files."""
    from ..data import load_coco
    from ..data.yolo import class_names_of
    from ..render.panels import encode_png
    from ..report.views import image_views
    from ..scan import scan_dataset

    writable((args.out or Path("reports/show")) / "view.png")  # before any work
    anchor_options(args)
    (device,) = resolve_devices([args.device])
    problem = problem_of(args)
    if args.coco is not None:
        if args.image_id is None:
            raise DiagnosticsError("show --coco needs --image-id")
        dataset = load_coco(args.coco)  # the JSON alone: one image's file is checked below
        ids = [str(i) for i in dataset.image_ids]
        if args.image_id not in ids:
            raise DiagnosticsError(f"{args.coco}: no image with id {args.image_id}")
        dataset = dataset.subset([ids.index(args.image_id)])
        if args.images is not None:
            dataset = _with_checked_file(dataset, args.images)
    else:
        if args.yolo is None:
            raise DiagnosticsError(
                "show needs a case file, --coco ANN.json --image-id N, or --yolo IMAGE"
            )
        names = None if args.names is None else class_names_of(args.names)
        dataset = load(args, names=names)
    result = scan_dataset(dataset, problem, semantics=args.semantics, device=device)
    views = image_views(result, 0)
    out = make_folder(args.out or Path("reports/show"))
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(dataset.image_files[0]).stem)[:80] or "image"
    print(f"{dataset.image_files[0]} (id {dataset.image_ids[0]}): {len(views.targets)} targets")
    for j, t in enumerate(views.targets):
        fate = f"no positive: {t['reason']}" if t["reason"] else f"positives {t['positives']}"
        w, h = t["input_wh"]
        print(f"  {j:3d} {t['name']:<16} {w:7.1f} x {h:6.1f} px at the input  {fate}")
    for name, figure in views.figures.items():
        path = out / f"{stem}-{name}.png"
        write_atomic(path, encode_png(figure))
        print(f"{name}: {path}")
    if views.missing:
        print(f"note: {views.missing}; the views are drawn on a grey canvas")
    if dataset.restored:
        print("note: a JPEG without its end marker: YOLOv5 restores (re-saves) it, trains on it")
    return 0


def _with_checked_file(dataset: BoxDataset, images: Path) -> BoxDataset:
    """The one-image ``dataset`` with its images folder, once its file is checked as YOLOv5
    checks it; `DiagnosticsError` naming it when YOLOv5 would leave it out."""
    from ..data.boxes import SkippedImage
    from ..data.imagesize import check_image

    dataset = replace(dataset, image_root=images)
    path = dataset.image_path(0)
    check = check_image(path)
    if check.reason is not None:
        image = SkippedImage(check.reason, str(path), dataset.image_ids[0], check.detail, 0)
        raise DiagnosticsError(f"{image.line}; YOLOv5 leaves it out of training")
    return replace(dataset, restored=list(dataset.image_files) if check.restored else [])


def _synth(args: argparse.Namespace) -> int:
    from ..data.synthetic import write_synthetic_coco

    writable(args.out)  # before a million boxes are drawn
    path = write_synthetic_coco(args.out, args.images, args.boxes, args.seed)
    print(f"synthetic COCO dataset: {args.images:,} images, {args.boxes:,} boxes -> {path}")
    return 0
