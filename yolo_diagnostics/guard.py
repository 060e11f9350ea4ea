"""A training-loop guard: the single-call invariants judged on a live ``build_targets``.

In YOLOv5's ``train.py``, after ``compute_loss = ComputeLoss(model)``::

    compute_loss.build_targets = guard(compute_loss.build_targets, problem_from_model(model))

`guard` wraps any assigner ``build_targets(p, targets) -> (tcls, tbox, indices, anch)``.
Calls 1, 1 + N, 1 + 2N, ... (``every=N``) are checked: the first at once, so a wrong problem
or a broken assigner shows on the first batch. A checked call adapts the problem to the batch
(`batch_problem`: input size and batch size from ``p``, which multi-scale training and the
last, smaller batch change) and runs `invariants.check` on ``targets.device``. A failing
finding saves the batch's case file and overlay PNG under ``out_dir``, named by call number,
then raises `GuardViolation` or warns with `GuardWarning`. Any other call is a counter
increment and the wrapped call: no tensor work, no device sync.

Every call returns the wrapped function's output unchanged: the very same objects.

This module imports only the standard library when loaded: the package imports it eagerly,
so that ``yolo_diagnostics.guard`` is the function, never this module shadowing it, without
making the pytest plugin pay for torch. torch and the checks load on the first checked call.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import DiagnosticsError
from .files import write_atomic

if TYPE_CHECKING:
    from torch import Tensor

    from .assignment import YoloV5Output
    from .invariants import Violation
    from .problem import Problem

OnViolation = Literal["raise", "warn"]

# What `yolo-diagnostics show` replays a case with when the wrapped function is the yolov5
# package's own ComputeLoss.build_targets; any other assigner is named with --assigner.
_YOLOV5_ADAPTER = "yolo_diagnostics.adapters.yolov5:make_assigner"
_UNKNOWN_ASSIGNER = "unknown"


class _GuardFinding:
    """What a failing checked call found and where its evidence was saved."""

    def __init__(
        self,
        message: str,
        *,
        call: int,
        problem: Problem,
        violations: tuple[Violation, ...],
        case_path: Path,
        overlay_path: Path,
    ) -> None:
        super().__init__(message)
        self.call = call
        self.problem = problem
        self.violations = violations
        self.case_path = case_path
        self.overlay_path = overlay_path


class GuardViolation(_GuardFinding, RuntimeError):
    """A guarded ``build_targets`` call broke an invariant (``on_violation="raise"``).

    Attributes:
        call: the 1-based number of the offending call.
        problem: the batch's `Problem` the output was judged against.
        violations: the failing findings (``v.fails``), in `INVARIANTS` order.
        case_path: the saved case file (JSON).
        overlay_path: the saved overlay (PNG) of the image of the first failing row.
    """


class GuardWarning(_GuardFinding, UserWarning):
    """The warning category of ``on_violation="warn"``; the warning carries the same
    attributes as `GuardViolation`."""


def guard(
    build_targets: Callable[[Sequence[Tensor], Tensor], YoloV5Output],
    problem: Problem,
    every: int = 100,
    strict: bool = False,
    on_violation: OnViolation = "raise",
    *,
    out_dir: Path = Path("reports/guard"),
) -> Callable[[Sequence[Tensor], Tensor], YoloV5Output]:
    """Wrap ``build_targets`` so that calls 1, 1 + every, 1 + 2 * every, ... are checked.

    Args:
        build_targets: ``build_targets(p, targets)`` with ``p`` per level
            ``(B, na, ny, nx, no)`` and ``targets`` ``Tensor[nt, 6]`` = (image, class, x, y,
            w, h) normalized; a bound method (``compute_loss.build_targets``) works.
        problem: anchors (pixels), strides, ``anchor_t``, ``num_classes`` and ``g`` of the
            model; its ``img_size`` and ``batch_size`` are replaced per call from ``p``.
        every: check every ``every``-th call, starting with the first; ``>= 1``.
        strict: quirk findings (YOLOv5's duplicates, missed neighbours) fail too.
        on_violation: ``"raise"`` a `GuardViolation`, or ``"warn"`` with a `GuardWarning`
            and go on.
        out_dir: where a failing call's ``call-NNNNNN.json`` and ``.png`` are written.

    Returns:
        A function with the wrapped one's name and docstring (`functools.wraps`) returning
        its output unchanged. Invalid targets, or a ``p`` that does not fit ``problem``
        (levels, anchors, grid sizes), raise ``ValueError`` on a checked call in both modes:
        they are misuse, not findings.
    """
    from .problem import Problem  # here, not at the top: see the module docstring

    if not callable(build_targets):
        got = type(build_targets).__name__
        raise DiagnosticsError(f"guard: build_targets must be callable, got {got}")
    if not isinstance(problem, Problem):
        raise DiagnosticsError(f"guard: problem must be a Problem, got {type(problem).__name__}")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise DiagnosticsError(f"guard: every must be an integer >= 1, got {every!r}")
    if on_violation not in ("raise", "warn"):
        raise DiagnosticsError(
            f"guard: on_violation must be 'raise' or 'warn', got {on_violation!r}"
        )
    judge = functools.partial(
        _judge,
        problem=problem,
        strict=bool(strict),
        on_violation=on_violation,
        out_dir=Path(out_dir),
        assigner=_replay_spec(build_targets),
        name=_name_of(build_targets),
    )
    calls = 0

    @functools.wraps(build_targets)
    def guarded(p: Sequence[Tensor], targets: Tensor) -> YoloV5Output:
        nonlocal calls
        calls += 1
        output = build_targets(p, targets)
        if (calls - 1) % every == 0:
            judge(calls, p, targets, output)
        return output

    return guarded


def batch_problem(problem: Problem, p: Sequence[Tensor]) -> Problem:
    """``problem`` with the input and batch size of the head outputs ``p``.

    ``img_size = (ny0 * s0, nx0 * s0)`` from level 0's grid ``p[0].shape[2:4]`` and stride
    ``s0 = problem.strides[0]``; ``batch_size = p[0].shape[0]``. Only shapes are read.
    Raises ``ValueError`` when ``p`` has another number of levels or anchors than ``problem``,
    or a level's grid is not ``(H // stride, W // stride)`` of that size.
    """
    if len(p) != problem.nl or any(len(pi.shape) != 5 for pi in p):
        got = [list(pi.shape) for pi in p]
        raise DiagnosticsError(
            f"guard: p must be {problem.nl} tensors (B, na, ny, nx, no), one per stride "
            f"{problem.strides}; got shapes {got}"
        )
    ny, nx = (int(n) for n in p[0].shape[2:4])
    try:
        batch = replace(
            problem,
            img_size=(ny * problem.strides[0], nx * problem.strides[0]),
            batch_size=int(p[0].shape[0]),
        )
    except ValueError as error:
        raise DiagnosticsError(
            f"guard: p[0] grid {(ny, nx)} gives no valid problem: {error}"
        ) from None
    expected = [(batch.na, *shape) for shape in batch.feature_shapes]
    got = [tuple(int(n) for n in pi.shape[1:4]) for pi in p]
    if got != expected:
        raise DiagnosticsError(
            f"guard: p does not fit the problem: (na, ny, nx) per level {got}, expected "
            f"{expected} for strides {problem.strides} at input {batch.img_size}"
        )
    return batch


def problem_from_model(model: Any) -> Problem:
    """The `Problem` YOLOv5's ``ComputeLoss(model)`` assigns with.

    Reads what ``ComputeLoss.__init__`` reads: the ``Detect`` head ``de_parallel(model)
    .model[-1]`` (``anchors`` ``Tensor[nl, na, 2]`` in grid units, ``stride`` ``Tensor[nl]``,
    ``nc``) and ``model.hyp["anchor_t"]``. Pixel anchors are grid anchors x stride, exact in
    float32 for power-of-two strides; ``anchors_grid()`` must give ``Detect.anchors`` back
    bit for bit, else ``ValueError``. ``img_size`` is 640 rounded up to a multiple of the
    largest stride and ``batch_size`` 1 (`guard` takes both from each batch); ``g`` is 0.5,
    which ``ComputeLoss.build_targets`` hard-codes. Needs no ``yolov5`` package: a model of
    a cloned ultralytics/yolov5 repository works too.
    """
    import torch

    from .problem import Problem

    parallel = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)
    bare = model.module if isinstance(model, parallel) else model
    try:
        head = bare.model[-1]
        grid = head.anchors.detach().float().cpu()
        stride = head.stride.detach().float().cpu()
        nc = int(head.nc)
    except (AttributeError, IndexError, TypeError) as error:
        raise DiagnosticsError(
            f"problem_from_model: expected a YOLOv5 model whose model[-1] is a Detect head "
            f"with anchors, stride and nc ({error})"
        ) from None
    hyp = getattr(model, "hyp", None) or getattr(bare, "hyp", None)
    if not isinstance(hyp, dict) or "anchor_t" not in hyp:
        raise DiagnosticsError(
            "problem_from_model: model.hyp['anchor_t'] is missing; set model.hyp = hyp as "
            "train.py does before ComputeLoss(model)"
        )
    largest = int(stride.max())
    side = -(-640 // largest) * largest
    problem = Problem(
        img_size=(side, side),
        strides=tuple(stride.tolist()),
        anchors=(grid * stride.view(-1, 1, 1)).tolist(),
        anchor_t=float(hyp["anchor_t"]),
        num_classes=nc,
    )
    if not torch.equal(problem.anchors_grid(), grid):
        raise DiagnosticsError(
            f"problem_from_model: pixel anchors do not give Detect.anchors back exactly "
            f"(strides {problem.strides} must be powers of two)"
        )
    return problem


# --------------------------------------------------------------------------- checked calls
def _judge(
    call: int,
    p: Sequence[Tensor],
    targets: Tensor,
    output: YoloV5Output,
    *,
    problem: Problem,
    strict: bool,
    on_violation: OnViolation,
    out_dir: Path,
    assigner: str,
    name: str,
) -> None:
    """Check one call's output; on a failing finding save the evidence, raise or warn."""
    import torch

    from . import invariants  # looked up per call: tests count the checks by patching it

    batch = batch_problem(problem, p)
    with torch.no_grad():
        try:
            found = invariants.check(batch, targets, output, strict=strict)
        except ValueError as error:  # invalid targets
            raise DiagnosticsError(f"guard: {name} call {call}: {error}") from None
        failing = tuple(v for v in found if v.fails)
        if not failing:
            return
        case_path, overlay_path = _save(
            out_dir, call, batch, targets, output, failing, strict, assigner, name
        )
    checks = ", ".join(dict.fromkeys(v.check for v in failing))
    message = (
        f"{name} call {call}: {len(failing)} failing finding(s) ({checks}); first: "
        f"{failing[0]}; case {case_path}, overlay {overlay_path}"
    )
    details: dict[str, Any] = {
        "call": call,
        "problem": batch,
        "violations": failing,
        "case_path": case_path,
        "overlay_path": overlay_path,
    }
    if on_violation == "raise":
        raise GuardViolation(message, **details)
    warnings.warn(GuardWarning(message, **details), stacklevel=3)  # at build_targets' caller


def _save(
    out_dir: Path,
    call: int,
    problem: Problem,
    targets: Tensor,
    output: YoloV5Output,
    failing: tuple[Violation, ...],
    strict: bool,
    assigner: str,
    name: str,
) -> tuple[Path, Path]:
    """Write ``call-NNNNNN.json`` (a contract case) and ``call-NNNNNN.png`` atomically."""
    from .harness.cases import case_to_data, dumps_case

    cpu_targets = targets.detach().cpu()
    stem = f"call-{call:06d}"
    case_path, overlay_path = out_dir / f"{stem}.json", out_dir / f"{stem}.png"
    replay = f"yolo-diagnostics show {case_path}"
    if assigner == _UNKNOWN_ASSIGNER:
        replay += " --assigner MODULE:FACTORY"
    content = {
        "assigner": assigner,
        "reference": None,
        "strict": strict,
        "check": failing[0].check,
        "message": str(failing[0]),
        "reproduce": replay,
        "case": case_to_data(
            "invariants", str(targets.device), {"problem": problem, "targets": cpu_targets}
        ),
        "guard": {
            "call": call,
            "build_targets": name,
            "violations": [str(v) for v in failing],
            "overlay": overlay_path.name,
        },
    }
    write_atomic(case_path, dumps_case(content))
    write_atomic(overlay_path, _overlay(problem, cpu_targets, output, failing))
    return case_path, overlay_path


def _overlay(
    problem: Problem, targets: Tensor, output: YoloV5Output, failing: tuple[Violation, ...]
) -> bytes:
    """The assignment of the first failing row's image, failing rows in red; the targets
    alone when the output's structure is broken (``shapes``) and cannot be drawn."""
    from .assignment import Assignment
    from .render import render_assignment, render_targets

    if any(v.check == "shapes" for v in failing):
        return render_targets(problem, targets, image_index=_image_of(problem, targets, None, ()))
    table = Assignment.from_yolov5(output).to("cpu")
    image = _image_of(problem, targets, table, failing)
    return render_assignment(problem, targets, table, violations=failing, image_index=image)


def _image_of(problem: Problem, targets: Tensor, table: Any, failing: tuple[Violation, ...]) -> int:
    """The image of the first failing row, else of the first failing target, else of
    target 0; an image id outside the batch (a ``bounds`` finding) is passed over."""
    candidates = []
    for v in failing:
        if table is not None and v.rows and v.rows[0] < len(table):
            candidates.append(int(table.image[v.rows[0]]))
        if v.targets:
            candidates.append(int(targets[v.targets[0], 0]))
    candidates.extend(int(t) for t in targets[:1, 0])
    return next((i for i in candidates if 0 <= i < problem.batch_size), 0)


def _replay_spec(build_targets: object) -> str:
    """The assigner factory that replays a case of ``build_targets``: the yolov5 adapter for
    the yolov5 package's own ``ComputeLoss.build_targets`` (not a subclass: that is other
    code), else ``"unknown"`` (``show`` then needs ``--assigner``)."""
    owner = type(getattr(build_targets, "__self__", None))
    if (owner.__module__, owner.__qualname__) == ("yolov5.utils.loss", "ComputeLoss"):
        return _YOLOV5_ADAPTER
    return _UNKNOWN_ASSIGNER


def _name_of(build_targets: object) -> str:
    name = getattr(build_targets, "__qualname__", None) or type(build_targets).__qualname__
    module = getattr(build_targets, "__module__", None)
    return f"{module}.{name}" if module else name
