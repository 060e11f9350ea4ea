"""The published neighbour rules: which cells besides the centre cell get a positive.

Every anchor-based ``build_targets`` takes the centre cell ``floor(gxy)`` (clamped into the
grid) of each (target, anchor) pair under the ratio rule; they differ in the neighbours:

| rule | g | x - 1 test | x + 1 test |
|---|---|---|---|
| ``yolov5`` | 0.5 | ``(gx % 1 < g) & (gx > 1)`` | ``(gxi % 1 < g) & (gxi > 1)`` |
| ``yolov5-v4`` | 0.5 | as ``yolov5`` | ``(gx % 1 > 1 - g) & (gx < nx - 1)`` |
| ``five-positive`` | 1.0 | as ``yolov5`` | as ``yolov5`` |
| ``centre`` | 0 | none | none |

with ``gxi = nx - gx`` (y likewise; `RULES` names who follows each rule). A neighbour's
cell is ``(gxy -+ g).long()``: at g = 0.5 the cell on the side nearer the centre point, at
g = 1 the cells on both sides.

`published_tests` evaluates these expressions as the packages do (``semantics="yolov5"``,
quirks included); `strict_tests` is the rule they mean, on the exact in-cell offset
``u = gxy - c`` of the clamped centre cell ``c``: x - 1 when ``u < g`` and ``c >= 1``, x + 1
when ``u > 1 - g`` and ``c <= n - 2``. Both the reference and the invariant checks use them:
the checks then judge an output by its problem's rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the pytest plugin reads `RULES` in every session: no torch import here
    from torch import Tensor


@dataclass(frozen=True)
class Rule:
    """A published neighbour rule: its name, bias ``g`` and which packages follow it."""

    name: str
    g: float
    who: str


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            "yolov5",
            0.5,
            "yolov5 7.0, yolov5-utils, YOLOv7 ComputeLoss.build_targets and "
            "ComputeLossOTA.find_3_positive, yolort",
        ),
        Rule("yolov5-v4", 0.5, "YOLOv5 v3/v4, YOLOR (yolor 0.0.6)"),
        Rule("five-positive", 1.0, "YOLOv7 ComputeLossAuxOTA.find_5_positive"),
        Rule("centre", 0.0, "PyTorch-YOLOv3 (pytorchyolo 1.8.0)"),
    )
}
"""Rule name -> `Rule`; ``yolov5`` is the default everywhere."""

DEFAULT_RULE = "yolov5"


def published_tests(rule: str, g: float, gxy: Tensor, n: Tensor) -> tuple[Tensor, Tensor]:
    """The neighbour tests as the rule's published code writes them.

    ``gxy Tensor[..., 2]`` grid coordinates (x, y); ``n`` the grid size (nx, ny) as a float32
    tensor broadcastable to it (YOLOv5's ``gain[[2, 3]]``). Returns ``(lo, hi)``, each
    ``Tensor[..., 2]`` bool: take the x - 1 (y - 1) cell, take the x + 1 (y + 1) cell.
    """
    if rule == "centre":
        none = gxy.new_zeros(gxy.shape).bool()
        return none, none
    frac = _mod1(gxy)
    lo = (frac < g) & (gxy > 1)
    if rule == "yolov5-v4":
        return lo, (frac > 1 - g) & (gxy < n - 1)
    gxi = n - gxy  # the inverse, in the float dtype of gxy, as YOLOv5 computes it
    return lo, (_mod1(gxi) < g) & (gxi > 1)


def _mod1(x: Tensor) -> Tensor:
    """``x % 1`` (Python's sign: in [0, 1)) up to the sign of a zero, which no comparison
    sees: ``torch.remainder`` is ``fmod`` plus 1 where that is negative, and ``frac`` is
    ``fmod(x, 1)`` exactly; ``frac`` and a select are a third of ``%``'s time on the CPU."""
    f = x.frac()
    return f.where(~(f < 0), f + 1)


def strict_tests(g: float, u: Tensor, centre: Tensor, last: Tensor) -> tuple[Tensor, Tensor]:
    """The neighbour tests the rules mean, on the in-cell offset ``u = gxy - centre``.

    ``centre`` is the clamped centre cell (int64), ``last`` the grid's last index ``n - 1``,
    broadcastable. Returns ``(lo, hi)`` as `published_tests`.
    """
    return (u < g) & (centre >= 1), (u > 1 - g) & (centre < last)
