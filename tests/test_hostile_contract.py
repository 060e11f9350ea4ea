"""Hostile strings in the contract's pytest-html report are shown as text, never run.

They reach the report the ways a real run brings them: the message of an assigner that
raises (the failing test's log and diff table), the ``--assigner`` spec as typed (the
Assigner column and the environment table), the folder the run starts in (the saved case's
path in the log) and, with ``--golden``, a snapshot case's name. Each report is loaded in
Debian's headless Chromium, self-contained and with its assets beside it. pytest-html's page
has no Content-Security-Policy, so a single load already shows that the escaping holds.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import chromium
from test_hostile import PAYLOADS

from yolo_diagnostics.reference import make_assigner
from yolo_diagnostics.snapshot import record, write

SPEC_PAYLOAD = "<img src=x onerror=__pwned=6>"  # an attribute name: no '.' (a module path)
FOLDER_PAYLOAD = '"><img src=x onerror="window.__pwned = 7">'  # a folder name: no '/'
CASE_PAYLOAD = '</script><img src=x onerror="window.__pwned = 8">'
MODULE = """
MESSAGE = {message!r}


def crashes(problem, device):
    def build_targets(p, targets):
        raise RuntimeError(MESSAGE)

    return build_targets


globals()[{spec!r}] = crashes  # a spec is whatever was typed, once it resolves
"""
INVARIANTS = "yolo_diagnostics.contract.test_contract::test_invariants"
GOLDEN = "yolo_diagnostics.contract.test_contract::test_golden"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three contract runs started in a hostile folder: the raising assigner, reported
    self-contained and with assets; the reference against a snapshot whose first case has a
    hostile name and lost a row. Reports go to ``html/``."""
    root = tmp_path_factory.mktemp("hostile-contract")
    modules = root / "modules"
    modules.mkdir()
    message = " ".join(PAYLOADS)
    (modules / "hostile_assigner.py").write_text(MODULE.format(message=message, spec=SPEC_PAYLOAD))
    cases = record(make_assigner)
    cases[0] = dataclasses.replace(cases[0], name=CASE_PAYLOAD, rows=cases[0].rows[1:])
    write(root / "snapshot.txt", "yolo_diagnostics.reference:make_assigner", cases)
    folder = root / FOLDER_PAYLOAD
    folder.mkdir()
    html = root / "html"
    hostile = ("--assigner", f"hostile_assigner:{SPEC_PAYLOAD}", INVARIANTS)
    for name, args in (
        ("self-contained", (*hostile, "--self-contained-html")),
        ("assets", hostile),
        ("golden", ("--golden", str(root / "snapshot.txt"), GOLDEN)),
    ):
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "--pyargs", "-p", "no:cacheprovider"),
                *("--hypothesis-profile", "ci", "--html", str(html / name / "report.html")),
                *args,
            ],
            cwd=folder,
            env={**os.environ, "PYTHONPATH": str(modules)},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
        assert "1 failed" in done.stdout.splitlines()[-1]
    return root


def test_payloads_are_escaped_in_the_html(runs: Path) -> None:
    for name in ("self-contained", "assets", "golden"):
        page = (runs / "html" / name / "report.html").read_text()
        for payload in (*PAYLOADS, SPEC_PAYLOAD, FOLDER_PAYLOAD, CASE_PAYLOAD):
            assert payload not in page, (name, payload)
    assert "__pwned = 1" in (runs / "html" / "assets" / "report.html").read_text()  # as data


def test_nothing_runs_in_chromium_and_every_payload_shows_as_text(
    runs: Path, tmp_path: Path
) -> None:
    crash = (*PAYLOADS, SPEC_PAYLOAD, FOLDER_PAYLOAD)
    expected = {"self-contained": crash, "assets": crash, "golden": (CASE_PAYLOAD, FOLDER_PAYLOAD)}
    probe = (
        "return [window.__pwned === undefined, "
        "document.querySelectorAll('#pwned, [onerror], [onload]').length, "
        "document.body.innerText]"
    )
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(tmp_path / "profile") as driver:
        for name, payloads in expected.items():
            driver.get((runs / "html" / name / "report.html").as_uri())
            WebDriverWait(driver, 20).until(  # the page draws its rows from the data blob
                lambda d: d.execute_script("return document.querySelectorAll('.log').length")
            )
            clean, injected, text = driver.execute_script(probe)
            assert clean and injected == 0, name
            for payload in payloads:
                assert payload in text, (name, payload)  # shown to the reader, as text


def test_the_runs_write_only_their_reports_and_case_files(runs: Path) -> None:
    """Outside ``html/``, a run writes only its case file, under reports/cases/ of the
    folder it started in, named without the folder's hostile characters (Hypothesis keeps
    its own cache of constants in .hypothesis/ there, as in any Hypothesis run)."""
    written = sorted(
        p.relative_to(runs)
        for p in runs.rglob("*")
        if p.is_file() and not {"modules", "html", ".hypothesis"} & {*p.relative_to(runs).parts}
    )
    assert [p.parent.as_posix() for p in written] == [
        f"{FOLDER_PAYLOAD}/reports/cases",
        f"{FOLDER_PAYLOAD}/reports/cases",
        ".",
    ]
    assert re.fullmatch(r"[\w.-]*test_golden_cpu\.json", written[0].name), written
    assert re.fullmatch(r"[\w.-]*test_invariants_cpu\.json", written[1].name), written
    assert written[2].name == "snapshot.txt"
    assert [p.name for p in (runs / "html" / "self-contained").iterdir()] == ["report.html"]
    for name in ("self-contained", "assets", "golden"):
        for p in (runs / "html" / name).rglob("*"):
            assert re.fullmatch(r"[\w.-]+", p.name), p
