"""What the TAL overlay draws for one image, read from the inputs, an output and a reference.

`build_scene` turns tensors (any device, any dtype) into numpy arrays in network pixels: the
GT rows and their floored boxes, each anchor's owner and score in the output, the top-k
candidates that lost a conflict (from the reference's provenance), and the offending anchors
and GT rows with their labels -- from the violations, and from a comparison of owners with
the reference. Nothing here draws; `render.tal` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..errors import DiagnosticsError
from ..tal.assignment import TalAssignment
from ..tal.corpus import TalBatch
from ..tal.geometry import candidate_boxes
from ..tal.problem import TalProblem
from ..tal.validate import validate_inputs
from ..tal.violations import shape_violations


@dataclass
class TalScene:
    """One image of a TAL case, ready to draw. ``n`` GT rows, ``na`` anchor points.

    Attributes:
        problem, image: the problem and the image's index in the batch.
        boxes, floored: ``float64[n, 4]`` xyxy pixels: the GT boxes and the boxes the
            candidate test uses (after the small-box floor).
        floor_changed: ``bool[n]``: the floor enlarged the row's box (a valid row only).
        labels: ``int64[n]`` class ids; valid: ``bool[n]`` (``mask_gt != 0``).
        owner: ``int64[na]``: the output's GT row of each foreground anchor, -1 elsewhere
            (background, or a foreground anchor whose index names no row: it is red).
        score: ``float64[na]``: the output's largest score column, NaN read as 0, in [0, 1].
        losers: ``int64[k, 2]`` (anchor, GT row): top-k proposals of a GT whose anchor the
            reference gave to another GT; empty without a reference.
        red: anchor -> short labels (check ids, ``ref #g`` / ``ref bg``) of offending anchors.
        red_gts: GT row -> check ids of the rows a violation names.
        involved: ``bool[n]``: rows drawn unmuted on a failing case (named, or owning an
            offending anchor here or in the reference).
        output_error: why the output is not drawn (its structure is wrong), or None.
        has_reference: a reference was given (the figure then shows lost conflicts).
        tie_breaks: anchors whose owner differs from the reference's by an accepted tie.
        notes: lines for the legend (findings with no place in this image, and the like).
    """

    problem: TalProblem
    image: int
    boxes: np.ndarray
    floored: np.ndarray
    floor_changed: np.ndarray
    labels: np.ndarray
    valid: np.ndarray
    owner: np.ndarray
    score: np.ndarray
    losers: np.ndarray
    red: dict[int, list[str]] = field(default_factory=dict)
    red_gts: dict[int, list[str]] = field(default_factory=dict)
    involved: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    output_error: str | None = None
    has_reference: bool = False
    tie_breaks: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def failing(self) -> bool:
        """Something is red: the rest of the figure is muted."""
        return bool(self.red or self.red_gts)

    @property
    def covered(self) -> np.ndarray:
        """``bool[n]``: the row owns at least one anchor in the output."""
        out = np.zeros(len(self.boxes), bool)
        out[self.owner[self.owner >= 0]] = True
        return out

    @property
    def uncovered(self) -> np.ndarray:
        """``bool[n]``: a valid row the output gives no anchor (when the output is drawn)."""
        return self.valid & ~self.covered & (self.output_error is None)


def build_scene(
    problem: TalProblem,
    batch: Sequence[Tensor],
    output: object,
    image: int,
    violations: Iterable[object],
    reference: TalAssignment | None,
) -> TalScene:
    """The `TalScene` of ``image``; raises `DiagnosticsError` on bad arguments (a malformed
    ``output`` is not one: the scene then carries ``output_error`` and no positives)."""
    if not isinstance(problem, TalProblem):
        raise DiagnosticsError(f"problem: expected a TalProblem, got {type(problem).__name__}")
    if not isinstance(batch, (tuple, list)) or len(batch) != 6:
        raise DiagnosticsError(
            "batch: expected the six inputs (pd_scores, pd_bboxes, anc_points, gt_labels, "
            f"gt_bboxes, mask_gt), got {type(batch).__name__}"
        )
    inputs = TalBatch(*batch)
    validate_inputs(problem, *inputs)
    if isinstance(image, bool) or not isinstance(image, (int, np.integer)):
        raise DiagnosticsError(f"image: expected an int, got {type(image).__name__}")
    if not 0 <= image < problem.batch_size:
        raise DiagnosticsError(
            f"image: must be in [0, {problem.batch_size}) (the problem's batch_size), got {image}"
        )
    image = int(image)
    gt = inputs.gt_bboxes[image : image + 1].cpu()
    valid = inputs.mask_gt[image : image + 1, :, 0].cpu() != 0
    floored = candidate_boxes(problem, gt, valid)[0]
    sides = gt[0, :, 2:] - gt[0, :, :2]  # in the boxes' dtype, as the floor compares them
    changed = valid[0] & (sides < problem.stal_below).any(-1) & problem.stal
    na = problem.num_anchors
    scene = TalScene(
        problem=problem,
        image=image,
        boxes=gt[0].double().numpy(),
        floored=floored.double().numpy(),
        floor_changed=changed.numpy(),
        labels=inputs.gt_labels[image, :, 0].cpu().long().numpy(),
        valid=valid[0].numpy(),
        owner=np.full(na, -1, np.int64),
        score=np.zeros(na),
        losers=np.zeros((0, 2), np.int64),
    )
    broken = shape_violations(problem, inputs, output)
    if broken:
        scene.output_error = "; ".join(v.message for v in broken)
    else:
        _read_output(scene, output)  # type: ignore[arg-type]
    _add_violations(scene, violations)
    if reference is not None:
        _compare(scene, reference, drawn=not broken)
    scene.involved = _involved(scene, reference)
    return scene


def _read_output(scene: TalScene, output: Sequence[Tensor]) -> None:
    """Owners and scores of the image; a foreground index that names no row is red."""
    n = len(scene.boxes)
    fg = output[3][scene.image].cpu().bool().numpy()
    raw = output[4][scene.image].cpu()
    if raw.dtype.is_floating_point:  # n == 0's float indices: NaN or a fraction names no row
        whole = torch.isfinite(raw) & (raw == raw.round())
        raw = torch.where(whole, raw, -1).long()
    index = raw.long().numpy()
    named = fg & (index >= 0) & (index < n)
    scene.owner = np.where(named, index, -1)
    for a in np.flatnonzero(fg & ~named).tolist():
        scene.red.setdefault(a, []).append("gt-index")
    scores = output[2][scene.image].detach().cpu().double()
    if scores.shape[-1]:  # the fill's opacity; a NaN or infinite score is a finding, not a fill
        best = torch.nan_to_num(scores, nan=0.0, posinf=1.0, neginf=0.0).amax(-1)
        scene.score = best.clamp(0, 1).numpy()


def _add_violations(scene: TalScene, violations: Iterable[object]) -> None:
    """Anchors and GT rows a violation names in this image turn red, labelled by its check;
    a finding without a place here (another image's, or one of the whole output) is a note."""
    na, n = len(scene.owner), len(scene.boxes)
    elsewhere = 0
    for k, v in enumerate(violations):
        for name in ("check", "image", "anchors", "gts"):
            if not hasattr(v, name):
                raise DiagnosticsError(
                    f"violations[{k}]: expected a TalViolation (check, image, anchors, gts), "
                    f"got {type(v).__name__} without {name!r}"
                )
        check = str(v.check)  # type: ignore[attr-defined]
        where = v.image  # type: ignore[attr-defined]
        if where is None:
            message = str(getattr(v, "message", ""))
            if not (scene.output_error and message and message in scene.output_error):
                scene.notes.append(f"{check}: {message}".rstrip(": "))  # else said once
            continue
        if int(where) != scene.image:
            elsewhere += 1
            continue
        anchors = [int(a) for a in v.anchors if 0 <= int(a) < na]  # type: ignore[attr-defined]
        for a in anchors:
            if check not in scene.red.setdefault(a, []):
                scene.red[a].append(check)
        for g in v.gts:  # type: ignore[attr-defined]
            if 0 <= int(g) < n and check not in scene.red_gts.setdefault(int(g), []):
                scene.red_gts[int(g)].append(check)
    if elsewhere:
        scene.notes.append(f"{elsewhere} finding(s) on other images of the batch")


def _compare(scene: TalScene, reference: TalAssignment, drawn: bool) -> None:
    """Offending anchors: the output's owner differs from the reference's where no tie could
    change it (``ref #g``: the reference's row; ``ref bg``: background there). Lost conflicts:
    the reference's top-k candidates whose anchor went to another GT."""
    if not isinstance(reference, TalAssignment):
        raise DiagnosticsError(
            f"reference: expected a TalAssignment or None, got {type(reference).__name__}"
        )
    b, na = scene.problem.batch_size, scene.problem.num_anchors
    if tuple(reference.fg_mask.shape) != (b, na) or reference.num_gt_rows != len(scene.boxes):
        raise DiagnosticsError(
            f"reference: assigned {list(reference.fg_mask.shape)} anchors and "
            f"{reference.num_gt_rows} GT rows, the case has [{b}, {na}] and {len(scene.boxes)}"
        )
    scene.has_reference = True
    if not drawn:
        return
    i = scene.image
    ref_fg = reference.fg_mask[i].cpu().numpy()
    ref_owner = np.where(ref_fg, reference.target_gt_idx[i].cpu().long().numpy(), -1)
    settled = (
        reference.decisions.settled[i].cpu().numpy()
        if reference.decisions is not None
        else np.ones(na, bool)
    )
    differ = ref_owner != scene.owner
    for a in np.flatnonzero(differ & settled).tolist():
        text = f"ref #{ref_owner[a]}" if ref_owner[a] >= 0 else "ref bg"
        if a not in scene.red or not any(t.startswith("ref") for t in scene.red[a]):
            scene.red.setdefault(a, []).append(text)
    scene.tie_breaks = int((differ & ~settled).sum())
    c = reference.candidates
    mine = ((c.image == i) & (c.rank >= 0)).cpu()
    anchor, gt = c.anchor.cpu()[mine].numpy(), c.gt.cpu()[mine].numpy()
    lost = (ref_owner[anchor] >= 0) & (ref_owner[anchor] != gt)
    scene.losers = np.stack((anchor[lost], gt[lost]), 1).astype(np.int64)


def _involved(scene: TalScene, reference: TalAssignment | None) -> np.ndarray:
    """Rows a failing case is about: named by a violation, or owning an offending anchor in
    the output or in the reference."""
    n = len(scene.boxes)
    out = np.zeros(n, bool)
    out[list(scene.red_gts)] = True
    red = np.fromiter(scene.red, np.int64, len(scene.red))
    owners = scene.owner[red]
    out[owners[owners >= 0]] = True
    if reference is not None and len(red):
        ref_fg = reference.fg_mask[scene.image].cpu().numpy()[red]
        ref_owner = reference.target_gt_idx[scene.image].cpu().long().numpy()[red]
        rows = ref_owner[ref_fg & (ref_owner >= 0) & (ref_owner < n)]
        out[rows] = True
    return out
