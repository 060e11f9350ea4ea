"""Arguments several commands share."""

from __future__ import annotations

import argparse

from ..assigners import DEFAULT_ASSIGNER
from ..rules import DEFAULT_RULE, RULES


def assigner_and_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--assigner",
        default=DEFAULT_ASSIGNER,
        metavar="MODULE:FACTORY",
        help=f"assigner factory (default: {DEFAULT_ASSIGNER})",
    )
    device(parser)


def rule(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rule",
        choices=tuple(RULES),
        default=DEFAULT_RULE,
        help="the neighbour rule the assigner implements; problems are drawn under it "
        f"(default {DEFAULT_RULE})",
    )


def device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")


def input_and_anchors(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--img-size``, ``--anchors`` and ``--anchor-t``: the problem of a dataset or a bench."""
    parser.add_argument(
        "--img-size",
        type=int,
        nargs="+",
        default=[640],
        metavar="PX",
        help="network input: S (square) or H W (default 640)",
    )
    parser.add_argument(
        "--anchors",
        default="yolov5-p5",
        metavar="PRESET|FILE",
        help="a Problem preset (yolov5-p5, yolov5-p6, yolov3, yolov7) or a "
        "YOLOv5 model YAML with anchors: (default yolov5-p5)",
    )
    parser.add_argument("--anchor-t", type=float, default=4.0, help="anchor_t (default 4.0)")
