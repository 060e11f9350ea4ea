"""The TAL contract and ``check --family tal``: what a user runs on a task-aligned assigner.

Driven as a user drives them: ``pytest --pyargs yolo_diagnostics.tal.contract`` in a
subprocess (pytester), ``yolo-diagnostics check --family tal`` through `main`, and
`check_tal_assigner` from Python. Broken assigners are written here in a few lines each
around the reference: a bug a real TAL implementation has had, so that a failure can be
asserted by its check id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from yolo_diagnostics.cli import main
from yolo_diagnostics.tal import TalProblem
from yolo_diagnostics.tal.contract import check_tal_assigner
from yolo_diagnostics.tal.contract.cases import batch_of, case_from_data
from yolo_diagnostics.tal.reference import make_assigner, make_strict_assigner

pytest_plugins = ["pytester"]

BROKEN = '''
import torch
from yolo_diagnostics.tal.reference import make_assigner


def padded_rows_claim(problem, device):
    """PaddleDetection#5710: padded rows take part, the first GT row's box given to them."""
    assign = make_assigner(problem, device)

    def broken(pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt):
        return assign(pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes,
                      torch.ones_like(mask_gt))

    return broken


def batch_offset(problem, device):
    """target_gt_idx with the batch offset left in (b * n + g), as a flattened gather has it."""
    assign = make_assigner(problem, device)

    def broken(*inputs):
        labels, boxes, scores, fg, idx = assign(*inputs)
        n = inputs[4].shape[1]
        offset = torch.arange(idx.shape[0], device=idx.device)[:, None] * n
        return labels, boxes, scores, fg, idx + offset.to(idx.dtype)

    return broken


def cpu_only(problem, device):
    """Declares every problem not applicable: nothing left to judge."""
    from yolo_diagnostics import NotApplicable

    raise NotApplicable("this assigner takes no TAL problem at all")
'''


def _contract(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(broken=BROKEN)
    argv = ["--pyargs", "yolo_diagnostics.tal.contract", "-p", "no:cacheprovider"]
    return pytester.runpytest_subprocess(*argv, "--hypothesis-profile", "ci", *args)


def test_the_reference_passes_with_quirk_warnings(pytester: pytest.Pytester) -> None:
    result = _contract(pytester, "-k", "invariants or reference or padding")
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(
        [
            "*yolo-diagnostics contract: assigner=yolo_diagnostics.tal.reference:make_assigner "
            "family=tal reference=ultralytics strict=False*",
            "*QuirkWarning: invariants: * 'background' quirk finding(s)*",
        ]
    )


def test_the_strict_reference_passes_strict(pytester: pytest.Pytester) -> None:
    args = ["--assigner", "yolo_diagnostics.tal.reference:make_strict_assigner"]
    result = _contract(pytester, *args, "--reference-semantics", "strict", "--strict", "-k",
                       "invariants or reference")  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]


def test_ultralytics_semantics_fail_strict(pytester: pytest.Pytester) -> None:
    """The reference in ultralytics semantics has upstream's quirks: --strict fails it."""
    result = _contract(pytester, "--strict", "-k", "invariants")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*ContractFailure: [[]*[]] [[]error[]] *"])


@pytest.mark.parametrize(
    ("assigner", "check"), [("padded_rows_claim", "padded-owner"), ("batch_offset", "gt-index")]
)
def test_a_broken_assigner_fails_naming_the_check(
    pytester: pytest.Pytester, assigner: str, check: str
) -> None:
    result = _contract(pytester, "--assigner", f"broken:{assigner}", "-k", "invariants", "-x")
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"*ContractFailure: [[]{check}[]] [[]error[]] {check}: *"])
    saved = pytester.path / "reports" / "cases" / "test_contract.py_test_invariants_cpu.json"
    content = json.loads(saved.read_text())
    assert content["assigner"] == f"broken:{assigner}" and content["check"] == check
    _, _, case = case_from_data(content["case"])  # the minimal case reloads and validates
    assert case["gt_bboxes"].shape[1] <= 12


def test_nothing_applicable_fails(pytester: pytest.Pytester) -> None:
    result = _contract(pytester, "--assigner", "broken:cpu_only", "-k", "invariants")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*[[]not-applicable[]] the assigner declared all *"])


def test_yolov5_semantics_are_not_the_tal_reference_s(pytester: pytest.Pytester) -> None:
    result = _contract(pytester, "--reference-semantics", "yolov5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --reference-semantics yolov5: the tal contract's reference takes ultralytics*"]
    )


def test_check_tal_assigner_from_python() -> None:
    result = check_tal_assigner(make_strict_assigner, reference="strict", max_examples=10)
    statuses = {o.property: o.status for o in result.outcomes}
    assert statuses.pop("device") == "skipped"
    assert set(statuses.values()) == {"passed"}, result.failures
    with pytest.raises(ValueError, match="reference: expected one of ultralytics, strict"):
        check_tal_assigner(make_assigner, reference="yolov5")


def test_check_family_tal_passes_the_reference_and_fails_a_bug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "check.json"
    assert main(["check", "--family", "tal", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        "yolo-diagnostics check: family=tal assigner=yolo_diagnostics.tal.reference:"
        "make_assigner device=cpu"
    )
    assert lines[-1].startswith("result: PASS; findings written to")
    content = json.loads(out.read_text())
    assert content["family"] == "tal" and len(content["cases"]) == 45
    # the corpus's tiny input has fewer anchor points than topk: ultralytics' crash, a quirk
    few = [c for c in content["cases"] if c["case"].startswith("few-anchors-16/") and c["gts"]]
    assert few and all(
        [v["check"] for v in c["violations"]] == ["few-anchors"] and not c["failed"] for c in few
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "broken_tal.py").write_text(BROKEN)
    code = main(["check", "--family", "tal", "--assigner", "broken_tal:batch_offset",
                 "--json", str(out)])  # fmt: skip
    assert code == 1
    printed = capsys.readouterr().out
    assert "[error] gt-index: " in printed
    assert printed.splitlines()[-1].startswith("result: FAIL (")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rule", "centre"], "--rule: the anchor family's neighbour rule; TAL has none"),
        (["--reference-semantics", "yolov5"], "--reference-semantics yolov5: the TAL reference"),
    ],
)
def test_check_family_tal_refuses_anchor_options(argv, message, capsys, tmp_path) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["check", "--family", "tal", *argv, "--json", str(tmp_path / "c.json")])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_a_tal_case_file_round_trips() -> None:
    """A case's plain data (what a case file holds) rebuilds the same tensors, shapes kept
    for empty ones (no GT rows)."""
    from yolo_diagnostics.harness.cases import case_to_data
    from yolo_diagnostics.tal.contract.cases import case_of
    from yolo_diagnostics.tal.corpus import make_batch

    problem = TalProblem.preset("ultralytics", img_size=(64, 64), batch_size=2, num_classes=3)
    for n in (0, 5):
        batch = make_batch(problem, seed=1, n=n)
        data = json.loads(json.dumps(case_to_data("invariants", "cpu", case_of(problem, batch))))
        assert data["family"] == "tal"
        prop, device, case = case_from_data(data)
        assert (prop, device, case["problem"]) == ("invariants", "cpu", problem)
        for x, y in zip(batch, batch_of(case)):
            assert x.shape == y.shape and x.dtype == y.dtype and torch.equal(x, y)


def test_a_failing_row_shows_the_tal_overlay_and_the_case_replays(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """pytest-html: the failing row carries the case's overlay (an inline PNG of image 0,
    every level) and the failing findings; `show CASE.json` runs the property again (exit 1)
    and writes the same kind of overlay."""
    import base64
    import re
    import struct

    result = _contract(
        pytester,
        "--assigner",
        "broken:padded_rows_claim",
        "-k",
        "reference",
        "--html",
        "report.html",
        "--self-contained-html",
    )
    assert result.ret == 1
    page = (pytester.path / "report.html").read_text()
    pictures = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page.replace("\\/", "/"))
    assert pictures, "no overlay in the report"
    png = base64.b64decode(pictures[0])
    width, height = struct.unpack(">II", png[16:24])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and width >= 480 and height >= 480
    assert "TAL assigner" in page and "padded-owner" in page
    saved = pytester.path / "reports" / "cases" / "test_contract.py_test_reference_cpu.json"
    monkeypatch.syspath_prepend(str(pytester.path))  # broken.py, for the replay
    out = pytester.path / "replayed.png"
    assert main(["show", str(saved), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "TAL property reference on cpu, assigner broken:padded_rows_claim" in printed
    assert "fails: [reference] differs from the ultralytics reference" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the bug fixed, the same case passes
    fixed = ["show", str(saved), "--assigner", "yolo_diagnostics.tal.reference:make_assigner"]
    assert main([*fixed, "--out", str(out)]) == 0
    assert "passes now" in capsys.readouterr().out
