"""A mutation catalog for ``build_targets``: a clean YOLOv5 re-statement and its buggy variants.

`clean` re-states ultralytics/yolov5 ``ComputeLoss.build_targets`` in the style of the
original (anchor-major ``targets.repeat(na, 1, 1)`` with the anchor index appended, a gain
vector of 7, the ratio filter, the ``j, k, l, m`` neighbour masks, ``t.repeat((5, 1, 1))[j]``,
``.long()`` truncation, in-place ``clamp_`` on views of ``gij``). It reads only the problem
(anchors in grid units, ``anchor_t``, ``g`` and its rule: YOLOR's far-side test for
``yolov5-v4``; g = 0 leaves the centre rule no neighbour) and ``p[i].shape``, and shares no
code with `yolo_diagnostics.reference`.

`MUTANTS` maps a bug name to an assigner factory ``(problem, device) -> build_targets``. Every
mutant is `clean` with one small deviation, selected by a ``bug == "..."`` branch inside
`_build_targets`, so each reads as a diff from the clean code. `BUGS` says what each bug is
and where the class of bug comes from (issue and PR numbers as in YOLOV5_SEMANTICS.md). The
catalog measures the contract: every mutant is a bug some real code has had or plausibly
would have, and a contract that lets one through has a hole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from yolo_diagnostics.assignment import YoloV5Output
from yolo_diagnostics.problem import Problem

BuildTargets = Callable[[Sequence[Tensor], Tensor], YoloV5Output]
Factory = Callable[[Problem, "torch.device | str"], BuildTargets]

# Neighbour offsets (centre, x - 1, y - 1, x + 1, y + 1) before scaling by g; gij = gxy - off.
_OFF = ((0, 0), (1, 0), (0, 1), (-1, 0), (0, -1))

BUGS: dict[str, str] = {
    "clamp-out-of-place": (
        "Indices clamped with out-of-place .clamp() instead of clamp_(), so tbox = gxy - gij "
        "is computed from the unclamped cell (forks that worked around the torch 1.12 float "
        "clamp-bound failure, yolov5 #8405 / PR #8067). Visible where a target sits on the far "
        "border (x = 1: centre clamps to nx - 1 but tbox stays 0)."
    ),
    "clamp-off-by-one": (
        "Indices clamped to [0, n] instead of [0, n - 1]: x = 1 gives gi = nx, an index out of "
        "bounds in the loss (yolov5 #1312, PRs #1313, #1316; yolov3 #1551)."
    ),
    "gain-order": (
        "Gain shape[[2, 3, 2, 3]] = [ny, nx, ny, nx]: x scaled by ny and y by nx. Invisible on "
        "square inputs (the seed notebook's [h, w, h, w] scaling)."
    ),
    "gain-height-only": (
        "All of xywh scaled by the grid height, gain shape[[2, 2, 2, 2]]: yolov7 OTA scales "
        "the boxes by the image height (yolov7 #620, #1536). Invisible on square inputs."
    ),
    "anchors-in-pixels": (
        "Anchors used in pixels (the YAML values) instead of pixels / stride: the ratio filter "
        "compares grid-unit boxes with pixel anchors and anch comes out in pixels."
    ),
    "levels-hardcoded-3": (
        "for i in range(3): a 4-level P6 model silently loses its last level (the P6 breakage "
        "of yolort PR #513, which confused anchors-per-level with the number of levels)."
    ),
    "na-is-nl": (
        "The number of anchors taken to be the number of levels (the seed notebook; yolort PR "
        "#513): identical when na == nl == 3, a shape error on a 4-level P6 problem."
    ),
    "ratio-le": (
        "Ratio filter with <= anchor_t instead of the strict <: a ratio of exactly anchor_t is "
        "kept. Only visible at ratios exactly anchor_t (or 1 / anchor_t)."
    ),
    "ratio-one-way": (
        "Ratio filter on r = t_wh / anchor_wh only, not max(r, 1 / r): boxes far smaller than "
        "the anchor are kept on every anchor of every level."
    ),
    "frac-le": (
        "Neighbour test gxy % 1 <= g instead of < g: a centre at frac exactly 0.5 gets both "
        "x-neighbours (and both y-neighbours)."
    ),
    "no-border-test": (
        "The (gxy > 1) and (gxi > 1) tests dropped: neighbours outside the grid are created and "
        "clamped back onto the border cell (duplicate rows with a wrong tbox)."
    ),
    "wh-swapped": "tbox wh written in (h, w) order: columns 2 and 3 of tbox swapped.",
    "image-class-swapped": (
        "b and c unpacked in the wrong order (c, b = t[:, :2].T): the image index goes to tcls "
        "and the class to indices[0]."
    ),
    "round-not-trunc": (
        "gij = (gxy - offsets).round() instead of .long() truncation: any frac >= 0.5 lands "
        "one cell too far (half the centres are in the wrong cell)."
    ),
    "offsets-flipped": (
        "Neighbour offsets with the opposite sign: the extra positive goes to the cell on the "
        "far side of the centre, away from where the 2 sigma - 0.5 decode can reach."
    ),
    "g-one": (
        "g = 1.0 hard-coded (YOLOv7 find_5_positive pasted into a 3-positive loss): every "
        "interior target gets 5 positives where 3 are expected. Invisible when the problem's "
        "g is 1.0."
    ),
    "empty-crash": (
        "Empty batch: the else branch does not set t = targets[0], so t keeps its 3-D "
        "(na, 0, 7) shape and `b, c = t[:, :2].long().T` raises 'too many values to unpack' "
        "(exactly yolov5 #609; yolort PR #515 is the torch.cat([]) variant)."
    ),
    "empty-hardcoded-cuda": (
        "Empty batch: the empty table is created on a hard-coded 'cuda:0' (yolov7 OTA, PRs "
        "#530 and #1283 still open): a crash on a CPU-only machine or a cpu run, invisible on "
        "cuda:0."
    ),
    "inverse-square-gain": (
        "gxi = gain[[2, 2]] - gxy: the x grid size used for the y + 1 test as well. Invisible "
        "on square inputs."
    ),
    "anchor-index-interleaved": (
        "The appended anchor index tiled (arange(na).repeat(nt)) instead of repeated per "
        "anchor block (repeat_interleave order): targets.repeat(na, 1, 1) is anchor-major, so "
        "anchor k is paired with the wrong targets. Invisible with a single target."
    ),
    "half-precision": (
        "Grid coordinates computed in float16 (targets cast to a half model's dtype before "
        "t = targets * gain): gx rounds to 1/16 of a cell above 64, so centres near a cell "
        "border land in the wrong cell and every tbox is off."
    ),
    "chunk-drop-last": (
        "Targets processed in chunks of 4 096 to bound memory, and the chunks cut like a "
        "DataLoader with drop_last=True: the partial last chunk is lost. Invisible until a "
        "batch holds more than 4 096 targets (a batch of 64 mosaics of COCO holds ~2 000)."
    ),
    "per-image-cap": (
        "Labels padded into a fixed [B, 300, 6] tensor (YOLOX's max_labels, DETR-style "
        "padding): an image's boxes past the 300th are dropped. Invisible until one image "
        "holds more than 300 boxes (SKU-110K, CrowdHuman)."
    ),
    "class-uint8": (
        "tcls stored as uint8 to save bytes: classes from 256 on wrap around. Invisible on "
        "COCO's 80 classes; Objects365 (365), Open Images (600) and LVIS (1 203) break."
    ),
    "cell-index-int16": (
        "The (image, anchor, gj, gi) of each row packed into one int16 flat index to save "
        "bytes, and unpacked again: it overflows once B * na * ny * nx passes 32 767, which "
        "large batches and large inputs do."
    ),
    "level-buffer-cap": (
        "Each level's rows written into a preallocated buffer of 16 384 rows (to keep the "
        "loss's memory fixed): rows past it are dropped. Invisible until a level gets more "
        "rows than that, which ~4 000 targets give."
    ),
    # the other published rules (`RULES`); each is run under its own rule
    "v4-far-side-ge": (
        "yolov5-v4 (YOLOR): the x + 1 test gxy % 1 >= 1 - g instead of > 1 - g: a centre at "
        "frac exactly 0.5 gets both x-neighbours."
    ),
    "v4-far-border-n": (
        "yolov5-v4: the far-side border test gxy < n instead of gxy < n - 1: a centre in the "
        "last cell takes an x + 1 cell outside the grid, clamped back onto the centre cell."
    ),
    "v4-with-v5-test": (
        "yolov5-v4 code given YOLOv5 v5.0's inverse test for the far side (a fork 'updated' "
        "half-way): duplicate rows at every integer grid coordinate, which YOLOR never writes."
    ),
    "five-positive-half-offsets": (
        "five-positive (YOLOv7 find_5_positive) with the neighbour offsets still scaled by "
        "0.5: off * 0.5 instead of off * g, so for frac >= .5 the x - 1 cell is the centre "
        "cell again and the real x - 1 cell is never used."
    ),
    "five-positive-g-half": (
        "five-positive with g = 0.5 (find_3_positive called where find_5_positive belongs): "
        "3 positives per target instead of 5."
    ),
    "centre-with-neighbours": (
        "centre rule (PyTorch-YOLOv3) with YOLOv5's g = 0.5 neighbours bolted on: extra cells "
        "the centre rule's head cannot reach (its xy decode is sigmoid, in (0, 1))."
    ),
}

RULE_OF_BUG: dict[str, str] = {
    "v4-far-side-ge": "yolov5-v4",
    "v4-far-border-n": "yolov5-v4",
    "v4-with-v5-test": "yolov5-v4",
    "five-positive-half-offsets": "five-positive",
    "five-positive-g-half": "five-positive",
    "centre-with-neighbours": "centre",
}
"""The rule a bug belongs to (the contract runs it under that rule); yolov5 if not listed."""

_CHUNK, _MAX_LABELS, _LEVEL_BUFFER = 4096, 300, 16384


def _build_targets(
    problem: Problem,
    device: torch.device,
    p: Sequence[Tensor],
    targets: Tensor,
    bug: str | None = None,
) -> YoloV5Output:
    """``ComputeLoss.build_targets(p, targets)`` of ultralytics/yolov5, with ``bug`` applied."""
    targets = targets.to(device)
    if bug == "chunk-drop-last" and len(targets) > _CHUNK:
        targets = torch.cat([c for c in targets.split(_CHUNK) if len(c) == _CHUNK])
    if bug == "per-image-cap":
        targets = _first_per_image(targets, _MAX_LABELS)
    na, nt = problem.na, targets.shape[0]  # number of anchors, targets
    nl = problem.nl
    if bug == "na-is-nl":
        na = nl
    tcls, tbox, indices, anch = [], [], [], []
    gain = torch.ones(7, device=device)  # normalized to gridspace gain
    ai = torch.arange(na, device=device).float().view(na, 1).repeat(1, nt)  # anchor-major
    if bug == "anchor-index-interleaved":
        ai = torch.arange(na, device=device).float().repeat(nt).view(na, nt)
    targets = torch.cat((targets.repeat(na, 1, 1), ai[:, :, None]), 2)  # append anchor indices

    g = problem.g  # bias
    if bug == "g-one":
        g = 1.0
    if bug in ("five-positive-g-half", "centre-with-neighbours"):
        g = 0.5
    off = torch.tensor(_OFF, device=device).float() * g  # offsets
    if bug == "five-positive-half-offsets":
        off = torch.tensor(_OFF, device=device).float() * 0.5
    if bug == "offsets-flipped":
        off = -off

    anchors_grid = problem.anchors_grid(device)  # pixels / stride, as Detect.anchors
    if bug == "anchors-in-pixels":
        anchors_grid = torch.tensor(problem.anchors, dtype=torch.float32, device=device)
    for i in range(3) if bug == "levels-hardcoded-3" else range(nl):
        anchors, shape = anchors_grid[i], p[i].shape
        gain[2:6] = torch.tensor(shape)[[3, 2, 3, 2]]  # xyxy gain
        if bug == "gain-order":
            gain[2:6] = torch.tensor(shape)[[2, 3, 2, 3]]
        if bug == "gain-height-only":
            gain[2:6] = torch.tensor(shape)[[2, 2, 2, 2]]

        # Match targets to anchors
        t = targets * gain  # shape(na, nt, 7)
        if bug == "half-precision":
            t = targets.half() * gain.half()
        if nt:
            # Matches
            r = t[..., 4:6] / anchors[:, None]  # wh ratio
            j = torch.max(r, 1 / r).max(2)[0] < problem.anchor_t  # compare
            if bug == "ratio-le":
                j = torch.max(r, 1 / r).max(2)[0] <= problem.anchor_t
            if bug == "ratio-one-way":
                j = r.max(2)[0] < problem.anchor_t
            t = t[j]  # filter

            # Offsets
            gxy = t[:, 2:4]  # grid xy
            gxi = gain[[2, 3]] - gxy  # inverse
            if bug == "inverse-square-gain":
                gxi = gain[[2, 2]] - gxy
            j, k = ((gxy % 1 < g) & (gxy > 1)).T
            l, m = ((gxi % 1 < g) & (gxi > 1)).T  # g = 0 (centre rule): no neighbour
            if problem.rule == "yolov5-v4" and bug != "v4-with-v5-test":  # YOLOR's far side
                l, m = ((gxy % 1 > 1 - g) & (gxy < gain[[2, 3]] - 1)).T
            if bug == "v4-far-side-ge":
                l, m = ((gxy % 1 >= 1 - g) & (gxy < gain[[2, 3]] - 1)).T
            if bug == "v4-far-border-n":
                l, m = ((gxy % 1 > 1 - g) & (gxy < gain[[2, 3]])).T
            if bug == "frac-le":
                j, k = ((gxy % 1 <= g) & (gxy > 1)).T
                l, m = ((gxi % 1 <= g) & (gxi > 1)).T
            if bug == "no-border-test":
                j, k = (gxy % 1 < g).T
                l, m = (gxi % 1 < g).T
            j = torch.stack((torch.ones_like(j), j, k, l, m))
            t = t.repeat((5, 1, 1))[j]
            offsets = (torch.zeros_like(gxy)[None] + off[:, None])[j]
        else:
            if bug != "empty-crash":
                t = targets[0]
            if bug == "empty-hardcoded-cuda":
                t = torch.zeros((0, 7), device="cuda:0")
            offsets = 0

        # Define
        b, c = t[:, :2].long().T  # image, class
        if bug == "image-class-swapped":
            c, b = t[:, :2].long().T
        gxy = t[:, 2:4]  # grid xy
        gwh = t[:, 4:6]  # grid wh
        gij = (gxy - offsets).long()
        if bug == "round-not-trunc":
            gij = (gxy - offsets).round().long()
        gi, gj = gij.T  # grid indices: views of gij

        # Append
        a = t[:, 6].long()  # anchor indices
        if bug == "class-uint8":
            c = c.to(torch.uint8).long()
        if bug == "cell-index-int16":
            b, a, gj, gi = _int16_round_trip(b, a, gj, gi, na, shape[2], shape[3])
            gij = torch.stack((gi, gj), 1)
        if bug == "level-buffer-cap":
            b, a, gj, gi, c = (x[:_LEVEL_BUFFER] for x in (b, a, gj, gi, c))
            gxy, gwh, gij = gxy[:_LEVEL_BUFFER], gwh[:_LEVEL_BUFFER], gij[:_LEVEL_BUFFER]
        if bug == "clamp-out-of-place":
            indices.append((b, a, gj.clamp(0, shape[2] - 1), gi.clamp(0, shape[3] - 1)))
        elif bug == "clamp-off-by-one":
            indices.append((b, a, gj.clamp_(0, shape[2]), gi.clamp_(0, shape[3])))
        else:
            indices.append((b, a, gj.clamp_(0, shape[2] - 1), gi.clamp_(0, shape[3] - 1)))
        if bug == "wh-swapped":
            gwh = gwh[:, [1, 0]]
        tbox.append(torch.cat((gxy - gij, gwh), 1))  # box, from the clamped gij
        anch.append(anchors[a])  # anchors
        tcls.append(c)  # class

    return tcls, tbox, indices, anch


def _first_per_image(targets: Tensor, most: int) -> Tensor:
    """The first ``most`` rows of each image (rows sorted by image, stably)."""
    targets = targets[targets[:, 0].argsort(stable=True)]
    image = targets[:, 0].contiguous()
    rank = torch.arange(len(targets), device=targets.device) - torch.searchsorted(image, image)
    return targets[rank < most]


def _int16_round_trip(
    b: Tensor, a: Tensor, gj: Tensor, gi: Tensor, na: int, ny: int, nx: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(b, a, gj, gi) packed into an int16 flat index and unpacked (floor division)."""
    flat = ((b * na + a) * ny + gj.clamp(0, ny - 1)) * nx + gi.clamp(0, nx - 1)
    flat = flat.to(torch.int16).long()
    return flat // (na * ny * nx), flat // (ny * nx) % na, flat // nx % ny, flat % nx


def _factory(bug: str | None) -> Factory:
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; known: {', '.join(BUGS)}")

    def make(problem: Problem, device: torch.device | str) -> BuildTargets:
        device = torch.device(device)

        def build_targets(p: Sequence[Tensor], targets: Tensor) -> YoloV5Output:
            return _build_targets(problem, device, p, targets, bug)

        build_targets.__name__ = f"build_targets[{bug or 'clean'}]"
        return build_targets

    make.__name__ = (bug or "clean").replace("-", "_")
    make.__doc__ = BUGS[bug] if bug else "ultralytics/yolov5 ComputeLoss.build_targets, unchanged."
    return make


clean: Factory = _factory(None)
"""The clean assigner factory: YOLOv5 semantics, bit-exact with the reference."""

MUTANTS: dict[str, Factory] = {name: _factory(name) for name in BUGS}
"""Bug name -> assigner factory; `BUGS` has each one's description and provenance."""
