"""Failing contract cases in pytest-html reports: a readable close-up and the full overlay,
diff table, case JSON, columns, metadata, Hypothesis statistics; with xdist; nothing rendered
without --html; and the page checked in a real headless Chromium, the row's inline image at
its own size."""

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

from yolo_diagnostics.render import MIN_PANEL_SIDE, PAD, VIOLATION

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


def inline_images(extras: dict[str, dict]) -> dict[str, bytes]:
    """The PNGs the row's HTML extra holds inline, by class (``yd-closeup``,
    ``yd-overlay-full``)."""
    found = re.findall(
        r'<img class="([^"]+)" src="data:image/png;base64,([^"]+)"', extras["html"]["content"]
    )
    return {name: base64.b64decode(body) for name, body in found}


def png_of(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


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
    assert "overlay" not in extras  # no png extra: pytest-html shows those as a thumbnail
    png = png_of(inline_images(extras)["yd-overlay-full"])
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
    assert {"html", "case JSON", "reproduce"} <= set(extras)
    assert "yd-overlay-full" in inline_images(extras)


def test_xdist_workers_hand_back_their_metadata_without_html(pytester: pytest.Pytester) -> None:
    """pytest-metadata sends each worker's environment rows back at the end; torch's version
    once went as a TorchVersion, which execnet cannot send, and every worker died noisily
    ("node down: ... DumpError") after the last test."""
    result = pytester.runpytest_subprocess(*RUN, "-n", "2", "-k", "invariants")
    result.assert_outcomes(passed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "DumpError" not in output and "node down" not in output


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


# A failing case on a full 640 x 640 input, where the offending cells are a few pixels of a
# 1 300 px overlay: the case a report row must show up close. The plugin judges it again
# with the assigner given (anchors left in pixels), as for a case Hypothesis found.
FULL_INPUT_CASE = """
import torch

from yolo_diagnostics import Problem
from yolo_diagnostics.contract.cases import case_to_data
from yolo_diagnostics.contract.properties import ContractFailure


def test_one_target_on_a_full_input(contract_options, device):
    problem = Problem.preset("yolov5-p5", img_size=(640, 640))
    targets = torch.tensor([[0.0, 3.0, 0.53, 0.41, 0.05, 0.07]])
    failure = ContractFailure("geometry", "anchors in pixels")
    case = {"problem": problem, "targets": targets}
    failure.case = case_to_data("invariants", str(device), case)
    raise failure
"""


@pytest.fixture(scope="module")
def closeup_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-contained report of `FULL_INPUT_CASE` failing: report.html in the folder."""
    folder = tmp_path_factory.mktemp("closeup")
    (folder / "test_full_input.py").write_text(FULL_INPUT_CASE)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "test_full_input.py", "-p", "no:cacheprovider"),
            *BUGGY,
            *("--html", "report.html", "--self-contained-html"),
        ],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout[-2000:]
    return folder


def test_the_closeup_enlarges_the_offending_cells(closeup_report: Path) -> None:
    """The close-up draws a region around the failing rows' cells at least 3x larger than
    the overlay draws the whole 640 px input, so the red cells cover more of it."""
    data = report_data(closeup_report / "report.html")
    (entry,) = data["tests"]["test_full_input.py::test_one_target_on_a_full_input[cpu]"]
    extras = {e["name"] or e["format_type"]: e for e in entry["extras"]}
    images = inline_images(extras)
    closeup, full = png_of(images["yd-closeup"]), png_of(images["yd-overlay-full"])
    x0, x1, y0, y1 = map(
        int, re.search(r"x (\d+)\.\.(\d+), y (\d+)\.\.(\d+)", extras["html"]["content"]).groups()
    )
    # the target's centre (0.53, 0.41) of 640 px: its cells lie in the region
    assert x0 <= 0.53 * 640 < x1 and y0 <= 0.41 * 640 < y1
    # two panels a row, PAD around and between: each panel is the region zoomed
    panel = (closeup.shape[1] - 3 * PAD) // 2
    assert panel // (x1 - x0) >= 3 and (full.shape[1] - 3 * PAD) // 2 == 640
    reddish = [_reddish(closeup), _reddish(full)]
    # red fills, outlines and labels; the labels and the legend swatch are the same size in
    # both, the fills 9x larger in the close-up
    assert reddish[1] > 0 and reddish[0] > 2 * reddish[1]


def _reddish(img: np.ndarray) -> int:
    """Pixels where red dominates: violation fills (blended), outlines and labels."""
    b, g, r = np.moveaxis(img.astype(int), 2, 0)
    return int(((r > g + 60) & (r > b + 60)).sum())


def _row_images(driver) -> list[dict]:
    """Every image of the failed row: its class, natural and displayed size, and whether a
    person sees it (laid out and not inside a closed <details>)."""
    return driver.execute_script(
        "const body = document.querySelector('tbody.results-table-row.failed');"
        "return [...body.querySelectorAll('.extraHTML img')].map(i => {"
        "  const r = i.getBoundingClientRect();"
        "  return {cls: i.className, natural: [i.naturalWidth, i.naturalHeight],"
        "          shown: [r.width, r.height], visible: i.checkVisibility()};"
        "});"
    )


def _readable(image: dict) -> bool:
    """Shown at its own size, not shrunk to a thumbnail: the labels are drawn at the font's
    size, legible only 1:1; and at least a `MIN_PANEL_SIDE` panel wide."""
    (nw, nh), (w, h) = image["natural"], image["shown"]
    return image["visible"] and nw >= MIN_PANEL_SIDE and abs(w - nw) <= 1 and abs(h - nh) <= 1


def test_the_row_shows_the_closeup_readable_and_the_overlay_a_click_away(
    closeup_report: Path, tmp_path: Path
) -> None:
    """In Chromium: the close-up is in the row at its own size; the full overlay is hidden
    until its summary is clicked, then shown at its own size too."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(tmp_path / "profile") as driver:
        driver.get((closeup_report / "report.html").as_uri())
        images = WebDriverWait(driver, 20).until(
            lambda d: (found := _row_images(d)) and all(i["natural"][0] for i in found) and found
        )
        closeup, full = images
        assert closeup["cls"] == "yd-closeup" and _readable(closeup), closeup
        assert full["cls"] == "yd-overlay-full" and not full["visible"]
        driver.find_element(By.CSS_SELECTOR, "tbody.failed details.yd-overlay summary").click()
        assert _readable(_row_images(driver)[1])
        assert console_errors(driver) == []


def test_a_small_case_shows_its_whole_overlay_readable(failing_report: Path, tmp_path: Path):
    """A shrunk case's input is small: no close-up, the whole overlay (zoomed to panels of
    `MIN_PANEL_SIDE`) is open in the row at its own size."""
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(tmp_path / "profile") as driver:
        driver.get((failing_report / "report.html").as_uri())
        (full,) = WebDriverWait(driver, 20).until(
            lambda d: (found := _row_images(d)) and all(i["natural"][0] for i in found) and found
        )
        assert full["cls"] == "yd-overlay-full" and _readable(full), full


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
        extras = {}
        for test, entry in data["tests"].items():
            named = {e["name"] or e["format_type"]: e for e in entry[0]["extras"]}
            if "case JSON" in named:  # a failing contract test: its case and its pictures
                extras[test] = {"case JSON": decoded(named["case JSON"]), **inline_images(named)}
        outcomes[name] = (result.parseoutcomes(), files, extras)
    (serial_counts, serial_files, serial_extras) = outcomes["serial"]
    (xdist_counts, xdist_files, xdist_extras) = outcomes["xdist"]
    assert serial_counts["failed"] >= 2 and serial_counts == xdist_counts
    assert serial_files and serial_files == xdist_files
    assert serial_extras == xdist_extras
    assert sum("yd-overlay-full" in e for e in serial_extras.values()) == serial_counts["failed"]
