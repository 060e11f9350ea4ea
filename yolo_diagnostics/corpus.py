"""A fixed, seeded corpus of assignment problems and target sets, edge cases first.

The same cases every run: the built-in diagnostic (`yolo-diagnostics check`) runs an
assigner over them, so a result can be compared across runs and machines.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .problem import Problem
from .rules import DEFAULT_RULE


@dataclass(frozen=True)
class Case:
    """One problem and its targets ``Tensor[nt, 6]`` (float32, CPU)."""

    name: str
    problem: Problem
    targets: Tensor


def problems(rule: str = DEFAULT_RULE) -> dict[str, Problem]:
    """The corpus's problems, each under ``rule``: P5 at 640, P6 at 384x640, YOLOv7's anchors
    at 320x608 and a one-level grid of 4x8 cells with two anchors."""
    return {
        "yolov5-p5-640": Problem.preset("yolov5-p5", batch_size=4, rule=rule),
        "yolov5-p6-384x640": Problem.preset(
            "yolov5-p6", img_size=(384, 640), batch_size=2, rule=rule
        ),
        "yolov7-320x608": Problem.preset("yolov7", img_size=(320, 608), batch_size=2, rule=rule),
        "grid-4x8": Problem(
            img_size=(32, 64), strides=(8,), anchors=(((8, 8), (32, 32)),), rule=rule
        ),
    }


PROBLEMS: dict[str, Problem] = problems()
"""The corpus's problems under the default ``yolov5`` rule."""


def edge_targets(problem: Problem) -> Tensor:
    """Targets at the places where assignment bugs live, on image 0 (and 1 if it exists).

    Grid-aligned centres at every level's stride, frac exactly 0.5, gx == 1 and gy == 1 at
    every level, centres at 0 and 1 and one cell from each border, w/h ratios exactly at
    ``anchor_t`` and one float32 step either side for the first anchor of every level,
    tiny and huge boxes, extreme aspect ratios, a duplicated box and several boxes in one
    cell.
    """
    h, w = problem.img_size
    last = min(1, problem.batch_size - 1)
    rows: list[list[float]] = []
    box = [48 / w, 48 / h]  # 48 px: within anchor_t of a middle anchor in every preset
    for s in problem.strides:
        rows += [
            [0, 0, s / w, s / h, *box],  # gx == gy == 1 at this level
            [0, 1, 3 * s / w, 2 * s / h, *box],  # integer grid coordinates
            [0, 2, 2.5 * s / w, 1.5 * s / h, *box],  # frac exactly 0.5
            [last, 3, 1 - s / w, 1 - s / h, *box],  # one cell from the far border
        ]
    rows += [
        [0, 4, 0.0, 0.0, *box],
        [last, 5, 1.0, 1.0, *box],
        [0, 6, 0.0, 1.0, *box],
        [0, 7, 0.5, 0.5, 1.0, 1.0],  # the whole image
        [0, 8, 0.3, 0.7, 1 / w, 1 / h],  # one pixel
        [0, 9, 0.25, 0.25, 0.9, 4 / h],  # extreme aspect ratios
        [0, 10, 0.75, 0.25, 4 / w, 0.9],
        [last, 11, 0.4, 0.6, *box],  # the same box twice
        [last, 11, 0.4, 0.6, *box],
        [0, 12, 0.61, 0.41, 0.05, 0.05],  # several boxes in one cell
        [0, 13, 0.612, 0.412, 0.2, 0.1],
        [0, 14, 0.614, 0.414, 0.05, 0.3],
    ]
    for level, (ny, nx) in enumerate(problem.feature_shapes):
        aw, ah = problem.anchors_grid()[level, 0].tolist()
        for ratio in (problem.anchor_t, 1 / problem.anchor_t):
            gw = torch.tensor(aw * ratio, dtype=torch.float32)
            for step in (gw.nextafter(torch.tensor(0.0)), gw, gw.nextafter(torch.tensor(1e9))):
                width = float(step) / nx
                if 0 < width <= 1:
                    rows.append([0, 15, 0.5, 0.5, width, ah / ny])
    targets = torch.tensor(rows, dtype=torch.float32)
    targets[:, 1] %= problem.num_classes
    return targets


def random_targets(problem: Problem, n: int, seed: int) -> Tensor:
    """``n`` boxes from a seeded generator, a third of them on half-cell grid points."""
    gen = torch.Generator().manual_seed(seed)
    b = torch.randint(0, problem.batch_size, (n, 1), generator=gen)
    c = torch.randint(0, problem.num_classes, (n, 1), generator=gen)
    xy = torch.rand(n, 2, generator=gen)
    ny, nx = problem.feature_shapes[-1]
    steps = torch.tensor([2 * nx, 2 * ny])
    aligned = torch.randint(0, 2 * max(nx, ny) + 1, (n // 3, 2), generator=gen)
    xy[: n // 3] = (aligned / steps).clamp(max=1)
    wh = torch.rand(n, 2, generator=gen) * 0.4 + 1e-3
    return torch.cat((b, c, xy, wh), 1).float()


def corpus(seed: int = 0, rule: str = DEFAULT_RULE) -> list[Case]:
    """Every problem under ``rule`` with its edge targets, 200 random targets and no targets
    at all."""
    cases = []
    for name, problem in problems(rule).items():
        cases += [
            Case(f"{name}/edges", problem, edge_targets(problem)),
            Case(f"{name}/random", problem, random_targets(problem, 200, seed)),
            Case(f"{name}/empty", problem, torch.zeros((0, 6))),
        ]
    return cases
