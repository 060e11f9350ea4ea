"""``yolo-diagnostics scan`` and ``show`` on the bundled sample: the JSON figures, the CI
gate, the report's files, and the report itself in Debian's headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from browser import chromium, console_errors

from yolo_diagnostics.cli import main
from yolo_diagnostics.data.sample import SAMPLE, SAMPLE_COCO, SAMPLE_IMAGES, SAMPLE_YAML

FILES = [
    "astronaut",
    "bridge",
    "camera",
    "chelsea",
    "china",
    "coffee",
    "grace_hopper",
    "rocket",
    "wine",
    "wine_crop",
]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The README's first command, ``yolo-diagnostics scan`` with no arguments, run as the
    installed script from an empty folder: (that folder, its stdout)."""
    folder = tmp_path_factory.mktemp("scan")
    script = Path(sys.executable).with_name("yolo-diagnostics")
    done = subprocess.run([str(script), "scan"], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return folder / "reports" / "scan", done.stdout


def test_scan_of_the_bundled_sample(scanned: tuple[Path, str]) -> None:
    out, stdout = scanned
    s = json.loads((out / "summary.json").read_text())
    # fixtures/README.md: 7 boats too small and the bottle sliver of 28 targets; 1 crowd box
    assert (s["images"], s["targets"], s["unmatched_targets"]) == (10, 28, 8)
    assert s["bpr_realized"] == 1 - 8 / 28 and s["bpr_autoanchor"] == 1 - 8 / 28
    assert s["skipped_annotations"] == {"crowd (iscrowd: 1)": 1}
    assert s["unmatched_by_reason"] == {"too-small": 7, "too-large": 0, "aspect": 1}
    assert set(s) >= {
        "anchors_per_target",
        "bpr_by_scale",
        "tiny_targets",
        "positives_per_level",
        "positives_per_anchor",
        "positives_per_target",
        "duplicates",
        "collisions",
        "per_class",
    }
    assert sum(s["positives_per_level"]) == sum(map(sum, s["positives_per_anchor"]))
    assert sum(s["positives_per_target"].values()) == 28 and s["positives_per_target"]["0"] == 8
    assert set(s["seconds"]) == {"load", "input", "assignment", "statistics", "report"}
    index = out / "index.html"
    assert f"report: reports/scan/index.html  (open {index.resolve().as_uri()}" in stdout
    assert "unmatched 8 (too-small 7, too-large 0, aspect 1)" in stdout
    pages = sorted(p.name for p in (out / "images").glob("*.html"))
    assert pages == [f"{k}.html" for k in range(10)]
    for k in range(10):
        for view in ("original", "input", "assignment"):
            assert cv2.imread(str(out / "images" / f"{k}-{view}.jpg")) is not None
    assert sorted(p.name for p in (out / "plots").glob("*.png")) == [
        "best_ratio.png",
        "positives.png",
        "unmatched.png",
        "wh.png",
    ]
    for page in (index, out / "images" / "0.html"):  # nothing fetched at view time
        refs = re.findall(r'(?:src|href)="([^"]*)"', page.read_text())
        assert refs and not [r for r in refs if re.match(r"[a-z]+:|//", r)]


def test_yolo_format_gives_the_same_figures(tmp_path: Path, capsys) -> None:
    coco, yolo = tmp_path / "coco.json", tmp_path / "yolo.json"
    args = ["--pages", "0", "--out", str(tmp_path / "r")]
    assert main(["scan", "--coco", str(SAMPLE_COCO), "--json", str(coco), *args]) == 0
    assert main(["scan", "--yolo", str(SAMPLE_YAML), "--json", str(yolo), *args]) == 0
    a, b = json.loads(coco.read_text()), json.loads(yolo.read_text())
    for key in ("images", "targets", "unmatched_targets", "bpr_realized", "bpr_autoanchor"):
        assert a[key] == b[key], key
    assert b["skipped_annotations"] == {}  # YOLOv5's labels leave the crowd boxes out


def test_a_second_scan_replaces_the_first_ones_pages(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    assert main(["scan", "--out", str(out), "--pages", "8"]) == 0
    (out / "images" / "notes.txt").write_text("mine")  # not the report's: left alone
    assert main(["scan", "--out", str(out), "--pages", "2"]) == 0
    left = sorted(p.name for p in (out / "images").iterdir())
    pages = [p for p in left if p.endswith(".html")]
    assert pages == ["6.html", "7.html"] and "notes.txt" in left  # china, wine_crop
    assert len(left) == 2 + 2 * 4 + 1  # two pages with four views each (both have close-ups)


def test_fail_under_bpr_is_a_ci_gate(tmp_path: Path, capsys) -> None:
    args = ["scan", "--pages", "0", "--out", str(tmp_path)]
    assert main([*args, "--fail-under-bpr", "0.71"]) == 0  # 20 / 28 = 0.714
    capsys.readouterr()
    assert main([*args, "--fail-under-bpr", "0.72"]) == 1
    assert "FAIL: bpr_realized 0.7142857142857143, below --fail-under-bpr 0.72" in (
        capsys.readouterr().out
    )


def test_smaller_input_and_other_anchors(tmp_path: Path, capsys) -> None:
    """At 320 every boat is too small; a model YAML's anchors are read like YOLOv5's."""
    model = tmp_path / "model.yaml"
    model.write_text(
        "anchors:\n  - [10,13, 16,30, 33,23]\n  - [30,61, 62,45, 59,119]\n"
        "  - [116,90, 156,198, 373,326]\n"
    )
    out = tmp_path / "s.json"
    args = ["--pages", "0", "--out", str(tmp_path / "r"), "--json", str(out)]
    assert main(["scan", "--img-size", "320", "--anchors", str(model), *args]) == 0
    s = json.loads(out.read_text())
    assert s["unmatched_by_reason"] == {"too-small": 15, "too-large": 0, "aspect": 1}
    assert s["config"]["img_size"] == [320, 320] and s["config"]["strides"] == [8, 16, 32]
    assert main(["scan", "--img-size", "320", "640", "--anchor-t", "3", *args]) == 0
    assert json.loads(out.read_text())["config"] == {
        "img_size": [320, 640],
        "strides": [8, 16, 32],
        "anchors": json.loads(json.dumps([[list(a) for a in lv] for lv in _P5])),
        "anchor_t": 3.0,
        "semantics": "yolov5",
        "scale_aug": 0.5,
    }


_P5 = (
    ((10.0, 13.0), (16.0, 30.0), (33.0, 23.0)),
    ((30.0, 61.0), (62.0, 45.0), (59.0, 119.0)),
    ((116.0, 90.0), (156.0, 198.0), (373.0, 326.0)),
)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--coco", "missing.json"], "missing.json: cannot read the COCO file"),
        (["--anchors", "nope"], "anchors 'nope': neither a preset"),
        (["--img-size", "641"], "img_size: H=641 is not divisible by stride 8"),
        (["--coco", str(SAMPLE_COCO), "--yolo", str(SAMPLE_YAML)], "give --coco or --yolo"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["scan", "--out", str(tmp_path), *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("yolo-diagnostics: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_show_writes_the_views_of_one_image(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "show",
            "--coco",
            str(SAMPLE_COCO),
            "--images",
            str(SAMPLE_IMAGES),
            "--image-id",
            "8",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "wine_crop.jpg (id 8): 1 targets" in text
    # the 8 x 256 px sliver of a 617 x 1200 image, scaled by 640 / 1200
    assert re.search(r"0 bottle +4\.3 x +136\.5 px at the input  no positive: aspect", text)
    views = sorted(p.name for p in tmp_path.glob("*.png"))
    assert views == [f"wine_crop-{v}.png" for v in ("assignment", "closeup", "input", "original")]
    assert cv2.imread(str(tmp_path / "wine_crop-original.png")).shape[0] > 1000  # 1200 high

    yolo = SAMPLE / "images" / "china.jpg"
    code = main(["show", "--yolo", str(yolo), "--names", str(SAMPLE_YAML), "--out", str(tmp_path)])
    assert code == 0
    text = capsys.readouterr().out
    assert text.count("no positive: too-small") == 7 and text.count(" boat ") == 15


def test_report_in_a_real_browser(scanned: tuple[Path, str], tmp_path: Path) -> None:
    """From disk, no server: the table fills, filters and sorts; an image page's views load;
    no console errors anywhere."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out, _ = scanned
    with chromium(tmp_path / "profile") as driver:
        driver.get((out / "index.html").as_uri())

        def files() -> list[str]:
            rows = driver.find_elements(By.CSS_SELECTOR, "#images tbody tr")
            return [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows]

        WebDriverWait(driver, 20).until(lambda d: len(files()) == 10)
        assert files()[:2] == ["china.jpg", "wine_crop.jpg"]  # most unmatched first
        status = driver.find_element(By.ID, "images-status").text
        assert status == "1–10 of 10 images"
        driver.find_element(By.CSS_SELECTOR, 'th[data-key="file"]').click()
        assert files() == [f"{name}.jpg" for name in FILES]
        driver.find_element(By.CSS_SELECTOR, 'th[data-key="targets"]').click()
        assert files()[0] == "china.jpg"  # 15 boats
        driver.find_element(By.ID, "only-unmatched").click()
        assert sorted(files()) == ["china.jpg", "wine_crop.jpg"]
        box = driver.find_element(By.ID, "image-filter")
        box.send_keys("crop")
        assert files() == ["wine_crop.jpg"]
        assert "(filtered from 10)" in driver.find_element(By.ID, "images-status").text
        loaded = driver.execute_script(
            "return [...document.images].map(i => i.complete && i.naturalWidth > 0)"
        )
        assert len(loaded) == 4 and all(loaded)  # the four figures
        assert console_errors(driver) == []

        driver.find_element(By.LINK_TEXT, "wine_crop.jpg").click()
        WebDriverWait(driver, 20).until(lambda d: d.title.startswith("wine_crop.jpg"))
        sizes = driver.execute_script(
            "return [...document.images].map(i => i.complete ? i.naturalWidth : 0)"
        )
        assert len(sizes) == 4 and min(sizes) >= 400  # original, input, assignment, close-up
        rows = driver.find_elements(By.CSS_SELECTOR, "#targets tbody tr")
        assert len(rows) == 1  # the bottle sliver
        assert "no positive: aspect" in rows[0].text
        assert console_errors(driver) == []
