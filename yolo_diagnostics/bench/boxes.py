"""Seeded, realistic random targets for timing ``build_targets``.

Per box, drawn in float64 from a CPU ``torch.Generator`` (the same boxes on every device):

- the centre uniform in ``[0, 1]²`` of the network input;
- the size ``s = sqrt(w h)`` log-uniform in ``[2, 600]`` pixels and the aspect ratio
  ``w / h`` log-uniform in ``[1/3, 3]``: as many tiny as large boxes per octave, as in COCO;
- the box clipped to the image, then its centre and size recomputed from the clipped
  corners, as a label of an object cut by the border is -- so every target is valid;
- the image id uniform in ``[0, batch_size)``, the class uniform in ``[0, num_classes)``.

The result is cast to float32, the dtype of YOLOv5's targets.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import DiagnosticsError
from ..problem import Problem

MIN_SIDE_PX, MAX_SIDE_PX = 2.0, 600.0
MAX_ASPECT = 3.0


def random_targets(
    problem: Problem, nt: int, *, seed: int = 0, device: torch.device | str = "cpu"
) -> Tensor:
    """``Tensor[nt, 6]`` float32 (image, class, x, y, w, h), normalized, on ``device``.

    The same ``(problem, nt, seed)`` gives the same targets on every device.
    """
    if nt < 0:
        raise DiagnosticsError(f"nt: expected >= 0, got {nt}")
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    centre = torch.rand(nt, 2, generator=gen, dtype=f64)
    side = _log_uniform(nt, MIN_SIDE_PX, MAX_SIDE_PX, gen)
    aspect = _log_uniform(nt, 1 / MAX_ASPECT, MAX_ASPECT, gen)
    h_px, w_px = problem.img_size
    wh = torch.stack((side * aspect.sqrt() / w_px, side / aspect.sqrt() / h_px), 1)
    lo = (centre - wh / 2).clamp(min=0)
    hi = (centre + wh / 2).clamp(max=1)
    image = torch.randint(0, problem.batch_size, (nt, 1), generator=gen).to(f64)
    cls = torch.randint(0, problem.num_classes, (nt, 1), generator=gen).to(f64)
    targets = torch.cat((image, cls, (lo + hi) / 2, hi - lo), 1)
    return targets.to(device=device, dtype=torch.float32)


def _log_uniform(n: int, low: float, high: float, gen: torch.Generator) -> Tensor:
    """``Tensor[n]`` float64, ``exp(uniform(log low, log high))``."""
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))
