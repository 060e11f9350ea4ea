"""An assigner's declaration that it does not implement a problem (`NotApplicable`).

``check`` and the contract count such cases and examples as not applicable, never as a crash
or a failure, and fail only when nothing applicable is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from yolo_diagnostics import NotApplicable, check_assigner
from yolo_diagnostics.cli import main

pytest_plugins = ["pytester"]
TESTS = str(Path(__file__).parent)
P5_ONLY = "buggy_assigners:no_p6"
NOTHING = "buggy_assigners:declines_everything"


@pytest.fixture(autouse=True)
def _importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(TESTS)


def test_not_applicable_is_a_diagnostics_error() -> None:
    """One error class for callers that catch bad input; its own type for the harness."""
    assert issubclass(NotApplicable, ValueError)


def test_check_counts_declined_cases_and_passes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "check.json"
    assert main(["check", "--assigner", P5_ONLY, "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    declined = [line for line in lines if "n/a" in line]
    assert [line.split()[0] for line in declined] == [
        "yolov5-p6-384x640/edges",
        "yolov5-p6-384x640/random",
        "yolov5-p6-384x640/empty",
    ]
    assert all("not applicable: 4 levels: this loss is not written for P6" in x for x in declined)
    assert lines[-1].startswith("result: PASS; 3 case(s) not applicable to the assigner")
    cases = json.loads(out.read_text())["cases"]
    assert [c["failed"] for c in cases] == [False] * 12
    assert sum(c["not_applicable"] is not None for c in cases) == 3


def test_check_fails_when_nothing_is_applicable(tmp_path: Path, capsys) -> None:
    code = main(["check", "--assigner", NOTHING, "--json", str(tmp_path / "c.json")])
    assert code == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("result: FAIL (the assigner declared none of the 12 cases applicable)")


def test_the_contract_draws_again_and_judges_what_applies() -> None:
    from buggy_assigners import no_p6

    with warnings.catch_warnings(record=True):
        result = check_assigner(no_p6, profile="ci", max_examples=20)
    assert result.passed
    invariants = next(o for o in result.outcomes if o.property == "invariants")
    assert invariants.examples == 20 and invariants.not_applicable > 0  # P6 drawn, declined
    assert invariants.failure is None


def test_the_contract_fails_a_property_nothing_applies_to() -> None:
    from buggy_assigners import declines_everything

    result = check_assigner(
        declines_everything, profile="ci", max_examples=5, properties=["invariants"]
    )
    (failure,) = result.failures
    assert failure.check == "not-applicable"
    assert failure.message.startswith("the assigner declared all ")
    assert failure.message.endswith(
        "example(s) not applicable; first: this loss implements no rule the contract draws"
    )
    assert failure.example["property"] == "invariants"  # the first declined case, replayable


def test_pytest_contract_warns_and_fails_as_check_does(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", TESTS)
    base = ["--pyargs", "yolo_diagnostics.contract", "-p", "no:cacheprovider", "-q"]
    base += ["--hypothesis-profile", "dev", "-k", "invariants"]
    passed = pytester.runpytest_subprocess(*base, "--assigner", P5_ONLY, "-W", "default")
    assert passed.ret == 0
    passed.stdout.fnmatch_lines(["*NotApplicableWarning: invariants: * example(s) not applicable*"])
    failed = pytester.runpytest_subprocess(*base, "--assigner", NOTHING)
    assert failed.ret == 1
    failed.stdout.fnmatch_lines(["*[[]not-applicable[]] the assigner declared all *"])


@pytest.mark.parametrize("rule", ["yolov5-v4", "five-positive", "centre"])
def test_rule_option_reaches_the_problems(rule: str, pytester: pytest.Pytester) -> None:
    """--rule in the header, and every drawn problem of that rule: the assigner asserts it."""
    pytester.makepyfile(
        rules=f"""
        from yolo_diagnostics.reference import make_assigner

        def only_{rule.replace("-", "_")}(problem, device):
            assert problem.rule == {rule!r}, problem.rule
            return make_assigner(problem, device)
        """
    )
    args = ["--pyargs", "yolo_diagnostics.contract", "-p", "no:cacheprovider"]
    args += ["--rule", rule, "--assigner", f"rules:only_{rule.replace('-', '_')}"]
    args += ["--hypothesis-profile", "dev", "-k", "invariants or reference"]
    result = pytester.runpytest_subprocess(*args)
    result.stdout.fnmatch_lines([f"*assigner=rules:only_* rule={rule} reference=yolov5*"])
    assert result.ret == 0, result.stdout.str()


def test_check_rejects_an_unknown_rule(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--rule", "yolov9"])
    assert exit_.value.code == 2
    assert "invalid choice: 'yolov9'" in capsys.readouterr().err


def test_a_declined_case_is_not_a_crash_in_a_subprocess(tmp_path: Path) -> None:
    """The command as a user runs it: exit 0, no traceback."""
    cli = "import sys; from yolo_diagnostics.cli import main; sys.exit(main())"
    run = subprocess.run(
        [sys.executable, "-c", cli, "check", "--assigner", P5_ONLY],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": TESTS},
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
