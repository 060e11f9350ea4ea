"""An independent statement of YOLOv5's build_targets: scalar loops in NumPy arithmetic.

Each neighbour rule is stated as its package writes it: YOLOv5's (g = 0.5), YOLOR's v4 test
for the far side, YOLOv7's g = 1 and PyTorch-YOLOv3's centre cell only.

It shares no code with `yolo_diagnostics.reference`: every target, anchor and neighbour is
visited one at a time, each float operation done on a NumPy scalar of the targets' dtype
(float32 arithmetic is IEEE-rounded, as torch's is), following ultralytics/yolov5
``ComputeLoss.build_targets`` rule by rule. Used as the oracle for the bit-exact tests.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from yolo_diagnostics import Problem

# (offset kind, x offset, y offset) as YOLOv5's off = [[0,0],[1,0],[0,1],[-1,0],[0,-1]] * g
_OFF = ((0, 0), (1, 0), (0, 1), (-1, 0), (0, -1))


def build_targets_loop(problem: Problem, targets: Tensor):
    """``(tcls, tbox, indices, anch)`` for targets ``[nt, 6]``, on the CPU."""
    f = np.float64 if targets.dtype == torch.float64 else np.float32
    rows_t = targets.cpu().tolist()
    tcls, tbox, indices, anch = [], [], [], []
    for level, ((ny, nx), stride) in enumerate(zip(problem.feature_shapes, problem.strides)):
        g = f(problem.g)
        anchors = [
            (np.float32(w) / np.float32(stride), np.float32(h) / np.float32(stride))
            for w, h in problem.anchors[level]
        ]
        kept = []  # (anchor, target row) in YOLOv5's anchor-major order
        for a, (aw, ah) in enumerate(anchors):
            for row in rows_t:
                gw, gh = f(row[4]) * f(np.float32(nx)), f(row[5]) * f(np.float32(ny))
                rw, rh = gw / f(aw), gh / f(ah)
                worst = max(max(rw, f(1) / rw), max(rh, f(1) / rh))
                if worst < f(problem.anchor_t):
                    kept.append((a, row))
        out = []  # (b, a, gj, gi, c, tx, ty, tw, th, aw, ah)
        for kind, (ox, oy) in enumerate(_OFF):
            for a, row in kept:
                gx, gy = f(row[2]) * f(np.float32(nx)), f(row[3]) * f(np.float32(ny))
                gw, gh = f(row[4]) * f(np.float32(nx)), f(row[5]) * f(np.float32(ny))
                gxi, gyi = f(np.float32(nx)) - gx, f(np.float32(ny)) - gy
                take = (
                    True,
                    gx % f(1) < g and gx > 1,
                    gy % f(1) < g and gy > 1,
                    gxi % f(1) < g and gxi > 1,
                    gyi % f(1) < g and gyi > 1,
                )
                if problem.rule == "yolov5-v4":  # YOLOR: the far side tested on gxy itself
                    take = (
                        *take[:3],
                        gx % f(1) > f(1) - g and gx < f(np.float32(nx)) - f(1),
                        gy % f(1) > f(1) - g and gy < f(np.float32(ny)) - f(1),
                    )
                elif problem.rule == "centre":  # PyTorch-YOLOv3: the centre cell only
                    take = (True, False, False, False, False)
                take = take[kind]
                if not take:
                    continue
                gi = int(gx - f(ox) * g)  # .long() truncates toward zero, as int() does
                gj = int(gy - f(oy) * g)
                gi, gj = min(max(gi, 0), nx - 1), min(max(gj, 0), ny - 1)
                aw, ah = anchors[a]
                out.append(
                    (int(row[0]), a, gj, gi, int(row[1]), gx - f(gi), gy - f(gj), gw, gh, aw, ah)
                )
        tcls.append(torch.tensor([r[4] for r in out], dtype=torch.int64))
        tbox.append(torch.tensor([r[5:9] for r in out], dtype=targets.dtype).reshape(-1, 4))
        indices.append(
            tuple(torch.tensor([r[k] for r in out], dtype=torch.int64) for k in range(4))
        )
        anch.append(torch.tensor([r[9:11] for r in out], dtype=torch.float32).reshape(-1, 2))
    return tcls, tbox, indices, anch
