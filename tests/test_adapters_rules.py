"""The other published anchor assigners through their adapters: YOLOv7's three target
builders, YOLOR, PyTorch-YOLOv3 and yolov5's segmentation loss, each under its own rule.

Each package's tests skip when it is not installed (``tox -e adapters`` installs them).
Findings pinned here (the README's findings table):

- yolov7 (``yolov7detect`` 1.0.1): ``ComputeLoss.build_targets``, ``find_3_positive`` and
  ``find_5_positive`` equal the reference bit for bit (rules yolov5 and five-positive).
  ``check_anchor_order`` compares the area of the first anchor of the first level with the
  last anchor of the last level, with no ``da and`` guard, where yolov5 7.0 compares the
  levels' mean areas: anchors listed unsorted within a level flip a correctly ordered head.
- yolor 0.0.6: ``utils/loss.py`` imports ``ylor``, which does not exist; past that (the
  adapter aliases it) every call crashes on ``clamp_`` with float bounds, as yolort's; past
  that too (a scratch copy of the function with int bounds, made here, never shipped) it
  equals the yolov5-v4 reference, and an empty batch returns the anchor indices as a Python
  list ``[]``.
- pytorchyolo 1.8.0: equals the centre reference with 3 anchors per level and anchor_t 4; it
  hard-codes both: other anchor counts crash (declared not applicable by the adapter), and
  another anchor_t is silently ignored (the contract's ratio check fails).
- yolov5's segmentation loss equals its detection loss and the reference.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from types import ModuleType

import pytest
import torch

from yolo_diagnostics import Assignment, NotApplicable, Problem, check, check_assigner, diff
from yolo_diagnostics.adapters._support import INSTALL
from yolo_diagnostics.corpus import corpus
from yolo_diagnostics.reference import make_assigner as reference_assigner
from yolo_diagnostics.rules import RULES

# (adapter module, factory, its rule)
FACTORIES = [
    ("yolov7", "make_assigner", "yolov5"),
    ("yolov7", "make_find3", "yolov5"),
    ("yolov7", "make_find5", "five-positive"),
    ("pytorchyolo", "make_assigner", "centre"),
    ("yolov5", "make_segment_assigner", "yolov5"),
]
CLAMP_ERROR = "result type Float can't be cast to the desired output type long int"


def _adapter(package: str) -> ModuleType:
    """The adapter module; skips when its package is not installed."""
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (tox -e adapters, or: {INSTALL[package]})")
    return importlib.import_module(f"yolo_diagnostics.adapters.{package}")


def _table(build_targets, problem: Problem, targets: torch.Tensor) -> Assignment:
    return Assignment.from_yolov5(build_targets(problem.feature_maps(), targets))


@pytest.mark.parametrize(("package", "factory", "rule"), FACTORIES)
def test_equals_the_reference_of_its_rule(package: str, factory: str, rule: str) -> None:
    make = getattr(_adapter(package), factory)
    compared = 0
    for case in corpus(seed=0, rule=rule):
        if package == "pytorchyolo" and case.problem.na != 3:
            continue  # declared not applicable: see test_pytorchyolo_declines_other_counts
        expected = _table(reference_assigner(case.problem, "cpu"), case.problem, case.targets)
        actual = _table(make(case.problem, "cpu"), case.problem, case.targets)
        d = diff(expected, actual)
        assert d.equal, f"{case.name}: {d.summary()}"
        compared += len(actual)
    assert compared > 1000


@pytest.mark.parametrize(("package", "factory", "rule"), FACTORIES)
def test_declines_the_other_rules(package: str, factory: str, rule: str) -> None:
    make = getattr(_adapter(package), factory)
    for other in RULES:
        if other == rule:
            continue
        problem = Problem.preset("yolov5-p5", rule=other)
        with pytest.raises(NotApplicable, match=rf"rule '{other}': the {package} package "):
            make(problem, "cpu")


def test_find_positive_rows_are_restored_from_the_package_alone() -> None:
    """find_3_positive gives (indices, anch) only; the adapter's image, class and tbox are
    those ComputeLoss.build_targets of the same package writes, row for row, in order."""
    adapter = _adapter("yolov7")
    problem = Problem.preset("yolov7", img_size=(320, 608), batch_size=3)
    (case,) = [c for c in corpus(seed=1) if c.name == "yolov7-320x608/random"]
    full = adapter.make_assigner(problem, "cpu")(problem.feature_maps(), case.targets)
    found = adapter.make_find3(problem, "cpu")(problem.feature_maps(), case.targets)
    for ours, theirs in zip(found, full):
        for a, b in zip(ours, theirs):
            a, b = (torch.stack(x) if isinstance(x, tuple) else x for x in (a, b))
            assert torch.equal(a, b)


def test_yolov7_reverses_levels_by_their_first_and_last_anchor() -> None:
    """Mean anchor areas 458 and 512.5 px² increase with the stride, as the problem
    requires; the first anchor (30 x 30) is larger than the last (20 x 20), so YOLOv7's
    check_anchor_order flips the levels. yolov5 7.0's compares mean areas and does not."""
    yolov7, yolov5 = _adapter("yolov7"), _adapter("yolov5")
    problem = Problem(
        img_size=(64, 64), strides=(8, 16), anchors=(((30, 30), (4, 4)), ((25, 25), (20, 20)))
    )
    assert torch.equal(yolov5.make_assigner(problem, "cpu").loss.anchors, problem.anchors_grid())
    loss = yolov7.make_assigner(problem, "cpu").loss
    flipped = torch.tensor(problem.anchors[::-1], dtype=torch.float32)
    assert torch.equal(loss.anchors, flipped / torch.tensor([8.0, 16.0]).view(-1, 1, 1))
    targets = torch.tensor([[0, 0, 0.5, 0.5, 0.3, 0.3]])  # 19.2 px: anchors near 20 px
    violations = check(
        problem, targets, yolov7.make_assigner(problem, "cpu")(problem.feature_maps(), targets)
    )
    assert {v.check for v in violations if v.fails} >= {"geometry"}


def test_pytorchyolo_declines_other_counts_which_the_package_cannot_run() -> None:
    adapter = _adapter("pytorchyolo")
    problem = Problem(img_size=(64, 64), strides=(8,), anchors=(((8, 8), (32, 32)),), g=0)
    with pytest.raises(NotApplicable, match=r"2 anchors per level: pytorchyolo's .* hard-codes 3"):
        adapter.make_assigner(problem, "cpu")
    # the package itself, given such a model: a crash, not an answer
    from pytorchyolo.models import YOLOLayer
    from pytorchyolo.utils.loss import build_targets

    layer = YOLOLayer([(8, 8), (32, 32)], 80, new_coords=False)
    layer.stride = 8
    model = torch.nn.Module()
    model.yolo_layers = [layer]
    with pytest.raises(RuntimeError, match="must match the size of tensor"):
        build_targets(problem.feature_maps(), torch.tensor([[0, 0, 0.5, 0.5, 0.2, 0.2]]), model)


def test_pytorchyolo_ignores_anchor_t() -> None:
    """anchor_t 2.91: a 4 x 4-cell box against a 1.5-cell anchor (ratio 2.7) is kept, one
    against a 1-cell anchor (ratio 4 - 1/64) is kept by pytorchyolo's hard-coded 4."""
    adapter = _adapter("pytorchyolo")
    anchors = (((8, 8), (12, 12), (16, 16)),)
    problem = Problem(img_size=(64, 64), strides=(8,), anchors=anchors, anchor_t=2.91, g=0)
    targets = torch.tensor([[0, 0, 0.5, 0.5, 31.75 / 64, 31.75 / 64]])
    output = adapter.make_assigner(problem, "cpu")(problem.feature_maps(), targets)
    assert sorted(output[2][0][1].tolist()) == [0, 1, 2]  # all three anchors: ratios < 4
    ratio = [v for v in check(problem, targets, output) if v.check == "ratio"]
    assert ratio and "is not < anchor_t = 2.91" in ratio[0].message
    expected = reference_assigner(problem, "cpu")(problem.feature_maps(), targets)
    assert sorted(expected[2][0][1].tolist()) == [1, 2]


def test_pytorchyolo_import_leaves_no_imgaug_placeholder() -> None:
    _adapter("pytorchyolo")
    module = sys.modules.get("imgaug")
    assert module is None or "placeholder" not in (module.__doc__ or "")


def test_yolor_import_leaves_no_ylor_alias() -> None:
    _adapter("yolor")
    assert not [name for name in sys.modules if name == "ylor" or name.startswith("ylor.")]
    with pytest.raises(ModuleNotFoundError, match="No module named 'ylor'"):
        importlib.import_module("ylor")


def test_yolor_crashes_on_its_index_clamp() -> None:
    adapter = _adapter("yolor")
    for case in corpus(seed=0, rule="yolov5-v4"):
        build_targets = adapter.make_assigner(case.problem, "cpu")
        with pytest.raises(RuntimeError, match=CLAMP_ERROR) as raised:
            build_targets(case.problem.feature_maps(), case.targets)
        assert raised.traceback[-1].path.name == "loss.py"  # in the package


def _yolor_with_int_bounds():
    """YOLOR's build_targets with the clamp bounds made ints (yolov5's fix, PR #8067),
    compiled here from the installed package's own source: a scratch copy, never shipped."""
    _adapter("yolor")
    loss = sys.modules["yolor.utils.loss"]
    source = inspect.getsource(loss.build_targets)
    fixed = source.replace("gain[3] - 1", "int(gain[3]) - 1").replace(
        "gain[2] - 1", "int(gain[2]) - 1"
    )
    assert fixed.count("int(gain[") == 2
    namespace = dict(vars(loss))
    exec(compile(fixed, loss.__file__, "exec"), namespace)
    return namespace["build_targets"]


def test_yolor_past_its_clamp_is_the_v4_rule_and_returns_a_list_when_empty() -> None:
    adapter = _adapter("yolor")
    build_targets = _yolor_with_int_bounds()
    for case in corpus(seed=0, rule="yolov5-v4"):
        problem = case.problem
        model = adapter.make_assigner(problem, "cpu").model
        output = build_targets(problem.feature_maps(), case.targets, model)
        if len(case.targets) == 0:
            assert output[2][0][1] == []  # `a` stays the Python list it starts as
            shapes = check(problem, case.targets, output)
            assert [v.check for v in shapes] == ["shapes"] * problem.nl
            assert "a: expected tensors" in shapes[0].message
            continue
        expected = _table(reference_assigner(problem, "cpu"), problem, case.targets)
        d = diff(expected, Assignment.from_yolov5(output))
        assert d.equal, f"{case.name}: {d.summary()}"


@pytest.mark.parametrize(
    ("package", "factory", "rule"),
    [
        ("yolov7", "make_find5", "five-positive"),
        ("pytorchyolo", "make_assigner", "centre"),
        ("yolov5", "make_segment_assigner", "yolov5"),
    ],
)
def test_passes_the_contract_of_its_rule(package: str, factory: str, rule: str) -> None:
    make = getattr(_adapter(package), factory)
    if package == "pytorchyolo":  # anchor_t is hard-coded: the contract's own 4.0 only

        def make(problem, device, _make=make):  # noqa: F811
            if problem.anchor_t != 4.0:
                raise NotApplicable("pytorchyolo hard-codes anchor_t = 4")
            return _make(problem, device)

    result = check_assigner(make, max_examples=15, profile="ci", rule=rule)
    assert result.passed, [(f.property, f.check, f.message) for f in result.failures]
    quirks = {q.check for o in result.outcomes for q in o.quirks}
    assert quirks <= {"duplicates", "missed-neighbour"}
    if rule == "centre":
        assert quirks == set()  # the centre rule has no quirk
