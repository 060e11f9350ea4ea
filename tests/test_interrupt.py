"""An interrupted scan leaves the previous complete report, or none, and says how far it got."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from yolo_diagnostics.files import Staging, write_atomic

SCAN = [sys.executable, "-c", "import sys; from yolo_diagnostics.cli import main; sys.exit(main())"]
# The scans run in the test's own folder: ``-c`` puts the working folder first on sys.path, so
# the folder the suite was started from would otherwise choose the package they import.


def _sigint_as_at_a_terminal() -> None:
    """Run in the child before it starts: SIGINT back to its default. A job started in the
    background of a script (``cmd &``, nohup, many CI runners) inherits SIGINT ignored, and
    the scan rightly honours that; these tests are about a user's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _files(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def _interrupted_scan(out: Path, signum: int) -> subprocess.CompletedProcess[str]:
    """A scan of the sample at another input size, signalled once its first page is drawn."""
    argv = [*SCAN, "scan", "--out", str(out), "--img-size", "320", "--workers", "1"]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=out.parent,
        preexec_fn=_sigint_as_at_a_terminal,
    )
    deadline = time.monotonic() + 120
    while not any(out.glob(".partial-*/images/*.html")):
        assert proc.poll() is None, "the scan ended before a page was drawn"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_previous_report_survives(tmp_path: Path, signum: int, code: int) -> None:
    out = tmp_path / "report"
    scan = [*SCAN, "scan", "--out", str(out)]
    first = subprocess.run(scan, capture_output=True, text=True, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (out / "notes.txt").write_text("the user's own file")
    before = _files(out)
    assert "index.html" in before and "summary.json" in before and len(before) > 30

    run = _interrupted_scan(out, signum)
    assert run.returncode == code
    last = run.stderr.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert last.startswith(f"yolo-diagnostics: interrupted by {name}; it had finished the ")
    assert "of 10 pages (not moved into place)" in last and last.endswith("nothing half-written")
    assert "Traceback" not in run.stderr
    assert _files(out) == before  # byte for byte, the user's file too
    assert not list(out.glob(".partial-*"))


def test_an_interrupted_first_scan_leaves_no_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    run = _interrupted_scan(out, signal.SIGINT)
    assert run.returncode == 130
    assert _files(out) == {}


def test_write_atomic_keeps_the_old_file_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "summary.json"
    write_atomic(path, "old")

    def interrupted(source: object, target: object) -> None:
        raise KeyboardInterrupt  # the new bytes are written, the rename never happens

    monkeypatch.setattr("yolo_diagnostics.files.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no partial left


def test_staging_publishes_the_index_last_and_discards_on_error(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with pytest.raises(RuntimeError), Staging(out) as stage:
        write_atomic(stage.root / "index.html", "new")
        raise RuntimeError("interrupted")
    assert not out.exists() or not any(out.iterdir())
    with Staging(out) as stage:
        for name in ("index.html", "images/1.html", "summary.json", "assets/a.css"):
            write_atomic(stage.root / name, name)
        moved = stage.publish(last=("index.html", "summary.json"))
    assert [p.relative_to(out).as_posix() for p in moved][-2:] == ["index.html", "summary.json"]
    assert sorted(_files(out)) == ["assets/a.css", "images/1.html", "index.html", "summary.json"]
