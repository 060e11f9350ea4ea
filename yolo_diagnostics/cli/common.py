"""Arguments several commands share."""

from __future__ import annotations

import argparse

from ..assigners import DEFAULT_ASSIGNER


def assigner_and_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--assigner",
        default=DEFAULT_ASSIGNER,
        metavar="MODULE:FACTORY",
        help=f"assigner factory (default: {DEFAULT_ASSIGNER})",
    )
    device(parser)


def device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
