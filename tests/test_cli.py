"""The command line, run in-process through main() and once through the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from yolo_diagnostics.assigners import load_factory
from yolo_diagnostics.cli import main
from yolo_diagnostics.corpus import PROBLEMS, corpus, edge_targets
from yolo_diagnostics.devices import resolve_devices
from yolo_diagnostics.validate import validate_targets

sys.path.insert(0, str(Path(__file__).parent))  # the buggy assigners live beside this file


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, str, dict]:
    out = tmp_path / "check.json"
    code = main(["check", "--json", str(out), *args])
    return code, capsys.readouterr().out, json.loads(out.read_text())


def test_reference_passes_with_quirks_reported(capsys, tmp_path) -> None:
    code, text, report = run(capsys, tmp_path)
    assert code == 0 and text.splitlines()[-1].startswith("result: PASS")
    assert len(report["cases"]) == 12 and not any(c["failed"] for c in report["cases"])
    edges = next(c for c in report["cases"] if c["case"] == "yolov5-p5-640/edges")
    assert {v["check"] for v in edges["violations"]} >= {"duplicates", "missed-neighbour"}
    assert all(v["severity"] != "error" for v in edges["violations"])


def test_strict_makes_yolov5_quirks_fail(capsys, tmp_path) -> None:
    code, text, _ = run(capsys, tmp_path, "--strict")
    assert code == 1 and "[error] duplicates" in text


def test_strict_reference_passes_strict_run(capsys, tmp_path) -> None:
    code, _, _ = run(
        capsys,
        tmp_path,
        "--assigner",
        "yolo_diagnostics.reference:make_strict_assigner",
        "--strict",
        "--reference-semantics",
        "strict",
    )
    assert code == 0


def test_buggy_assigner_fails_naming_the_check(capsys, tmp_path) -> None:
    code, text, report = run(capsys, tmp_path, "--assigner", "buggy_assigners:anchors_in_pixels")
    assert code == 1
    failing = {
        v["check"] for c in report["cases"] for v in c["violations"] if v["severity"] == "error"
    }
    assert failing == {"geometry", "ratio", "reference"}
    assert "[error] geometry level 0:" in text


def test_crashing_assigner_is_reported_per_case(capsys, tmp_path) -> None:
    code, text, report = run(capsys, tmp_path, "--assigner", "buggy_assigners:crashes_on_empty")
    crashed = [c["case"] for c in report["cases"] if c["crash"]]
    assert code == 1 and crashed == [c.name for c in corpus() if len(c.targets) == 0]
    assert "CRASH IndexError: index 0 is out of bounds" in text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", r"expected 'module.path:factory'"),
        ("yolo_diagnostics_missing:make", r"cannot import 'yolo_diagnostics_missing'"),
        ("yolo_diagnostics.reference:nothing", r"has no attribute 'nothing'"),
        ("yolo_diagnostics.reference:SEMANTICS", r"'SEMANTICS' is not callable"),
    ],
)
def test_bad_assigner_specs(spec: str, message: str, capsys) -> None:
    with pytest.raises(ValueError, match=message):
        load_factory(spec)
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--assigner", spec])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith(f"yolo-diagnostics: error: assigner {spec!r}")


def test_devices_are_canonical_and_deduplicated() -> None:
    assert resolve_devices(["cpu", "cpu"]) == ("cpu",)
    with pytest.raises(ValueError, match=r"--device mps: unsupported device"):
        resolve_devices(["mps"])
    with pytest.raises(ValueError, match=r"--device bogus: not a device string"):
        resolve_devices(["bogus"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_missing_cuda_is_one_clear_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--device", "cuda"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("yolo-diagnostics: error: --device cuda: CUDA is not available")
    assert err.count("\n") == 1


def test_corpus_is_valid_and_holds_its_edge_cases() -> None:
    cases = corpus()
    for case in cases:
        validate_targets(case.problem, case.targets)
    assert torch.equal(corpus()[1].targets, cases[1].targets)  # seeded: the same every run
    problem = PROBLEMS["yolov5-p5-640"]
    t = edge_targets(problem)
    for ny, nx in problem.feature_shapes:
        gxy = t[:, 2:4] * torch.tensor([nx, ny])
        assert ((gxy == 1).all(1)).any()  # gx == gy == 1 at this level
        assert ((gxy % 1 == 0.5).all(1)).any()  # frac exactly .5
    wh = t[:, 4:6] * torch.tensor([80, 80])
    ratio = (wh / problem.anchors_grid()[0, 0]).amax(1)
    assert (ratio == 4).any() and (ratio > 4).any() and ((ratio < 4) & (ratio > 3.99)).any()


def test_invariants_command_through_the_installed_script() -> None:
    script = Path(sys.executable).with_name("yolo-diagnostics")
    done = subprocess.run([str(script), "invariants"], capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert len(lines) == 14 and lines[0].split()[:3] == ["shapes", "error", "one"]
    assert lines[7].split()[:3] == ["reference", "error", "several"]
    assert lines[8].split()[:3] == ["scale", "error", "several"]
