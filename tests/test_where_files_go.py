"""Nothing is written where the user did not ask, and no option is ignored or checked late.

Every command is run as a user runs it, in an empty folder, with HOME and XDG_CACHE_HOME
pointed into the test's own folders: afterwards the folder holds ``reports/`` (the
documented default) and nothing else; Hypothesis' and pytest's caches are in the user's
cache folder. Output paths that cannot be written are refused before any work is done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from yolo_diagnostics.contract.cases import case_to_data
from yolo_diagnostics.problem import Problem

CLI = [sys.executable, "-c", "import sys; from yolo_diagnostics.cli import main; sys.exit(main())"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS", "YOLO"))}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"), CI="true")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _tree(folder: Path) -> set[str]:
    """Every file and folder under ``folder``, relative, top level only for reports/."""
    return {p.relative_to(folder).parts[0] for p in folder.rglob("*")}


def test_contract_check_scan_and_bench_write_only_reports(tmp_path: Path) -> None:
    work, env = tmp_path / "work", _env(tmp_path)
    work.mkdir()
    runs = [
        [sys.executable, "-m", "pytest", "--pyargs", "yolo_diagnostics.contract", "-q"]
        + ["-k", "invariants or golden", "--hypothesis-profile", "dev"],
        [*CLI, "check"],
        [*CLI, "scan", "--pages", "2", "--workers", "1"],
        [*CLI, "bench", "assign", "--nt", "10", "--repeats", "2", "--budget", "1"],
    ]
    for argv in runs:
        result = _run(argv, work, env)
        assert result.returncode == 0, (argv, result.stdout[-2000:], result.stderr[-2000:])
        assert _tree(work) <= {"reports"}, (argv, sorted(_tree(work)))
    assert {p.name for p in (work / "reports").iterdir()} == {"check.json", "scan"}
    cache = tmp_path / "cache" / "yolo-diagnostics"
    assert (cache / "hypothesis" / "constants").is_dir()  # where .hypothesis/ used to go
    assert (cache / "pytest").is_dir()  # the contract-only session's .pytest_cache
    # matplotlib makes its (empty) configuration folder: the platform's, not the user's tree
    home = [p.relative_to(tmp_path / "home").as_posix() for p in (tmp_path / "home").rglob("*")]
    assert set(home) <= {".config", ".config/matplotlib"}, home


def test_a_storage_folder_the_user_chose_is_kept(tmp_path: Path) -> None:
    work, env = tmp_path / "work", _env(tmp_path)
    work.mkdir()
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path / "mine")
    argv = [sys.executable, "-m", "pytest", "--pyargs", "yolo_diagnostics.contract", "-q"]
    argv += ["-k", "invariants", "--hypothesis-profile", "dev", "-o", "cache_dir=here"]
    result = _run(argv, work, env)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "mine" / "constants").is_dir()
    assert _tree(work) == {"here"}  # the cache_dir the user set with -o, where they set it


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["check", "--json", "{tmp}"], "{tmp}: is a folder, expected a file name to write"),
        (["check", "--json", "{tmp}/afile/c.json"], "{tmp}/afile: is a file, expected a folder"),
        (["snapshot", "--out", "{tmp}/afile/s.txt"], "{tmp}/afile: is a file, expected a folder"),
        (["bench", "assign", "--json", "{tmp}"], "{tmp}: is a folder, expected a file name"),
        (["show", "{tmp}/case.json", "--out", "{tmp}/afile/o.png"], "{tmp}/afile: is a file"),
        (["scan", "--out", "{tmp}/afile"], "{tmp}/afile: is a file, expected a folder"),
        (["scan", "--json", "{tmp}"], "{tmp}: is a folder, expected a file name to write"),
        (["synth", "--out", "{tmp}/afile/s.json"], "{tmp}/afile: is a file, expected a folder"),
        (["show", "--yolo", "{tmp}/x.jpg", "--out", "{tmp}/afile"], "{tmp}/afile: is a file"),
    ],
)
def test_an_output_path_is_refused_before_any_work(tmp_path: Path, argv, expected) -> None:
    (tmp_path / "afile").write_text("")
    _case_file(tmp_path / "case.json", "invariants")
    argv = [a.format(tmp=tmp_path) for a in argv]
    result = _run([*CLI, *argv], tmp_path, _env(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""  # no header, no case, no timing: nothing ran
    assert result.stderr.startswith(f"yolo-diagnostics: error: {expected.format(tmp=tmp_path)}")
    assert result.stderr.count("\n") == 1


def _case_file(path: Path, prop: str, device: str = "cpu") -> None:
    problem = Problem.preset("yolov5-p5", img_size=(64, 64))
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.2, 0.3]])
    case = case_to_data(prop, device, {"problem": problem, "targets": targets})
    content = {"assigner": "yolo_diagnostics.reference:make_assigner", "case": case}
    path.write_text(json.dumps(content))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
def test_show_replays_on_the_device_asked_for_or_says_why_not(tmp_path: Path) -> None:
    _case_file(tmp_path / "case.json", "invariants")
    env = _env(tmp_path)
    asked = _run([*CLI, "show", str(tmp_path / "case.json"), "--device", "cuda"], tmp_path, env)
    assert asked.returncode == 2 and asked.stdout == ""
    assert asked.stderr.startswith("yolo-diagnostics: error: --device cuda: CUDA is not available")
    assert asked.stderr.count("\n") == 1
    here = _run([*CLI, "show", str(tmp_path / "case.json"), "--device", "cpu"], tmp_path, env)
    assert here.returncode == 0 and "property invariants on cpu" in here.stdout


def test_a_device_case_is_not_replayed_against_the_cpu_itself(tmp_path: Path) -> None:
    _case_file(tmp_path / "case.json", "device", device="cuda:0")
    argv = [*CLI, "show", str(tmp_path / "case.json"), "--device", "cpu"]
    result = _run(argv, tmp_path, _env(tmp_path))
    assert result.returncode == 2
    assert "a 'device' case compares the CPU with cuda:0; --device cpu would compare the CPU" in (
        result.stderr
    )
