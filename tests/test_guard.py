"""The training-loop guard on real assigners: the reference, and the yolov5 package's own
``ComputeLoss`` with a real ``DetectionModel`` (yolov5n, random weights) and its predictions."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yolo_diagnostics import (
    GuardViolation,
    GuardWarning,
    Problem,
    guard,
    invariants,
    problem_from_model,
)
from yolo_diagnostics.adapters._support import INSTALL
from yolo_diagnostics.cli import main
from yolo_diagnostics.contract.cases import case_from_data
from yolo_diagnostics.corpus import random_targets
from yolo_diagnostics.guard import batch_problem
from yolo_diagnostics.reference import make_assigner
from yolo_diagnostics.render import layout_size
from yolo_diagnostics.report.contract import load_case

sys.path.insert(0, str(Path(__file__).parent))  # the buggy assigners live beside this file
from buggy_assigners import anchors_in_pixels  # noqa: E402

PROBLEM = Problem.preset("yolov5-p5", img_size=(256, 320), batch_size=2, num_classes=3)
# Hand-picked: a centre on an integer grid point of every level (x = 0.5 on 40/20/10 cells,
# YOLOv5's duplicate row), a box at the right border (x = 1: the clamp), and a large box.
TARGETS = torch.tensor(
    [
        [0, 0, 0.5, 0.5, 0.15, 0.2],
        [1, 2, 1.0, 0.3, 0.1, 0.1],
        [1, 1, 0.3, 0.7, 0.6, 0.5],
    ]
)


class Recording:
    """A real assigner that keeps the last output it returned."""

    def __init__(self, build_targets) -> None:
        self.build_targets = build_targets
        self.output = None

    def __call__(self, p, targets):
        self.output = self.build_targets(p, targets)
        return self.output


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """The targets of every call `invariants.check` judged (the guard looks it up there)."""
    seen: list[torch.Tensor] = []
    real = invariants.check

    def counting(problem, targets, output, *, strict=False):
        seen.append(targets)
        return real(problem, targets, output, strict=strict)

    monkeypatch.setattr(invariants, "check", counting)
    return seen


# ------------------------------------------------------------------ pass-through and every
def test_output_is_passed_through_on_checked_and_skipped_calls(device: str, tmp_path) -> None:
    assigner = Recording(make_assigner(PROBLEM, device))
    guarded = guard(assigner, PROBLEM, every=2, out_dir=tmp_path)
    p, t = PROBLEM.feature_maps(device), TARGETS.to(device)
    for _ in range(3):  # checked, skipped, checked
        out = guarded(p, t)
        assert out is assigner.output
        assert all(a is b for a, b in zip(out, assigner.output))
    # level 0 by hand: target 0 (gxy = (20, 16) integer) keeps anchors 1 and 2, each with
    # centre + 4 neighbours; target 1 (gxy = (40, 9.6)) keeps all 3, each centre + left + down
    assert len(out[0][0]) == 2 * 5 + 3 * 3
    assert list(tmp_path.iterdir()) == []  # nothing fails, nothing is written


@pytest.mark.parametrize(
    ("every", "expected"), [(1, [1, 2, 3, 4, 5, 6, 7]), (3, [1, 4, 7]), (10, [1])]
)
def test_every_checks_the_first_call_then_every_nth(
    every: int, expected: list[int], checked: list[torch.Tensor], device: str, tmp_path
) -> None:
    guarded = guard(make_assigner(PROBLEM, device), PROBLEM, every=every, out_dir=tmp_path)
    p = PROBLEM.feature_maps(device)
    batches = [TARGETS.to(device).clone() for _ in range(7)]  # one object per call
    for t in batches:
        guarded(p, t)
    calls = [next(k for k, t in enumerate(batches, 1) if t is seen) for seen in checked]
    assert calls == expected


def test_skipped_calls_do_not_touch_p_or_targets(tmp_path) -> None:
    output = make_assigner(PROBLEM, "cpu")(PROBLEM.feature_maps(), TARGETS)
    guarded = guard(lambda p, t: output, PROBLEM, every=3, out_dir=tmp_path)
    assert guarded(PROBLEM.feature_maps(), TARGETS) is output  # call 1: checked
    for _ in range(2):  # calls 2 and 3: no shape read, no tensor work
        assert guarded(None, None) is output
    with pytest.raises(TypeError):  # call 4 is checked: it reads p
        guarded(None, None)


def test_a_bound_method_is_wrapped_under_its_own_name(tmp_path) -> None:
    class Loss:
        def build_targets(self, p, targets):
            """Docstring kept."""
            return make_assigner(PROBLEM, "cpu")(p, targets)

    loss = Loss()
    loss.build_targets = guard(loss.build_targets, PROBLEM, every=1, out_dir=tmp_path)
    assert loss.build_targets.__name__ == "build_targets"
    assert loss.build_targets.__doc__ == "Docstring kept."
    assert len(loss.build_targets(PROBLEM.feature_maps(), TARGETS)[0]) == 3


# ------------------------------------------------------------------ raise and warn
def test_raise_carries_the_violations_and_saves_case_and_overlay(device: str, tmp_path) -> None:
    p, t = PROBLEM.feature_maps(device), TARGETS.to(device)
    with pytest.raises(GuardViolation) as caught:
        guard(anchors_in_pixels(PROBLEM, device), PROBLEM, every=1, out_dir=tmp_path)(p, t)
    error = caught.value
    assert error.call == 1
    assert error.problem == PROBLEM
    assert {v.check for v in error.violations} == {"geometry", "ratio"}
    assert all(v.fails for v in error.violations)
    assert "anch [10.0, 13.0] != anchors[0][0] = [1.25, 1.625]" in str(error)
    assert (error.case_path, error.overlay_path) == (
        tmp_path / "call-000001.json",
        tmp_path / "call-000001.png",
    )
    png = cv2.imdecode(np.frombuffer(error.overlay_path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert png.shape == (*layout_size(PROBLEM), 3)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["call-000001.json", "call-000001.png"]

    content = load_case(error.case_path)  # the contract's validation accepts it
    prop, where, case = case_from_data(content["case"])
    assert (prop, where) == ("invariants", device)
    assert case["problem"] == PROBLEM
    assert torch.equal(case["targets"], TARGETS) and case["targets"].dtype == TARGETS.dtype
    assert content["check"] == error.violations[0].check == "geometry"
    assert content["guard"]["call"] == 1
    assert content["guard"]["violations"] == [str(v) for v in error.violations]
    assert content["assigner"] == "unknown"


def test_a_later_call_is_named_by_its_number(tmp_path) -> None:
    broken = anchors_in_pixels(PROBLEM, "cpu")
    good = make_assigner(PROBLEM, "cpu")
    outputs = iter([good, good, good, broken])
    guarded = guard(lambda p, t: next(outputs)(p, t), PROBLEM, every=3, out_dir=tmp_path)
    for _ in range(3):  # calls 1 (checked, passes), 2, 3
        guarded(PROBLEM.feature_maps(), TARGETS)
    with pytest.raises(GuardViolation, match="call 4: ") as caught:
        guarded(PROBLEM.feature_maps(), TARGETS)
    assert caught.value.call == 4
    assert caught.value.case_path == tmp_path / "call-000004.json"
    assert json.loads(caught.value.case_path.read_text())["guard"]["call"] == 4


def test_warn_goes_on_with_the_output_and_saves_the_same(device: str, tmp_path) -> None:
    assigner = Recording(anchors_in_pixels(PROBLEM, device))
    guarded = guard(assigner, PROBLEM, every=1, on_violation="warn", out_dir=tmp_path)
    with pytest.warns(GuardWarning, match=r"call 1: 6 failing finding\(s\) \(geometry, ratio\)"):
        out = guarded(PROBLEM.feature_maps(device), TARGETS.to(device))
    assert out is assigner.output
    with pytest.warns(GuardWarning) as record:
        guarded(PROBLEM.feature_maps(device), TARGETS.to(device))
    warning = record[0].message
    assert isinstance(warning, GuardWarning) and warning.call == 2
    assert {v.check for v in warning.violations} == {"geometry", "ratio"}
    assert warning.overlay_path.is_file() and warning.case_path.is_file()
    assert record[0].filename == __file__  # pointed at the caller of build_targets


def test_strict_fails_on_quirks_that_pass_by_default(tmp_path) -> None:
    # x = 0.5 is an integer grid coordinate: YOLOv5's duplicate row, a quirk
    guard(make_assigner(PROBLEM, "cpu"), PROBLEM, every=1, out_dir=tmp_path)(
        PROBLEM.feature_maps(), TARGETS
    )
    strict = guard(make_assigner(PROBLEM, "cpu"), PROBLEM, every=1, strict=True, out_dir=tmp_path)
    with pytest.raises(GuardViolation) as caught:
        strict(PROBLEM.feature_maps(), TARGETS)
    assert {v.check for v in caught.value.violations} == {"duplicates"}
    assert json.loads(caught.value.case_path.read_text())["strict"] is True


def test_the_case_replays_with_show(capsys, tmp_path) -> None:
    with pytest.raises(GuardViolation) as caught:
        guard(anchors_in_pixels(PROBLEM, "cpu"), PROBLEM, every=1, out_dir=tmp_path)(
            PROBLEM.feature_maps(), TARGETS
        )
    case = str(caught.value.case_path)
    replay = ["show", case, "--out", str(tmp_path / "replay.png"), "--assigner"]
    assert main([*replay, "buggy_assigners:anchors_in_pixels"]) == 1
    assert "fails: [geometry]" in capsys.readouterr().out
    assert main([*replay, "yolo_diagnostics.reference:make_assigner"]) == 0
    assert "passes now" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:  # no factory recorded: show says what it needs
        main(["show", case])
    assert exited.value.code == 2
    assert "assigner 'unknown'" in capsys.readouterr().err


# ------------------------------------------------------------------ multi-scale batches
def test_batch_problem_follows_the_batch() -> None:
    p = replace(PROBLEM, img_size=(512, 640), batch_size=3).feature_maps()
    assert batch_problem(PROBLEM, p) == replace(PROBLEM, img_size=(512, 640), batch_size=3)


def test_multiscale_batches_and_a_smaller_last_batch_pass(
    checked: list[torch.Tensor], device: str, tmp_path
) -> None:
    def reference(p, targets):  # the reference of each batch's size, as a real loss reads p
        return make_assigner(batch_problem(PROBLEM, p), device)(p, targets)

    guarded = guard(reference, PROBLEM, every=1, out_dir=tmp_path)
    for size, batch in (((512, 640), 4), ((640, 512), 4), ((384, 640), 1)):
        problem = replace(PROBLEM, img_size=size, batch_size=batch)
        t = random_targets(problem, 30, seed=batch).to(device)
        out = guarded(problem.feature_maps(device), t)
        assert sum(len(c) for c in out[0]) > 30
    assert len(checked) == 3 and list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ misuse
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every": 0}, "every must be an integer >= 1, got 0"),
        ({"every": 2.5}, "every must be an integer >= 1, got 2.5"),
        ({"every": True}, "every must be an integer >= 1, got True"),
        ({"on_violation": "ignore"}, "on_violation must be 'raise' or 'warn', got 'ignore'"),
        ({"problem": "yolov5-p5"}, "problem must be a Problem, got str"),
        ({"build_targets": None}, "build_targets must be callable, got NoneType"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    arguments = {"build_targets": make_assigner(PROBLEM, "cpu"), "problem": PROBLEM, **kwargs}
    with pytest.raises(ValueError, match=f"^guard: {message}"):
        guard(**arguments)


@pytest.mark.parametrize("on_violation", ["raise", "warn"])
def test_p_that_does_not_fit_the_problem_is_refused_on_the_first_call(
    on_violation: str, tmp_path
) -> None:
    p6 = Problem.preset("yolov5-p6", img_size=(256, 320), batch_size=2, num_classes=3)
    guarded = guard(lambda p, t: None, PROBLEM, 5, on_violation=on_violation, out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"guard: p must be 3 tensors .* got shapes \[\[2, 3, 32"):
        guarded(p6.feature_maps(), TARGETS)
    two_anchors = Problem((256, 320), (8, 16, 32), [[(10, 13), (16, 30)]] * 3, num_classes=3)
    with pytest.raises(ValueError, match=r"\(na, ny, nx\) per level \[\(2, 32, 40\)"):
        guard(lambda p, t: None, PROBLEM)(two_anchors.feature_maps(), TARGETS)


@pytest.mark.parametrize("on_violation", ["raise", "warn"])
def test_invalid_targets_raise_in_both_modes(on_violation: str, tmp_path) -> None:
    output = make_assigner(PROBLEM, "cpu")(PROBLEM.feature_maps(), TARGETS)
    # an assigner that does not validate its targets, as YOLOv5's does not
    guarded = guard(lambda p, t: output, PROBLEM, on_violation=on_violation, out_dir=tmp_path)
    bad = TARGETS.clone()
    bad[1, 1] = 3  # num_classes is 3
    with pytest.raises(ValueError, match=r"call 1: targets row 1, field 'class': must be in"):
        guarded(PROBLEM.feature_maps(), bad)


# ------------------------------------------------------------------ the yolov5 package
@pytest.fixture(scope="module")
def yolov5n():
    """A real yolov5n ``DetectionModel`` (3 classes, random weights) with train.py's hyp."""
    if importlib.util.find_spec("yolov5") is None:
        pytest.skip(f"yolov5 is not installed ({INSTALL['yolov5']})")
    import yaml

    from yolo_diagnostics.adapters import yolov5 as adapter

    torch.manual_seed(0)
    from yolov5.models.yolo import DetectionModel  # after the adapter: offline-safe

    cfg = Path(adapter.yolov5.__file__).parent / "models" / "yolov5n.yaml"
    model = DetectionModel(str(cfg), nc=3)
    model.hyp = yaml.safe_load(adapter.HYP.read_text())  # as train.py, before ComputeLoss
    return model.train()


def _loss_class(bug: str):
    from yolov5.utils.loss import ComputeLoss

    class Planted(ComputeLoss):
        def build_targets(self, p, targets):
            tcls, tbox, indices, anch = super().build_targets(p, targets)
            if bug == "gj-off-by-one":
                indices = [
                    (b, a, (gj + 1).clamp(0, pi.shape[2] - 1), gi)
                    for (b, a, gj, gi), pi in zip(indices, p)
                ]
            elif bug == "last-level-dropped":
                tcls[-1], tbox[-1], anch[-1] = tcls[-1][:0], tbox[-1][:0], anch[-1][:0]
                indices[-1] = tuple(x[:0] for x in indices[-1])
            elif bug == "clamp-dropped":  # x = 1 gives gx = nx: the clamp moved it to nx - 1
                indices = [
                    (b, a, gj, gi + ((gi == pi.shape[3] - 1) & (tb[:, 0] == 1)).long())
                    for (b, a, gj, gi), tb, pi in zip(indices, tbox, p)
                ]
            return tcls, tbox, indices, anch

    return Planted


def test_problem_from_model_reads_the_detect_head(yolov5n) -> None:
    problem = problem_from_model(yolov5n)
    expected = Problem.preset("yolov5-p5", num_classes=3, anchor_t=yolov5n.hyp["anchor_t"])
    assert problem == expected
    assert torch.equal(problem.anchors_grid(), yolov5n.model[-1].anchors)
    assert problem_from_model(torch.nn.DataParallel(yolov5n)) == expected


def test_problem_from_model_keeps_evolved_anchors_exact(yolov5n) -> None:
    head = yolov5n.model[-1]
    saved = head.anchors.clone()
    pixels = torch.tensor(Problem.preset("yolov5-p5").anchors) * 1.2345  # as AutoAnchor's
    try:
        head.anchors[:] = pixels / head.stride.view(-1, 1, 1)
        problem = problem_from_model(yolov5n)
        assert torch.equal(problem.anchors_grid(), head.anchors)
    finally:
        head.anchors[:] = saved


def test_problem_from_model_needs_hyp(yolov5n) -> None:
    bare = torch.nn.Module()
    bare.model = yolov5n.model
    with pytest.raises(ValueError, match=r"model.hyp\['anchor_t'\] is missing"):
        problem_from_model(bare)
    with pytest.raises(ValueError, match="expected a YOLOv5 model whose model"):
        problem_from_model(torch.nn.Linear(2, 2))


# The first failing check names the bug; the others follow from it (a moved row leaves its
# centre cell missing: ratio; and its neighbours unexplained: neighbours).
@pytest.mark.parametrize(
    ("bug", "first", "checks", "levels"),
    [
        ("gj-off-by-one", "geometry", {"geometry", "neighbours", "ratio"}, {0, 1, 2}),
        ("last-level-dropped", "ratio", {"neighbours", "ratio"}, {2}),
        ("clamp-dropped", "bounds", {"bounds", "neighbours", "ratio"}, {0, 1, 2}),
    ],
)
def test_the_readme_line_catches_a_planted_bug_in_compute_loss(
    yolov5n, bug: str, first: str, checks: set[str], levels: set[int], tmp_path
) -> None:
    loss = _loss_class(bug)(yolov5n)
    problem = problem_from_model(yolov5n)
    loss.build_targets = guard(loss.build_targets, problem, every=1, out_dir=tmp_path)
    p = yolov5n(torch.rand(2, 3, 256, 320))  # real predictions, (B, na, ny, nx, 5 + nc)
    assert p[0].shape == (2, 3, 32, 40, 8) and p[0].requires_grad
    with pytest.raises(GuardViolation) as caught:
        loss(p, TARGETS)
    found = caught.value.violations
    assert found[0].check == first and {v.check for v in found} == checks
    assert {v.level for v in found} == levels
    assert caught.value.problem == replace(problem, img_size=(256, 320), batch_size=2)
    assert caught.value.overlay_path.is_file()


def test_the_guard_leaves_the_loss_and_its_gradient_unchanged(yolov5n, tmp_path) -> None:
    from yolov5.utils.loss import ComputeLoss

    problem = problem_from_model(yolov5n)
    for shape in ((2, 3, 256, 320), (1, 3, 320, 256)):  # multi-scale, a smaller last batch
        p = yolov5n(torch.rand(shape))
        targets = random_targets(batch_problem(problem, p), 12, seed=shape[0])
        plain, guarded = ComputeLoss(yolov5n), ComputeLoss(yolov5n)
        guarded.build_targets = guard(guarded.build_targets, problem, every=1, out_dir=tmp_path)
        expected, expected_items = plain(p, targets)
        actual, actual_items = guarded(p, targets)
        assert torch.equal(actual, expected) and torch.equal(actual_items, expected_items)
        grads = [torch.autograd.grad(x, p, retain_graph=True) for x in (expected, actual)]
        assert all(torch.equal(a, b) for a, b in zip(*grads))
    assert list(tmp_path.iterdir()) == []


def test_a_yolov5_case_replays_with_show_as_saved(yolov5n, capsys, tmp_path) -> None:
    from yolov5.utils.loss import ComputeLoss

    loss = ComputeLoss(yolov5n)
    loss.build_targets = guard(
        loss.build_targets, problem_from_model(yolov5n), every=1, strict=True, out_dir=tmp_path
    )
    with pytest.raises(GuardViolation) as caught:
        loss(yolov5n(torch.rand(2, 3, 256, 320)), TARGETS)
    assert {v.check for v in caught.value.violations} == {"duplicates"}
    content = json.loads(caught.value.case_path.read_text())
    assert content["assigner"] == "yolo_diagnostics.adapters.yolov5:make_assigner"
    assert main(["show", str(caught.value.case_path), "--out", str(tmp_path / "r.png")]) == 1
    assert "fails: [duplicates]" in capsys.readouterr().out
