"""``yolo-diagnostics scan --family tal`` as a user runs it: the JSON summary, the refused anchor
options, the report's files and figures (drawn where the counts say), the report in Debian's
headless Chromium, and an anchor scan's report replaced by a TAL scan's."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from browser import chromium, console_errors
from test_tal_scan import brute_force, dyadic_dataset, to_pixels, write_yolo

from yolo_diagnostics.cli import main
from yolo_diagnostics.data import load_yolo
from yolo_diagnostics.render.style import PAD, PALETTE, TITLE_H, UNMATCHED
from yolo_diagnostics.report.plots.tal import (
    count_bounds,
    tal_candidates_figure,
    tal_classes_figure,
)
from yolo_diagnostics.report.tal_views import tal_image_views
from yolo_diagnostics.scan.tal import scan_dataset_tal
from yolo_diagnostics.scan.tal_summary import tal_summary
from yolo_diagnostics.tal.problem import TalProblem

HOSTILE = '<img src=x onerror="alert(1)">&'  # a class name that must stay text


@pytest.fixture(scope="module")
def dataset_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dyadic small-object dataset with a data YAML whose first class name is HTML."""
    root = dyadic_dataset(tmp_path_factory.mktemp("tal") / "data", images=6)
    yaml = root / "data.yaml"
    yaml.write_text(
        f"path: .\ntrain: images\nnames:\n  0: {json.dumps(HOSTILE)}\n  1: car\n  2: boat\n"
    )
    return yaml


@pytest.fixture(scope="module")
def scanned(dataset_yaml: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The installed script, as a user runs it: (report folder, stdout)."""
    out = tmp_path_factory.mktemp("report") / "r"
    script = Path(sys.executable).with_name("yolo-diagnostics")
    args = ["scan", "--family", "tal", "--yolo", str(dataset_yaml), "--img-size", "512"]
    done = subprocess.run(
        [str(script), *args, "--out", str(out), "--pages", "4", "--workers", "2"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_summary_keys_and_figures(scanned: tuple[Path, str], dataset_yaml: Path) -> None:
    out, stdout = scanned
    s = json.loads((out / "summary.json").read_text())
    result = scan_dataset_tal(
        load_yolo(dataset_yaml, workers=1), TalProblem.preset("ultralytics", img_size=(512, 512))
    )
    boxes = to_pixels(result.targets, (512, 512), np.float32)
    total = brute_force(boxes, (512, 512), (8, 16, 32), (16.0, 16.0)).sum(1)
    bare = brute_force(boxes, (512, 512), (8, 16, 32), None).sum(1)
    assert s["targets"] == len(total) > 400
    assert s["targets_without_candidates"] == int((total == 0).sum()) == 0
    assert s["targets_below_topk"] == int(((total > 0) & (total < 10)).sum()) > 100
    assert s["targets_without_candidates_without_floor"] == int((bare == 0).sum()) > 20
    assert s["targets_below_topk_without_floor"] == int(((bare > 0) & (bare < 10)).sum())
    for key in ("images", "skipped_annotations", "skipped_images", "per_class", "seconds"):
        assert key in s
    assert set(s["seconds"]) == {"load", "input", "candidates", "statistics", "report"}
    c = s["config"]
    assert (c["preset"], c["strides"], c["img_size"], c["topk"], c["stal_side"]) == (
        "ultralytics",
        [8, 16, 32],
        [512, 512],
        10,
        16.0,
    )
    assert s["per_class"][0]["name"] == HOSTILE
    assert f"without a candidate 0, below topk 10 {s['targets_below_topk']:,};" in stdout
    assert "report: " in stdout and (out / "index.html").is_file()


def test_report_files_escaped_and_self_contained(scanned: tuple[Path, str]) -> None:
    out, _ = scanned
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "tal_candidates.png",
        "tal_classes.png",
        "tal_wh.png",
    ]
    pages = sorted((out / "images").glob("*.html"))
    assert len(pages) == 4
    for page in pages:
        k = page.stem
        assert cv2.imread(str(out / "images" / f"{k}-candidates.jpg")) is not None
    for page in [out / "index.html", *pages]:
        text = page.read_text()
        assert "<img src=x" not in text and 'onerror="alert' not in text
        refs = re.findall(r'(?:src|href)="([^"]*)"', text)
        assert refs and not [r for r in refs if re.match(r"[a-z]+:|//", r)]
    assert "&lt;img src=x onerror=" in (out / "index.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--anchors", "yolov5-p6"], "--anchors: the anchor family's, not --family tal's"),
        (["--anchor-t", "3"], "--anchor-t: the anchor family's"),
        (["--semantics", "strict", "--anchors", "yolov3"], "--anchors, --semantics: the anchor"),
        (["--fail-under-bpr", "0.9"], "--fail-under-bpr: the anchor family's"),
        (["--img-size", "100"], "img_size: H=100 is not divisible by stride 8"),
        (["--tal-preset", "ultralytics-p6", "--img-size", "608"], "not divisible by stride 64"),
    ],
)
def test_anchor_options_are_refused_in_one_line(args, message, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["scan", "--family", "tal", "--out", str(tmp_path), *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("yolo-diagnostics: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_tal_preset_needs_the_tal_family(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["scan", "--tal-preset", "tood", "--out", str(tmp_path)])
    assert stop.value.code == 2
    assert "--tal-preset applies to --family tal only" in capsys.readouterr().err


def test_presets_on_the_command_line(tmp_path: Path, capsys) -> None:
    """The bundled sample: 11 tiny boats have no candidate without the floor."""
    summaries = {}
    for preset in ("ultralytics", "ultralytics-8.3", "tood", "ultralytics-p6"):
        path = tmp_path / f"{preset}.json"
        argv = ["scan", "--family", "tal", "--tal-preset", preset, "--pages", "0"]
        assert main([*argv, "--out", str(tmp_path / preset), "--json", str(path)]) == 0
        summaries[preset] = json.loads(path.read_text())
    assert summaries["ultralytics"]["targets_without_candidates"] == 0
    assert summaries["ultralytics-8.3"]["targets_without_candidates"] == 11
    assert summaries["ultralytics-8.3"]["config"]["stal"] is False
    assert summaries["tood"]["config"]["topk"] == 13
    assert len(summaries["ultralytics-p6"]["candidates_per_level"]) == 4
    # the anchor scan still takes its own options, their defaults filled in
    assert main(["scan", "--pages", "0", "--out", str(tmp_path / "a"), "--anchor-t", "3"]) == 0
    assert '"anchor_t": 3.0' in (tmp_path / "a" / "summary.json").read_text()


def test_a_tal_scan_replaces_an_anchor_scans_report(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    assert main(["scan", "--out", str(out), "--pages", "3"]) == 0
    assert (out / "plots" / "wh.png").is_file() and list((out / "images").glob("*-assignment.jpg"))
    (out / "plots" / "mine.png").write_bytes(b"")  # not the report's: left alone
    assert main(["scan", "--family", "tal", "--out", str(out), "--pages", "2"]) == 0
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "mine.png",
        "tal_candidates.png",
        "tal_classes.png",
        "tal_wh.png",
    ]
    left = sorted(p.name for p in (out / "images").iterdir())
    assert not [n for n in left if "assignment" in n or "original" in n]
    assert len([n for n in left if n.endswith(".html")]) == 2


def test_candidates_are_drawn_on_their_anchor_points(tmp_path: Path) -> None:
    """One 64 x 64 image at a 64 input, drawn 8x: box 0 (10, 10, 30, 22) has level 0's points
    x 12, 20, 28 by y 12, 20 inside, none of level 1 (y 8 and 24 are outside) and level 2's
    (16, 16); box 1 (1, 1, 3, 3) has none without the floor (dashed
    yellow and black) and, floored to (-6, -6, 10, 10), level 0's (4, 4) and level 1's (8, 8)."""
    rows = [(0, 20 / 64, 16 / 64, 20 / 64, 12 / 64), (1, 2 / 64, 2 / 64, 2 / 64, 2 / 64)]
    ds = load_yolo(write_yolo(tmp_path / "one", {"a": (64, 64)}, {"a": rows}), workers=1)
    k, side = 8, 64 * 8  # zoom and tile side
    level0 = (PAD + side + PAD, PAD + TITLE_H)  # the second tile: the input comes first

    def at(img: np.ndarray, x: float, y: float) -> np.ndarray:
        return img[level0[1] + int(y * k), level0[0] + int(x * k)].astype(int)

    for preset, hazard in (("ultralytics-8.3", True), ("ultralytics", False)):
        result = scan_dataset_tal(ds, TalProblem.preset(preset, img_size=(64, 64)))
        views = tal_image_views(result, 0)
        img = views.figures["candidates"]
        colour = np.array(PALETTE[0])
        for x in (12, 20, 28):
            for y in (12, 20):
                assert np.abs(at(img, x, y) - colour).max() < 30, (preset, x, y)
        for x, y in ((4, 12), (36, 12), (12, 28)):  # anchor points outside box 0
            assert np.abs(at(img, x, y) - colour).max() > 60
        assert views.targets[0]["per_level"] == [6, 0, 1] and views.targets[0]["total"] == 7
        yellow = (img == np.array(UNMATCHED)).all(2).sum()
        assert (yellow > 50) == hazard
        second = np.abs(at(img, 4, 4) - np.array(PALETTE[1])).max() < 30
        assert second == (not hazard)
        assert views.targets[1]["total"] == (0 if hazard else 2)  # (4, 4) and level 1's (8, 8)


def test_figures_draw_the_counts(dataset_yaml: Path) -> None:
    result = scan_dataset_tal(
        load_yolo(dataset_yaml, workers=1), TalProblem.preset("ultralytics", img_size=(512, 512))
    )
    s = tal_summary(result)
    fig, caption = tal_candidates_figure(result)
    hist = fig.axes[0]
    labels = [t.get_text() for t in hist.get_xticklabels()]
    assert labels[:32] == [str(n) for n in range(32)]  # one tick per bar while they fit
    for bars, suffix in zip(hist.containers, ("", "_without_floor")):
        heights = [int(p.get_height()) for p in bars.patches]
        assert len(heights) == len(labels)
        for name, height in zip(labels, heights):
            assert height == s["candidates_per_target" + suffix].get(name, 0), (suffix, name)
    assert f"orange fewer than topk = 10 ({s['targets_below_topk']:,})" in caption
    fig, caption = tal_classes_figure(result)
    widths = sorted(int(p.get_width()) for p in fig.axes[0].patches if p.get_width() > 0)
    expected = sorted(v for c in s["per_class"] for v in (c["without_candidates"], c["below_topk"]))
    assert widths == [v for v in expected if v > 0]


def test_count_bounds_hold_for_every_box() -> None:
    """The w-h figure's lines: a box of sides (w, h) has between the two bounds' candidates
    wherever it lies (away from the border), checked densely at every quarter-pixel shift."""
    rng = np.random.default_rng(3)
    sides = rng.uniform(1, 60, (300, 2))
    low, high = count_bounds(sides[:, 0], sides[:, 1], (8, 16, 32))
    shifts = np.arange(0, 32, 0.25)
    for (w, h), lo, hi in zip(sides, low, high):
        x0 = 128 + shifts
        boxes = np.stack((x0, x0[::-1], x0 + w, x0[::-1] + h), 1).astype(np.float32)
        counts = brute_force(boxes, (320, 320), (8, 16, 32), None).sum(1)
        assert counts.min() >= lo and counts.max() <= hi


def test_report_in_a_real_browser(scanned: tuple[Path, str], tmp_path: Path) -> None:
    """From disk, no server: the images table fills, sorts and filters; a page's figures load;
    no console errors."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out, _ = scanned
    s = json.loads((out / "summary.json").read_text())
    with chromium(tmp_path / "profile") as driver:
        driver.get((out / "index.html").as_uri())

        def column(k: int) -> list[str]:
            rows = driver.find_elements(By.CSS_SELECTOR, "#images tbody tr")
            return [r.find_elements(By.TAG_NAME, "td")[k].text for r in rows]

        WebDriverWait(driver, 20).until(lambda d: len(column(1)) == 6)
        below = [int(v) for v in column(5)]
        assert below == sorted(below, reverse=True) and sum(below) == s["targets_below_topk"]
        driver.find_element(By.CSS_SELECTOR, 'th[data-key="file"]').click()
        assert column(1) == [f"images/d{k:02d}.png" for k in range(6)]
        driver.find_element(By.ID, "image-filter").send_keys("d03")
        assert column(1) == ["images/d03.png"]
        driver.find_element(By.ID, "image-filter").clear()
        driver.find_element(By.ID, "only-pages").click()
        WebDriverWait(driver, 20).until(lambda d: len(column(1)) == 4)
        loaded = driver.execute_script(
            "return [...document.images].map(i => i.complete && i.naturalWidth > 0)"
        )
        assert len(loaded) == 3 and all(loaded)
        assert console_errors(driver) == []
        link = driver.find_element(By.CSS_SELECTOR, "#images tbody a")
        name = link.text
        link.click()
        WebDriverWait(driver, 20).until(lambda d: d.title.startswith(name))
        sizes = driver.execute_script(
            "return [...document.images].map(i => i.complete ? i.naturalWidth : 0)"
        )
        assert sizes and min(sizes) >= 480
        rows = driver.find_elements(By.CSS_SELECTOR, "#targets tbody tr")
        card = driver.find_element(By.CSS_SELECTOR, ".cards .card .value").text
        assert len(rows) == int(card) >= 70
        assert console_errors(driver) == []
