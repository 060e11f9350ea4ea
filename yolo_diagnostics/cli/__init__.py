"""Command line: ``yolo-diagnostics scan | show | check | bench | snapshot | synth | invariants``.

- `dataset`: ``scan`` (a dataset's assignment and its HTML report), ``synth``, and ``show``'s
  views of one image;
- `contract`: ``check``, ``bench``, ``snapshot``, ``invariants`` and ``show``'s case replay.
- `bench`: ``bench [contract]`` (the contract's speed) and ``bench assign`` (build_targets').

Bad input is one line on stderr and exit code 2, never a traceback; a line break or another
control character in it (from a file name, say) is shown escaped, never sent to the terminal.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import DiagnosticsError
from . import contract, dataset


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like SIGINT's KeyboardInterrupt, so that a command
    unwinds (staged report files removed, partial files deleted) instead of dying mid-write."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    args.finished = ""  # what a command had finished, said when it is interrupted
    previous = _on_sigterm()
    try:
        return args.run(args)
    except ValueError as error:  # bad input from the user: one line, no traceback
        parser.exit(2, f"yolo-diagnostics: error: {printable(str(error))}\n")
    except KeyboardInterrupt as interrupt:
        name, code = ("SIGTERM", 143) if isinstance(interrupt, Terminated) else ("SIGINT", 130)
        done = f"; it had finished {args.finished}" if args.finished else ""
        parser.exit(code, f"yolo-diagnostics: interrupted by {name}{done}; nothing half-written\n")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def printable(text: str) -> str:
    """``text`` with each unprintable character (line breaks, escape sequences) written as
    its Python escape, so that it stays one harmless line."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _on_sigterm() -> signal.Handlers | None:
    """Turn SIGTERM into `Terminated` while a command runs; the previous handler, or None
    outside the main thread (where handlers cannot be set)."""

    def terminate(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, terminate)
    except ValueError:
        return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yolo-diagnostics",
        description="Diagnostics for the anchor-target assignment (build_targets) of YOLO.",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    dataset.add_commands(sub)
    show = sub.add_parser(
        "show",
        help="one image's views (GT, network input, assignment), or replay a saved case",
        description="With --coco ANN.json --image-id N or --yolo IMAGE: write the seed "
        "notebook's views of that image (GT on the original image, GT on the letterboxed "
        "input, the assignment per level) as PNGs and print each target's fate. With a case "
        "file saved by the contract (reports/cases/*.json): run the failing property again, "
        "print what fails, write the overlay; exit 1 while it still fails, 0 once it passes.",
    )
    show.add_argument("case", type=Path, nargs="?", help="a case file saved by the contract")
    show.add_argument(
        "--assigner",
        default=None,
        metavar="MODULE:FACTORY",
        help="assigner to replay a case with (default: the case file's)",
    )
    show.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the case's overlay PNG (default reports/<case name>.png), or the folder of an "
        "image's views (default reports/show)",
    )
    dataset.dataset_options(show, show=True)
    # a case replays on the device it was saved from unless --device names another
    show.set_defaults(run=_show, device=None)
    contract.add_commands(sub)
    return parser


def _show(args: argparse.Namespace) -> int:
    if args.case is not None:
        if args.coco is not None or args.yolo is not None:
            raise DiagnosticsError("show takes a case file or --coco/--yolo, not both")
        return contract.replay_case(args)
    args.device = args.device or "cpu"
    return dataset.show_image(args)
