"""The contract: run as users run it (pytest --pyargs) and through check_assigner."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import torch

from yolo_diagnostics import check_assigner
from yolo_diagnostics.contract import ContractFailure, replay
from yolo_diagnostics.contract.properties import PROPERTIES
from yolo_diagnostics.reference import make_assigner, make_strict_assigner

pytest_plugins = ["pytester"]

CONTRACT = ("--pyargs", "yolo_diagnostics.contract", "-p", "no:cacheprovider")


@pytest.fixture(autouse=True)
def assigners_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The buggy and independent assigners beside this file, importable by the runs."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))


def contract(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *CONTRACT, "--hypothesis-profile", "dev", "--hypothesis-seed", "0", *args
    )


def test_reference_passes_by_default_with_quirk_warnings(pytester: pytest.Pytester) -> None:
    result = contract(pytester, "-rs")
    result.assert_outcomes(passed=8, skipped=2, warnings=4)
    result.stdout.fnmatch_lines(
        [
            "*QuirkWarning: invariants: * 'duplicates' quirk finding(s), which fail only under "
            "--strict*",
            "*SKIPPED*device: compares a non-CPU device with the CPU; request one with "
            "--device cuda",
        ]
    )
    header = "yolo-diagnostics contract: assigner=yolo_diagnostics.reference:make_assigner "
    assert any(line.startswith(header) for line in result.stdout.lines)


def test_strict_fails_yolov5_on_duplicates(pytester: pytest.Pytester) -> None:
    result = contract(pytester, "--strict")
    result.assert_outcomes(passed=6, failed=2, skipped=2)
    failed = [line for line in result.stdout.lines if line.startswith("FAILED")]
    assert len(failed) == 2 and "test_invariants[cpu]" in failed[0]  # and test_scale[cpu]
    assert "test_scale[cpu]" in failed[1]
    assert re.search(
        r"ContractFailure: \[(duplicates|missed-neighbour)\] \[error\]", result.stdout.str()
    )
    assert any("@reproduce_failure(" in line for line in result.stdout.lines)


def test_strict_reference_passes_strict(pytester: pytest.Pytester) -> None:
    result = contract(
        pytester,
        "--strict",
        "--reference-semantics",
        "strict",
        "--assigner",
        "yolo_diagnostics.reference:make_strict_assigner",
    )
    result.assert_outcomes(passed=8, skipped=2)


def test_independent_yolov5_passes_and_fails_strict(pytester: pytest.Pytester) -> None:
    assert contract(pytester, "--assigner", "mutants:clean").ret == 0
    strict = contract(pytester, "--assigner", "mutants:clean", "--strict", "-k", "invariants")
    strict.assert_outcomes(failed=1)


def test_buggy_assigner_fails_naming_the_check(pytester: pytest.Pytester) -> None:
    result = contract(
        pytester, "--assigner", "buggy_assigners:anchors_in_pixels", "-k", "invariants"
    )
    result.assert_outcomes(failed=1)
    assert re.search(r"ContractFailure: \[(ratio|geometry)\] \[error\]", result.stdout.str())


def test_reference_none_skips_the_differential_test(pytester: pytest.Pytester) -> None:
    result = contract(pytester, "-rs", "--reference-semantics", "none", "-k", "reference")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*reference: --reference-semantics none"])


def test_bad_assigner_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = contract(pytester, "--assigner", "no_such_module:factory")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --assigner: assigner 'no_such_module:factory': cannot import 'no_such_module'*"]
    )


def test_header_names_the_profile_and_seed(pytester: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_subprocess(*CONTRACT, "--collect-only")
    assert any(
        line.endswith("hypothesis-profile=ci seed=derandomized") for line in result.stdout.lines
    )
    monkeypatch.delenv("CI")
    result = pytester.runpytest_subprocess(*CONTRACT, "--collect-only", "--hypothesis-seed=7")
    assert any(line.endswith("hypothesis-profile=dev seed=7") for line in result.stdout.lines)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_contract_on_missing_cuda_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*CONTRACT, "--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_check_assigner_reports_every_property() -> None:
    result = check_assigner(make_assigner, max_examples=20)
    assert result.passed and result.failures == []
    status = {o.property: o.status for o in result.outcomes}
    assert status == {**{p: "passed" for p in PROPERTIES}, "device": "skipped"}
    assert {q.check for o in result.outcomes for q in o.quirks} >= {"duplicates"}


def test_check_assigner_strict_gives_a_replayable_minimal_example(tmp_path) -> None:
    result = check_assigner(make_assigner, strict=True, max_examples=100, properties=["invariants"])
    assert not result.passed
    (failure,) = result.failures
    assert failure.check in {"duplicates", "missed-neighbour"}
    assert failure.reproduce is not None and "@reproduce_failure(" in failure.reproduce
    saved = tmp_path / "case.json"
    saved.write_text(json.dumps(failure.example))
    data = json.loads(saved.read_text())
    assert len(data["targets"]["data"]) == 1  # shrunk to a single box
    with pytest.raises(ContractFailure) as again:
        replay(make_assigner, data, strict=True)
    assert again.value.check == failure.check
    assert replay(make_strict_assigner, data, strict=True, reference="strict") == []


def test_check_assigner_accepts_a_spec_and_rejects_a_bad_one() -> None:
    result = check_assigner(
        "yolo_diagnostics.reference:make_strict_assigner",
        reference="strict",
        strict=True,
        max_examples=10,
    )
    assert result.passed
    with pytest.raises(ValueError, match="cannot import 'nowhere'"):
        check_assigner("nowhere:factory")


def test_pytest_timeout_bounds_a_hanging_assigner(pytester: pytest.Pytester) -> None:
    """A hang ends the run within --timeout with the hanging line in the dump, not a stuck CI
    job. The thread method is the one that works: the signal method's exception is caught by
    Hypothesis, which then re-runs the hanging example to shrink it, with no alarm left."""
    pytest.importorskip("pytest_timeout")
    start = time.monotonic()
    result = contract(
        pytester,
        "--assigner",
        "buggy_assigners:hangs_on_many_targets",
        "--timeout",
        "10",
        "--timeout-method",
        "thread",
    )
    assert time.monotonic() - start < 120
    assert result.ret == 1
    output = result.stdout.str() + result.stderr.str()
    assert "+ Timeout +" in output
    assert "buggy_assigners.py" in output and "while len(targets) > 3:" in output  # where


def test_float64_inputs_leave_out_ratios_the_two_dtypes_round_apart() -> None:
    """h = 218.25 px against YOLOv7's 75 px anchor is a ratio of 2.91: float32 rounds it to
    float32(2.91), which is not below that anchor_t, float64 keeps it below. Both answers are
    right for their dtype, so the float64 property leaves the target out rather than fail."""
    from yolo_diagnostics import Problem
    from yolo_diagnostics.contract.properties import ContractOptions

    anchor_t = float(torch.tensor(2.91, dtype=torch.float32))
    problem = Problem.preset("yolov7", img_size=(256, 256), num_classes=1, anchor_t=anchor_t)
    t = torch.tensor([[0.0, 0.0, 0.0, 0.0, 36 / 256, 218.25 / 256]])
    build = make_assigner(problem, "cpu")
    rows32 = len(build(problem.feature_maps(), t)[0][1])
    rows64 = len(build(problem.feature_maps(), t.double())[0][1])
    # level 1: anchor 0's three rows (the centre at x = y = 0 and its duplicates) only in
    # float64, beside another anchor's three in both
    assert (rows32, rows64) == (3, 6)
    options = ContractOptions(factory=make_assigner)
    assert PROPERTIES["dtype"].run(options, "cpu", {"problem": problem, "targets": t}) == []
