"""What the dataset commands read from their options: the problem, the dataset, where the
outputs go -- shared by ``scan`` of both families (`dataset`, `tal_scan`) and ``bench``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from ..errors import DiagnosticsError
from ..files import writable, write_atomic

ANCHOR_DEFAULTS = {"anchors": "yolov5-p5", "anchor_t": 4.0, "semantics": "yolov5"}


def anchor_options(args: argparse.Namespace) -> list[str]:
    """Fill the anchor family's options left unset with their defaults; returns the options
    given on the command line (as ``--name``)."""
    given = [name for name in ANCHOR_DEFAULTS if getattr(args, name, None) is not None]
    for name, default in ANCHOR_DEFAULTS.items():
        if getattr(args, name, None) is None and hasattr(args, name):  # bench has no semantics
            setattr(args, name, default)
    return ["--" + name.replace("_", "-") for name in given]


def tal_presets() -> tuple[str, ...]:
    """The TAL presets ``--tal-preset`` takes."""
    from ..tal.problem import TAL_PRESETS

    return tuple(TAL_PRESETS)


def img_size(args: argparse.Namespace) -> tuple[int, int]:
    """``--img-size`` as ``(H, W)``."""
    if len(args.img_size) not in (1, 2):
        raise DiagnosticsError(f"--img-size: expected S or H W, got {args.img_size}")
    h, w = tuple(args.img_size) * (3 - len(args.img_size))
    return h, w


def problem_of(args: argparse.Namespace):
    """The `Problem` the options describe."""
    from ..problem import Problem, anchor_set

    anchor_options(args)
    strides, anchors = anchor_set(args.anchors)
    return Problem(
        img_size=img_size(args), strides=strides, anchors=anchors, anchor_t=args.anchor_t
    )


def check_outputs(args: argparse.Namespace) -> None:
    """The output paths and the report's counts, before any work."""
    writable(args.out / "summary.json")
    if args.json is not None:
        writable(args.json)
    if args.pages < 0 or args.workers < 1:
        raise DiagnosticsError("--pages must be >= 0 and --workers >= 1")


def load(args: argparse.Namespace, *, names: tuple[str, ...] | None = None):
    """The dataset the options name; the bundled sample when they name none."""
    from ..data import load_coco, load_yolo
    from ..data.sample import SAMPLE_COCO, SAMPLE_IMAGES

    if args.coco is not None and args.yolo is not None:
        raise DiagnosticsError("give --coco or --yolo, not both")
    if args.coco is not None and args.images is None:
        return load_coco(args.coco)
    with progress_bar(None, "checking image files", "images") as bar:
        if args.coco is not None:
            return load_coco(args.coco, args.images, workers=args.workers, progress=bar.update)
        if args.yolo is not None:
            return load_yolo(
                args.yolo,
                split=args.split,
                names=names,
                workers=args.workers,
                progress=bar.update,
            )
        return load_coco(SAMPLE_COCO, SAMPLE_IMAGES, workers=args.workers, progress=bar.update)


def progress_bar(total: int | None, desc: str, unit: str) -> tqdm:
    """A progress bar on stderr, shown only on a terminal."""
    return tqdm(total=total, desc=desc, unit=f" {unit}", disable=None, leave=False)


def write_pages(
    args: argparse.Namespace, done: str, write: Callable[..., Any], result: Any, s: dict
) -> Any:
    """Draw a scan's report with ``write(result, s, out, pages=, workers=, command=,
    progress=)`` (`report.write_report` or `report.write_tal_report`) under a progress bar,
    keeping ``args.finished`` (what an interrupt leaves: ``done`` -- "the assignment", "the
    candidates" -- and the pages drawn) current, then the ``--json`` summary; returns the
    report's index page."""
    total, drawn = min(args.pages, result.dataset.num_images), 0

    def page_done(n: int) -> None:
        nonlocal drawn
        drawn += n
        bar.update(n)
        args.finished = f"{done} and {drawn:,} of {total:,} pages (not moved into place)"

    args.finished = f"{done}, no page"
    with progress_bar(total, "pages", "pages") as bar:
        index = write(
            result,
            s,
            args.out,
            pages=args.pages,
            workers=args.workers,
            command=" ".join(["yolo-diagnostics", *args.argv]),
            progress=page_done,
        )
    args.finished = f"the report in {args.out}"
    if args.json is not None:
        write_atomic(args.json, json.dumps(s, indent=1))
    return index


def print_bench(result: Any, tables: str, width: int, json_path: Any) -> None:
    """A ``bench assign`` run's end, either family: what was skipped and why, each timed
    implementation (names padded to ``width``), the ``tables``, then ``--json``
    (``result.as_dict()``) when asked for."""
    for name, why in result.skipped.items():
        print(f"skipped {name}: {why}")
    for name, what in result.implementations.items():
        print(f"  {name:<{width}} {what}")
    print(tables)
    if json_path is not None:
        write_atomic(json_path, json.dumps(result.as_dict(), indent=1))
        print(f"figures written to {json_path}")
