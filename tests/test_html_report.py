"""Failing contract cases in pytest-html reports: overlay, diff table, case JSON, columns,
metadata, Hypothesis statistics; with xdist; nothing rendered without --html; and the page
checked in a real headless Chromium."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from browser import chromium, console_errors

from yolo_diagnostics.render import VIOLATION

pytest_plugins = ["pytester"]

BUGGY = ("--assigner", "buggy_assigners:anchors_in_pixels")
RUN = (
    "--pyargs",
    "yolo_diagnostics.contract",
    "-p",
    "no:cacheprovider",
    "--hypothesis-profile",
    "dev",
    "--hypothesis-seed",
    "0",
)


@pytest.fixture(autouse=True)
def assigners_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))


def report_data(path: Path) -> dict:
    """The test data pytest-html 4 embeds in its page as a JSON blob."""
    blob = re.search(r'data-jsonblob="([^"]*)"', path.read_text())
    assert blob is not None, "no data blob in the report"
    return json.loads(html.unescape(blob.group(1)))


def extras_of(data: dict, test: str) -> dict[str, dict]:
    (entry,) = data["tests"][f"test_contract.py::{test}"]
    return {e["name"] or e["format_type"]: e for e in entry["extras"]}


def decoded(extra: dict) -> bytes:
    """The bytes of an extra that a self-contained report holds as a base64 data URI."""
    head, _, body = extra["content"].partition("base64,")
    assert head.startswith("data:"), head[:40]
    return base64.b64decode(body)


@pytest.fixture(scope="module")
def failing_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One self-contained report of the contract failing on anchors left in pixels."""
    folder = tmp_path_factory.mktemp("report")
    env = {"PYTHONPATH": str(Path(__file__).parent)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *RUN,
            *BUGGY,
            "-k",
            "invariants or permutation",
            "--html",
            "report.html",
            "--self-contained-html",
        ],
        cwd=folder,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout[-2000:]
    return folder


def test_failing_row_carries_overlay_table_case_and_reproduce(failing_report: Path) -> None:
    data = report_data(failing_report / "report.html")
    extras = extras_of(data, "test_invariants[cpu]")
    png = cv2.imdecode(np.frombuffer(decoded(extras["overlay"]), np.uint8), cv2.IMREAD_COLOR)
    assert png.shape[0] >= 480 and png.shape[1] >= 480
    assert (png == np.array(VIOLATION, np.uint8)).all(2).sum() > 100  # offending cells in red
    table = extras["html"]["content"]
    assert "[geometry]" in table or "[ratio]" in table
    assert "expected, missing from the output" in table and "<td>" in table
    assert b"@reproduce_failure(" in decoded(extras["reproduce"])
    case = json.loads(decoded(extras["case JSON"]))
    assert case["assigner"] == "buggy_assigners:anchors_in_pixels"
    assert case["case"]["property"] == "invariants" and len(case["case"]["targets"]["data"]) == 1


def test_saved_case_replays_to_the_same_failure(failing_report: Path) -> None:
    (saved,) = (failing_report / "reports" / "cases").glob("*test_invariants*.json")
    content = json.loads(saved.read_text())
    script = Path(sys.executable).with_name("yolo-diagnostics")
    done = subprocess.run(
        [str(script), "show", str(saved), "--out", str(failing_report / "shown.png")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    assert done.returncode == 1
    assert f"fails: [{content['check']}]" in done.stdout
    assert cv2.imread(str(failing_report / "shown.png")).shape[0] >= 480


def test_columns_metadata_and_statistics(failing_report: Path) -> None:
    data = report_data(failing_report / "report.html")
    (failed,) = data["tests"]["test_contract.py::test_invariants[cpu]"]
    row = failed["resultsTableRow"]
    assert row[2:4] == ["<td>cpu</td>", "<td>buggy_assigners:anchors_in_pixels</td>"]
    assert row[4] in ("<td>geometry</td>", "<td>ratio</td>")
    (passed,) = data["tests"]["test_contract.py::test_permutation[cpu]"]
    assert passed["resultsTableRow"][4] == "<td></td>"
    assert "Hypothesis stats" in extras_of(data, "test_permutation[cpu]")
    env = data["environment"]
    assert env["assigner"] == "buggy_assigners:anchors_in_pixels"
    assert env["Hypothesis profile"] == "dev" and env["Hypothesis seed"] == "0"
    assert env["torch"].startswith("2.")


def test_xdist_workers_attach_their_overlays(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        *RUN, *BUGGY, "-n", "2", "-k", "invariants or permutation", "--html", "r.html"
    )
    result.assert_outcomes(failed=1, passed=1)
    extras = extras_of(report_data(pytester.path / "r.html"), "test_invariants[cpu]")
    assert {"overlay", "case JSON", "reproduce"} <= set(extras)


def test_nothing_is_rendered_without_html(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import sys

        def pytest_sessionfinish(session):
            print("RENDER-LOADED", "yolo_diagnostics.render" in sys.modules)
        """
    )
    result = pytester.runpytest_subprocess(*RUN, *BUGGY, "-s", "-k", "invariants")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RENDER-LOADED False*"])
    assert list((pytester.path / "reports" / "cases").glob("*.json"))  # the case is saved


def test_overlay_loads_in_a_real_browser(failing_report: Path, tmp_path: Path) -> None:
    """Debian's chromium, headless: the overlay image loads and the console is clean."""
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(tmp_path / "profile") as driver:
        driver.get((failing_report / "report.html").as_uri())
        overlay = WebDriverWait(driver, 20).until(
            lambda d: d.execute_script(
                "const img = [...document.querySelectorAll('.extraHTML img, .media img, img')]"
                "  .find(i => i.complete && i.naturalWidth > 0);"
                "return img ? [img.naturalWidth, img.naturalHeight] : null;"
            )
        )
        assert overlay[0] >= 480 and overlay[1] >= 480
        assert console_errors(driver) == []


def test_xdist_gives_the_same_cases_and_attachments(pytester: pytest.Pytester) -> None:
    """-n 2 and one process: the same failing tests, byte-identical case files, and the same
    attachments per test (none lost or given to another test)."""
    outcomes = {}
    for name, extra in (("serial", ()), ("xdist", ("-n", "2"))):
        result = pytester.runpytest_subprocess(
            *RUN, *BUGGY, *extra, "--html", f"{name}.html", "--self-contained-html"
        )
        cases = pytester.path / "reports" / "cases"
        files = {p.name: p.read_bytes() for p in sorted(cases.glob("*.json"))}
        for p in cases.glob("*.json"):
            p.unlink()
        data = report_data(pytester.path / f"{name}.html")
        extras = {
            test: {
                e["name"] or e["format_type"]: decoded(e)
                for e in entry[0]["extras"]
                if e["name"] in ("overlay", "case JSON")
            }
            for test, entry in data["tests"].items()
        }
        outcomes[name] = (result.parseoutcomes(), files, extras)
    (serial_counts, serial_files, serial_extras) = outcomes["serial"]
    (xdist_counts, xdist_files, xdist_extras) = outcomes["xdist"]
    assert serial_counts["failed"] >= 2 and serial_counts == xdist_counts
    assert serial_files and serial_files == xdist_files
    assert serial_extras == xdist_extras
    assert sum(len(e) == 2 for e in serial_extras.values()) == serial_counts["failed"]
