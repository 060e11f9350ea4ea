"""The task-aligned assignment problem: the pyramid, the classes and the assigner's knobs.

A `TalProblem` is everything ``TaskAlignedAssigner.forward`` needs besides the predictions
and the ground truth: the input size and strides that place the anchor points, the number of
classes, and the hyper-parameters ``topk``, ``topk2``, ``alpha``, ``beta``, ``eps`` and the
small-box floor (STAL). Presets name the published configurations (see `TAL_PRESETS`).

The small-box floor of ultralytics 8.4: before the inside-the-box test, each side of a valid
GT shorter than `stal_threshold` is replaced by `stal_side` around the box centre, where
``stal_side = strides[1]`` on a multi-level pyramid (else ``strides[0]``). In ultralytics
8.4.190 the threshold is the floor itself (``stal_threshold=None``: a 15.9 px side becomes
16 px, a 16 px side stays). Before ultralytics#25912 the comparison used ``strides[0]`` while
the replacement used ``strides[1]``: ``stal_threshold=8`` models that (a 7.9 px side became
16 px, an 8.1 px side stayed 8.1 px); the preset ``ultralytics-pre25912`` sets it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import DiagnosticsError


@dataclass(frozen=True)
class TalProblem:
    """One task-aligned assignment problem.

    Args:
        num_classes: class ids are in ``[0, num_classes)``; ``pd_scores`` has this many columns.
        strides: pixels per cell on each level, strictly increasing, e.g. ``(8, 16, 32)``.
        img_size: network input ``(H, W)`` in pixels, divisible by every stride.
        batch_size: images per batch: the first dimension of every input.
        topk: anchors each GT proposes, by alignment metric.
        topk2: positives each GT keeps after conflicts (YOLO26's one-to-one head: 1);
            None keeps them all (ultralytics: ``topk2 or topk``).
        alpha: exponent of the class score in ``align = score**alpha * ciou**beta``.
        beta: exponent of the CIoU.
        eps: the candidate test's margin and the normalisation's guard.
        stal: the small-box floor of ultralytics 8.4 (see the module docstring).
        stal_threshold: sides below it are floored; None = `stal_side` (ultralytics 8.4.190).
    """

    num_classes: int = 80
    strides: tuple[int, ...] = (8, 16, 32)
    img_size: tuple[int, int] = (640, 640)
    batch_size: int = 1
    topk: int = 10
    topk2: int | None = None
    alpha: float = 0.5
    beta: float = 6.0
    eps: float = 1e-9
    stal: bool = True
    stal_threshold: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once
        set_(self, "strides", _int_tuple(self.strides, "strides"))
        set_(self, "img_size", _int_tuple(self.img_size, "img_size"))
        if len(self.img_size) != 2 or min(self.img_size) <= 0:
            _fail("img_size", f"expected a positive (H, W), got {self.img_size}")
        if not self.strides or min(self.strides) <= 0:
            _fail("strides", f"must be positive, got {self.strides}")
        if any(b <= a for a, b in zip(self.strides, self.strides[1:])):
            _fail("strides", f"must increase strictly, got {self.strides}")
        for s in self.strides:
            for name, side in zip(("H", "W"), self.img_size):
                if side % s:
                    _fail("img_size", f"{name}={side} is not divisible by stride {s}")
        for name in ("num_classes", "batch_size", "topk"):
            set_(self, name, _positive_int(getattr(self, name), name))
        if self.topk2 is not None:
            set_(self, "topk2", _positive_int(self.topk2, "topk2"))
        for name in ("alpha", "beta", "eps"):
            set_(self, name, _non_negative(getattr(self, name), name))
        if not isinstance(self.stal, bool):
            _fail("stal", f"must be True or False, got {self.stal!r}")
        if self.stal_threshold is not None:
            threshold = _non_negative(self.stal_threshold, "stal_threshold")
            if threshold == 0:
                _fail("stal_threshold", "must be > 0 (None: the floor itself)")
            set_(self, "stal_threshold", threshold)

    @property
    def feature_shapes(self) -> tuple[tuple[int, int], ...]:
        """Per level ``(ny, nx) = (H // stride, W // stride)``."""
        h, w = self.img_size
        return tuple((h // s, w // s) for s in self.strides)

    @property
    def num_anchors(self) -> int:
        """Anchor points over all levels: ``sum(ny * nx)``."""
        return sum(ny * nx for ny, nx in self.feature_shapes)

    @property
    def stal_side(self) -> float:
        """The floor's side in pixels: ``strides[1]`` on several levels, else ``strides[0]``."""
        return float(self.strides[1] if len(self.strides) > 1 else self.strides[0])

    @property
    def stal_below(self) -> float:
        """Sides strictly below this are floored (when `stal`)."""
        return self.stal_side if self.stal_threshold is None else self.stal_threshold

    @property
    def too_few_anchors(self) -> bool:
        """Whether ultralytics itself raises on this problem (given GT rows): ``torch.topk`` of
        more values than there are anchor points, in the first selection (``topk``) or the
        second (``topk2``, where it runs). The strict semantics caps both at the anchors."""
        k = max(self.topk, self.topk2 if self.topk2_applies and self.topk2 else 0)
        return self.num_anchors < k

    @property
    def topk2_applies(self) -> bool:
        """Whether a second selection runs: ultralytics' ``topk2 or topk`` differs from topk."""
        return self.topk2 is not None and self.topk2 != self.topk

    def anchor_points(
        self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> Tensor:
        """Anchor centres in pixels, ``Tensor[num_anchors, 2]`` (x, y).

        ``(i + 0.5) * stride`` per cell, level by level, x fastest within a level -- the
        points ``make_anchors(feats, strides, 0.5)`` gives in grid units, times the stride.
        """
        return torch.cat([self.level_axes(i, device, dtype)[2] for i in range(len(self.strides))])

    def level_axes(
        self, level: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One level's anchor x coordinates ``Tensor[nx]``, y coordinates ``Tensor[ny]`` and
        points ``Tensor[ny * nx, 2]``, in pixels."""
        ny, nx = self.feature_shapes[level]
        stride = self.strides[level]
        # computed in float32, as make_anchors does, then cast: exact for any practical grid
        x = ((torch.arange(nx, device=device, dtype=torch.float32) + 0.5) * stride).to(dtype)
        y = ((torch.arange(ny, device=device, dtype=torch.float32) + 0.5) * stride).to(dtype)
        points = torch.stack((x.expand(ny, nx), y[:, None].expand(ny, nx)), -1).reshape(-1, 2)
        return x, y, points

    @property
    def level_starts(self) -> tuple[int, ...]:
        """Index of each level's first anchor point, and the total at the end."""
        starts = [0]
        for ny, nx in self.feature_shapes:
            starts.append(starts[-1] + ny * nx)
        return tuple(starts)

    @classmethod
    def preset(cls, name: str, **overrides: object) -> TalProblem:
        """A published configuration by name (see `TAL_PRESETS`), fields overridable."""
        if name not in TAL_PRESETS:
            known = ", ".join(sorted(TAL_PRESETS))
            raise DiagnosticsError(f"unknown TAL preset {name!r}; known: {known}")
        return cls(**{**TAL_PRESETS[name], **overrides})  # type: ignore[arg-type]


_ULTRALYTICS: dict[str, object] = {"topk": 10, "alpha": 0.5, "beta": 6.0, "eps": 1e-9}

TAL_PRESETS: dict[str, dict[str, object]] = {
    # v8DetectionLoss of ultralytics 8.4 (YOLOv8, YOLO11, YOLO26's one-to-many head)
    "ultralytics": {**_ULTRALYTICS, "strides": (8, 16, 32), "stal": True},
    # the same P6 model (strides up to 64): the floor stays strides[1] = 16
    "ultralytics-p6": {**_ULTRALYTICS, "strides": (8, 16, 32, 64), "stal": True},
    # 8.4.0 until ultralytics#25912: sides below strides[0] = 8 grew to strides[1] = 16
    "ultralytics-pre25912": {**_ULTRALYTICS, "strides": (8, 16, 32), "stal_threshold": 8.0},
    # before the floor (ultralytics 8.3)
    "ultralytics-8.3": {**_ULTRALYTICS, "strides": (8, 16, 32), "stal": False},
    # YOLO26 / YOLOv10 end-to-end: the one-to-one head's second assigner
    "one2one": {**_ULTRALYTICS, "strides": (8, 16, 32), "topk": 7, "topk2": 1},
    # TOOD's hyper-parameters (the class defaults of TaskAlignedAssigner)
    "tood": {**_ULTRALYTICS, "strides": (8, 16, 32), "topk": 13, "alpha": 1.0},
}


def _fail(field: str, message: str) -> None:
    raise DiagnosticsError(f"TalProblem.{field}: {message}")


def _int_tuple(values: object, field: str) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        _fail(field, f"expected a sequence of integers, got {values!r}")
    out = tuple(values)  # type: ignore[arg-type]
    if not all(_is_integer(v) for v in out):
        _fail(field, f"expected integers, got {out}")
    return tuple(int(v) for v in out)


def _positive_int(value: object, field: str) -> int:
    if not _is_integer(value) or int(value) < 1:  # type: ignore[call-overload]
        _fail(field, f"must be an integer >= 1, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def _non_negative(value: object, field: str) -> float:
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, numbers.Real):
        _fail(field, f"must be a number, got {value!r}")
    v = float(value)  # type: ignore[arg-type]
    if not (math.isfinite(v) and v >= 0):
        _fail(field, f"must be finite and >= 0, got {value!r}")
    return v


def _is_integer(v: object) -> bool:
    """An int, or a float holding an integer; not a bool, NaN or inf."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return False
    return math.isfinite(v) and int(v) == v
