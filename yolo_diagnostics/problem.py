"""The assignment problem: input size, pyramid levels, anchors and the rule's hyper-parameters.

A `Problem` is everything `build_targets` needs besides the targets themselves. Anchors are
given in **pixels**, as in the model YAML files; `anchors_grid` divides them by the stride in
float32, exactly as `Detect.anchors /= stride` does in ultralytics/yolov5.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .errors import DiagnosticsError
from .rules import DEFAULT_RULE, RULES

AnchorSet = tuple[tuple[tuple[float, float], ...], ...]

# Published anchor sets, per level per anchor (w, h) in pixels.
YOLOV5_P5_ANCHORS: AnchorSet = (
    ((10, 13), (16, 30), (33, 23)),
    ((30, 61), (62, 45), (59, 119)),
    ((116, 90), (156, 198), (373, 326)),
)
YOLOV5_P6_ANCHORS: AnchorSet = (
    ((19, 27), (44, 40), (38, 94)),
    ((96, 68), (86, 152), (180, 137)),
    ((140, 301), (303, 264), (238, 542)),
    ((436, 615), (739, 380), (925, 792)),
)
YOLOV3_ANCHORS: AnchorSet = YOLOV5_P5_ANCHORS  # yolov5 inherited YOLOv3's COCO anchors
YOLOV7_ANCHORS: AnchorSet = (
    ((12, 16), (19, 36), (40, 28)),
    ((36, 75), (76, 55), (72, 146)),
    ((142, 110), (192, 243), (459, 401)),
)


@dataclass(frozen=True)
class Problem:
    """One anchor-assignment problem.

    Args:
        img_size: network input ``(H, W)`` in pixels; divisible by every stride.
        strides: per level, strictly increasing, e.g. ``(8, 16, 32)``.
        anchors: per level, per anchor ``(w, h)`` in pixels; the same number of anchors on
            every level, and the mean anchor area never decreasing as the stride grows.
        anchor_t: the wh-ratio threshold; a (target, anchor) pair is kept when
            ``max(r, 1 / r) < anchor_t`` (strict ``<``).
        num_classes: class ids are in ``[0, num_classes)``.
        batch_size: image ids are in ``[0, batch_size)``.
        g: the neighbour bias, the rule's own (see `rules`); given alone it names the rule it
            belongs to (0.5 ``yolov5``, 1.0 ``five-positive``, 0 ``centre``).
        rule: which neighbour rule assigns (`rules.RULES`): ``yolov5`` (default),
            ``yolov5-v4``, ``five-positive`` or ``centre``.
    """

    img_size: tuple[int, int]
    strides: tuple[int, ...]
    anchors: AnchorSet
    anchor_t: float = 4.0
    num_classes: int = 80
    batch_size: int = 1
    g: float | None = None
    rule: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise sequences to tuples once
        set_(self, "img_size", _int_tuple(self.img_size, "img_size"))
        set_(self, "strides", _int_tuple(self.strides, "strides"))
        set_(self, "anchors", _anchor_tuple(self.anchors))
        if len(self.img_size) != 2:
            raise DiagnosticsError(f"Problem.img_size: expected (H, W), got {self.img_size}")
        if min(self.img_size) <= 0:
            raise DiagnosticsError(f"Problem.img_size: must be positive, got {self.img_size}")
        if not self.strides or min(self.strides) <= 0:
            raise DiagnosticsError(f"Problem.strides: must be positive, got {self.strides}")
        for i in range(1, len(self.strides)):
            if self.strides[i] <= self.strides[i - 1]:
                raise DiagnosticsError(
                    f"Problem.strides: must increase strictly, got {self.strides} "
                    f"(level {i}: {self.strides[i]} after {self.strides[i - 1]})"
                )
        for s in self.strides:
            for name, side in zip(("H", "W"), self.img_size):
                if side % s:
                    raise DiagnosticsError(
                        f"Problem.img_size: {name}={side} is not divisible by stride {s}"
                    )
        if len(self.anchors) != len(self.strides):
            raise DiagnosticsError(
                f"Problem.anchors: {len(self.anchors)} levels of anchors for "
                f"{len(self.strides)} strides"
            )
        na = len(self.anchors[0])
        for i, level in enumerate(self.anchors):
            if len(level) != na or na == 0:
                raise DiagnosticsError(
                    f"Problem.anchors: level {i} has {len(level)} anchors, level 0 has {na}"
                )
            for k, (w, h) in enumerate(level):
                if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
                    raise DiagnosticsError(
                        f"Problem.anchors: level {i} anchor {k} must be finite and positive, "
                        f"got ({w}, {h})"
                    )
        # In pixels, not grid units: the grid-space comparison is yolov5 #447/#5855.
        areas = [sum(w * h for w, h in level) / na for level in self.anchors]
        for i in range(1, len(areas)):
            if areas[i] < areas[i - 1]:
                raise DiagnosticsError(
                    f"Problem.anchors: mean anchor area {areas[i]:g} px² at level {i} "
                    f"(stride {self.strides[i]}) is below {areas[i - 1]:g} px² at level {i - 1} "
                    f"(stride {self.strides[i - 1]}); anchors must be ordered like the strides"
                )
        anchor_t = _number(self.anchor_t)
        if anchor_t is None or not (math.isfinite(anchor_t) and anchor_t > 1):
            raise DiagnosticsError(
                f"Problem.anchor_t: must be finite and > 1, got {self.anchor_t!r}"
            )
        if not _is_integer(self.num_classes):
            raise DiagnosticsError(
                f"Problem.num_classes: must be an integer, got {self.num_classes}"
            )
        set_(self, "num_classes", int(self.num_classes))
        if self.num_classes < 1:
            raise DiagnosticsError(f"Problem.num_classes: must be >= 1, got {self.num_classes}")
        if not _is_integer(self.batch_size):
            raise DiagnosticsError(f"Problem.batch_size: must be an integer, got {self.batch_size}")
        set_(self, "batch_size", int(self.batch_size))
        if self.batch_size < 1:
            raise DiagnosticsError(f"Problem.batch_size: must be >= 1, got {self.batch_size}")
        rule, g = _rule_and_g(self.rule, self.g)
        set_(self, "rule", rule)
        set_(self, "g", g)

    @property
    def nl(self) -> int:
        """Number of pyramid levels."""
        return len(self.strides)

    @property
    def na(self) -> int:
        """Number of anchors per level."""
        return len(self.anchors[0])

    @property
    def feature_shapes(self) -> tuple[tuple[int, int], ...]:
        """Per level ``(ny, nx) = (H // stride, W // stride)``."""
        h, w = self.img_size
        return tuple((h // s, w // s) for s in self.strides)

    def anchors_grid(self, device: torch.device | str = "cpu") -> Tensor:
        """Anchors in grid units, ``Tensor[nl, na, 2]`` float32: pixels / stride in float32."""
        pixels = torch.tensor(self.anchors, dtype=torch.float32, device=device)
        strides = torch.tensor(self.strides, dtype=torch.float32, device=device)
        return pixels / strides.view(-1, 1, 1)

    def feature_maps(self, device: torch.device | str = "cpu") -> list[Tensor]:
        """Stand-ins for the head outputs ``p``: per level ``(B, na, ny, nx, 5 + nc)``.

        Zero-stride expanded tensors: only ``.shape`` is meant to be read, so no memory is
        spent on a real prediction.
        """
        no = 5 + self.num_classes
        zero = torch.zeros((), device=device)
        return [zero.expand(self.batch_size, self.na, ny, nx, no) for ny, nx in self.feature_shapes]

    @classmethod
    def preset(cls, name: str, **overrides: object) -> Problem:
        """A published configuration by name (see `PRESETS`), fields overridable."""
        if name not in PRESETS:
            raise DiagnosticsError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        strides, anchors = PRESETS[name]
        fields: dict[str, object] = {"img_size": (640, 640), "strides": strides, "anchors": anchors}
        fields.update(overrides)
        return cls(**fields)  # type: ignore[arg-type]


PRESETS: dict[str, tuple[tuple[int, ...], AnchorSet]] = {
    "yolov5-p5": ((8, 16, 32), YOLOV5_P5_ANCHORS),
    "yolov5-p6": ((8, 16, 32, 64), YOLOV5_P6_ANCHORS),
    "yolov3": ((8, 16, 32), YOLOV3_ANCHORS),
    "yolov7": ((8, 16, 32), YOLOV7_ANCHORS),
}


_RULE_OF_G = {0.5: "yolov5", 1.0: "five-positive", 0.0: "centre"}


def _rule_and_g(rule: object, g: object) -> tuple[str, float]:
    """The rule and its bias from what was given: either, both (agreeing) or neither."""
    if rule is not None and (not isinstance(rule, str) or rule not in RULES):
        raise DiagnosticsError(f"Problem.rule: expected one of {', '.join(RULES)}, got {rule!r}")
    if g is None:
        return rule or DEFAULT_RULE, RULES[rule or DEFAULT_RULE].g
    value = _number(g)
    if value is None or value not in _RULE_OF_G:
        raise DiagnosticsError(
            "Problem.g: the neighbour bias must be that of a rule, 0.5 (yolov5, yolov5-v4), "
            f"1.0 (five-positive) or 0 (centre), got {g!r}"
        )
    if rule is None:
        return _RULE_OF_G[value], value
    if value != RULES[rule].g:
        raise DiagnosticsError(
            f"Problem.g = {value:g} contradicts rule {rule!r}, whose g is {RULES[rule].g:g}"
        )
    return rule, value


def _is_integer(v: object) -> bool:
    """An int, or a float holding an integer; not a bool, NaN or inf."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return False
    return math.isfinite(v) and int(v) == v


def _number(v: object) -> float | None:
    """``v`` as a float when it is a number (a NumPy or 0-d torch one too); None for a
    bool, a string or anything else."""
    if isinstance(v, (bool, str, bytes)) or not hasattr(v, "__float__"):
        return None
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # a tensor of several elements
        return None


def _is_sequence(v: object) -> bool:
    """A list, tuple, array or tensor; not a string, a mapping or a number."""
    return (
        hasattr(v, "__len__") and hasattr(v, "__iter__") and not isinstance(v, (str, bytes, dict))
    )


def _int_tuple(values: Sequence[int], field: str) -> tuple[int, ...]:
    if not _is_sequence(values):
        raise DiagnosticsError(f"Problem.{field}: expected a sequence of integers, got {values!r}")
    out = []
    for v in values:
        if not _is_integer(v):
            raise DiagnosticsError(f"Problem.{field}: expected integers, got {tuple(values)}")
        out.append(int(v))
    return tuple(out)


def _anchor_tuple(anchors: Sequence[Sequence[Sequence[float]]]) -> AnchorSet:
    if not _is_sequence(anchors):
        raise DiagnosticsError(f"Problem.anchors: expected levels of (w, h) pairs, got {anchors!r}")
    levels = []
    for i, level in enumerate(anchors):
        if not _is_sequence(level):
            raise DiagnosticsError(f"Problem.anchors: level {i} is not a list of (w, h) pairs")
        pairs = []
        for k, pair in enumerate(level):
            wh = [_number(v) for v in pair] if _is_sequence(pair) else []
            if len(wh) != 2 or None in wh:
                raise DiagnosticsError(
                    f"Problem.anchors: level {i} anchor {k} is not a (w, h) pair"
                )
            pairs.append((wh[0], wh[1]))
        levels.append(tuple(pairs))
    return tuple(levels)


def anchor_set(spec: str) -> tuple[tuple[int, ...], AnchorSet]:
    """Strides and pixel anchors from a preset name (see `PRESETS`) or a YOLOv5 model YAML.

    The YAML's ``anchors:`` is a list per level of ``[w1, h1, w2, h2, ...]`` (or of
    ``[w, h]`` pairs); its levels are P3, P4, ... with strides 8, 16, ... unless the file
    says ``strides: [...]``. Raises ``ValueError`` naming the file and what is wrong.
    """
    if spec in PRESETS:
        return PRESETS[spec]
    import yaml  # only for files

    try:
        with open(spec) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise DiagnosticsError(
            f"anchors {spec!r}: neither a preset ({', '.join(sorted(PRESETS))}) nor a file"
        ) from None
    except (OSError, yaml.YAMLError) as error:
        raise DiagnosticsError(f"{spec}: not a readable model YAML: {error}") from None
    anchors = data.get("anchors") if isinstance(data, dict) else None
    if isinstance(anchors, int):
        raise DiagnosticsError(
            f"{spec}: anchors: {anchors} is a count (YOLOv5 computes those anchors by "
            "AutoAnchor); give the pixel anchors the model trains with"
        )
    if not isinstance(anchors, list) or not anchors:
        raise DiagnosticsError(f"{spec}: no 'anchors:' list of levels")
    levels = []
    for i, level in enumerate(anchors):
        flat = [v for item in level for v in (item if isinstance(item, list) else [item])]
        if len(flat) < 2 or len(flat) % 2 or not all(isinstance(v, numbers.Real) for v in flat):
            raise DiagnosticsError(f"{spec}: anchors level {i} is not a list of w, h pixel pairs")
        levels.append(tuple(zip(flat[::2], flat[1::2])))
    strides = data.get("strides", [8 * 2**i for i in range(len(levels))])
    return _int_tuple(strides, "strides"), _anchor_tuple(levels)
