"""``bench assign --family tal``: the task-aligned family's side of ``bench assign``.

The anchor family's options (``--nt``, ``--img-size``, ``--anchors``, ``--anchor-t``) do not
apply and are refused in one line; a row is ``--rows PX:GTS``.
"""

from __future__ import annotations

import argparse

from ..assigners import DEFAULT_ASSIGNER
from ..devices import resolve_devices
from ..errors import DiagnosticsError
from .inputs import print_bench

_ANCHOR_ONLY = ("nt", "img_size", "anchors", "anchor_t")


def bench_tal(args: argparse.Namespace) -> int:
    """Print the TAL tables, write ``--json``; exit 0 (no speed is gated). ``--repeats``
    and ``--threads`` are checked and applied by ``bench assign`` for both families."""
    import torch

    from ..bench.tal import ROWS, TalBench, format_tal_tables, run
    from ..tal.problem import TAL_PRESETS

    given = [f"--{n.replace('_', '-')}" for n in _ANCHOR_ONLY if getattr(args, n) is not None]
    if given:
        raise DiagnosticsError(
            f"{', '.join(given)}: the anchor family's, not --family tal's (its rows are "
            "--rows PX:GTS, its problem --tal-preset)"
        )
    preset = args.tal_preset or "ultralytics"
    if preset not in TAL_PRESETS:
        raise DiagnosticsError(
            f"--tal-preset: expected one of {', '.join(TAL_PRESETS)}, got {preset!r}"
        )
    rows = ROWS if args.rows is None else tuple(_row(text) for text in args.rows)
    num_classes = 80 if args.num_classes is None else args.num_classes
    for flag, value in (("--num-classes", num_classes), ("--batch-size", args.batch_size)):
        if value < 1:
            raise DiagnosticsError(f"{flag}: expected >= 1, got {value}")
    (device,) = resolve_devices([args.device])
    assigner = getattr(args, "assigner", None)
    config = TalBench(
        preset=preset,
        rows=rows,
        batch_size=args.batch_size,
        num_classes=num_classes,
        device=str(device),
        repeats=args.repeats,
        budget_s=args.budget,
        seed=args.seed,
        assigner=None if assigner == DEFAULT_ASSIGNER else assigner,
    )
    for side, gts in rows:  # every row's problem before minutes of timing, not after
        try:
            config.problem(side)
        except DiagnosticsError as error:
            raise DiagnosticsError(f"--rows {side}:{gts}: {error}") from None
    print(
        f"yolo-diagnostics bench assign: family=tal device={device} torch={torch.__version__} "
        f"threads={torch.get_num_threads()} batch={args.batch_size} classes={num_classes} "
        f"preset={preset} seed={args.seed} repeats<={args.repeats} budget={args.budget:g}s/row"
    )
    result = run(config, progress=print)
    print_bench(result, format_tal_tables(result), 12, args.json)
    return 0


def _row(text: str) -> tuple[int, int]:
    """``PX:GTS`` as ``(side, gts)``: two whole numbers, side > 0, gts >= 0."""
    side, sep, gts = text.partition(":")
    try:
        row = int(side), int(gts)
    except ValueError:
        row = None
    if not sep or row is None or row[0] < 1 or row[1] < 0:
        raise DiagnosticsError(f"--rows: expected PX:GTS, PX > 0 and GTS >= 0, got {text!r}")
    return row
