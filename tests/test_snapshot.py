"""Golden snapshots: recorded from the reference, read back exactly, and gating the contract."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from yolo_diagnostics.cli import main
from yolo_diagnostics.reference import make_assigner, make_strict_assigner
from yolo_diagnostics.snapshot import FORMAT, read, record, rows_of, snapshot_corpus, table_of

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("golden") / "reference.txt"
    assert main(["snapshot", "--out", str(path)]) == 0
    return path


def test_snapshot_reads_back_exactly(golden: Path) -> None:
    lines = golden.read_text().splitlines()
    assert lines[0] == f"# {FORMAT}"
    assert lines[1] == "# assigner yolo_diagnostics.reference:make_assigner"
    cases = read(golden)
    assert [c.name for c in cases] == [name for name, _, _ in snapshot_corpus()]
    assert sum(len(c.rows) for c in cases) > 5000
    for now, then in zip(record(make_assigner), cases):
        assert now.rows == then.rows and now.problem == then.problem
        assert now.targets.equal(then.targets)
        assert rows_of(table_of(then.rows, then.problem.nl)) == then.rows


def test_snapshot_tells_semantics_apart(golden: Path) -> None:
    """The strict reference has no duplicate rows, so its snapshot differs on edge cases."""
    strict = {c.name: c.rows for c in record(make_strict_assigner)}
    changed = [c.name for c in read(golden) if c.rows != strict[c.name]]
    assert "yolov5-p5-640/edges" in changed
    assert "yolov5-p5-640/empty" not in changed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r":1: not a snapshot"),
        ("# yolo-diagnostics snapshot 1\n0 0 0 1 1 0 0 0 1 1 1 1\n", r":2: expected a case line"),
        ("# yolo-diagnostics snapshot 1\ncase {oops\n", r":2: bad case line"),
    ],
)
def test_bad_snapshot_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read(path)


def run_golden(pytester: pytest.Pytester, golden: Path, assigner: str, *args: str):
    return pytester.runpytest_subprocess(
        "--pyargs",
        "yolo_diagnostics.contract",
        "-p",
        "no:cacheprovider",
        "-k",
        "golden",
        "--golden",
        str(golden),
        "--assigner",
        assigner,
        *args,
    )


def test_reference_snapshot_passes_against_the_reference(pytester, golden: Path) -> None:
    run_golden(pytester, golden, "yolo_diagnostics.reference:make_assigner").assert_outcomes(
        passed=1
    )


@pytest.mark.skipif(
    importlib.util.find_spec("yolov5") is None,
    reason="needs the yolov5 package (README, 'Real loss code')",
)
def test_reference_snapshot_passes_against_the_yolov5_package(pytester, golden: Path) -> None:
    result = run_golden(pytester, golden, "yolo_diagnostics.adapters.yolov5:make_assigner")
    result.assert_outcomes(passed=1)


def test_buggy_variant_fails_with_a_diff_overlay(pytester, golden: Path, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    result = run_golden(
        pytester, golden, "buggy_assigners:anchors_in_pixels", "--html", "report.html"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*ContractFailure: [[]golden[]] case 'yolov5-p5-640/edges' changed since the snapshot*"]
    )
    page = (pytester.path / "report.html").read_text()
    assert "data:image/png;base64" in page or "assets/" in page
    assert list((pytester.path / "reports" / "cases").glob("*golden*.json"))


def test_unreadable_golden_is_a_usage_error(pytester) -> None:
    result = run_golden(pytester, Path("missing.txt"), "yolo_diagnostics.reference:make_assigner")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --golden: missing.txt: cannot read the snapshot*"])
