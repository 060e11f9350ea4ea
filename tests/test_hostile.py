"""Hostile strings from a dataset are shown as text in every page, never run.

Category names and image file names carry script- and attribute-breaking payloads. Each page
of the scan report is loaded in Debian's headless Chromium twice: as written, and with its
Content-Security-Policy removed, so the test shows the escaping itself holds, not only the
policy behind it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from browser import chromium

from yolo_diagnostics.cli import main
from yolo_diagnostics.data.sample import SAMPLE_IMAGES

PAYLOADS = (
    "<script>window.__pwned = 1</script>",
    '"><img src=x onerror="window.__pwned = 2">',
    "'><svg onload='window.__pwned = 3'>",
    "</script><script>window.__pwned = 4</script>",
    "<b id=pwned>bold</b>",
)
CSP = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>')


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    images = root / "images"
    images.mkdir()
    source = SAMPLE_IMAGES / "camera.jpg"
    entries = []
    for k, payload in enumerate(PAYLOADS):
        name = f"{k}{payload.replace('/', '_')}.jpg"  # a file name may hold all but '/'
        shutil.copy(source, images / name)
        entries.append({"id": k + 1, "file_name": name, "width": 512, "height": 512})
    data = {
        "images": entries,
        "annotations": [
            {"id": 10 + k, "image_id": k + 1, "category_id": k + 1, "bbox": [50, 60, 200, 300]}
            for k in range(len(PAYLOADS))
        ]
        + [{"id": 99, "image_id": 1, "category_id": 77, "bbox": [1, 2, 3, 4]}],  # skipped
        "categories": [{"id": k + 1, "name": p} for k, p in enumerate(PAYLOADS)],
    }
    (root / "ann.json").write_text(json.dumps(data))
    out = root / "report"
    argv = ["scan", "--coco", str(root / "ann.json"), "--images", str(images), "--out", str(out)]
    assert main([*argv, "--workers", "2"]) == 0
    return out


def _pages(out: Path) -> list[Path]:
    return [out / "index.html", *sorted((out / "images").glob("*.html"))]


def test_payloads_are_escaped_in_the_html(hostile_report: Path) -> None:
    pages = _pages(hostile_report)
    assert len(pages) == 1 + len(PAYLOADS)
    for page in pages:
        html = page.read_text()
        for payload in PAYLOADS:
            assert payload not in html, (page.name, payload)
        assert "window.__pwned" in html or page.name != "index.html"  # shown, as text or data


def test_nothing_runs_in_chromium(hostile_report: Path, tmp_path: Path) -> None:
    pages = _pages(hostile_report)
    stripped = []
    for page in pages:  # the same page without its policy, beside the original
        copy = page.with_name(f"nocsp-{page.name}")
        copy.write_text(CSP.sub("", page.read_text()))
        stripped.append(copy)
    probe = (
        "return [window.__pwned === undefined, "
        "document.querySelectorAll('#pwned, [onerror], [onload]').length, "
        "document.body.innerText]"
    )
    with chromium(tmp_path / "profile") as driver:
        for page in pages + stripped:
            driver.get(page.as_uri())
            driver.implicitly_wait(0.5)
            clean, injected, text = driver.execute_script(probe)
            assert clean and injected == 0, page.name
            assert any(p in text for p in PAYLOADS), page.name  # shown to the reader as text
