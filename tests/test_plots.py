"""The scan report's figures: real scans of hand-made COCO files, real matplotlib, and checks on
the PNGs' pixels and the drawn values (bar heights, messages), not only on the files existing."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.text import Text

from yolo_diagnostics import Problem
from yolo_diagnostics.data import load_coco
from yolo_diagnostics.report.plots import (
    MAX_UNMATCHED_POINTS,
    MISS_COLOUR,
    REASON_COLOURS,
    Plot,
    best_ratio_figure,
    positives_figure,
    scan_plots,
    unmatched_figure,
    unmatched_sample,
    wh_figure,
)
from yolo_diagnostics.scan import ScanResult, scan_dataset

P5 = Problem.preset("yolov5-p5")
FILES = ["wh.png", "positives.png", "best_ratio.png", "unmatched.png"]

# (category, [x, y, w, h]) in a 640 x 640 image: the network input, unscaled
TINY = [
    (1, [10, 10, 1, 2]),  # 1 x 2 px: too small for every anchor
    (1, [100, 100, 1, 2]),
    (3, [50, 50, 2.5, 3.25]),  # the 10 x 13 anchor / 4: a ratio of exactly 4 fails, a miss
]
FITTING = [(3, [200, 200, 100, 120]), (1, [300, 300, 40, 30])]  # matched at some level


def scan(tmp: Path, boxes: list[tuple[int, list[float]]]) -> ScanResult:
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 640}],
        "annotations": [
            {"id": k + 1, "image_id": 1, "category_id": c, "bbox": b, "iscrowd": 0}
            for k, (c, b) in enumerate(boxes)
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
    }
    path = tmp / f"instances_{len(boxes)}.json"
    path.write_text(json.dumps(data))
    return scan_dataset(load_coco(path), P5)


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ScanResult]:
    tmp = tmp_path_factory.mktemp("plots")
    return {
        "tiny": scan(tmp, TINY + FITTING),
        "fitting": scan(tmp, FITTING),
        "empty": scan(tmp, []),
    }


def bgr(colour: str) -> np.ndarray:
    return (np.array(to_rgba(colour)[2::-1]) * 255).round().astype(np.uint8)


def pixels_of(img: np.ndarray, colour: str) -> int:
    return int((img == bgr(colour)).all(2).sum())


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


def test_files_titles_and_captions(scans: dict[str, ScanResult], tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet"
    plots = scan_plots(scans["tiny"], folder)
    assert [p.file for p in plots] == FILES
    assert plots[0] == Plot("wh.png", "Target sizes vs anchors", plots[0].caption)
    assert len({p.title for p in plots}) == 4 and all(p.title for p in plots)
    for p in plots:
        img = cv2.imread(str(folder / p.file))
        assert img is not None, p.file
        assert 800 <= img.shape[1] <= 1000 and 400 <= img.shape[0] <= 800, (p.file, img.shape)
    assert sorted(f.name for f in folder.iterdir()) == sorted(FILES)
    wh, _, best, unmatched = (p.caption for p in plots)
    assert "anchor_t = 4 band (w/4 to 4w, h/4 to 4h" in wh
    assert "outside every band fails the ratio test" in wh
    assert "drawn" not in wh  # two unmatched points: no cap
    assert "1/anchor_t = 0.25" in best
    assert unmatched.startswith("3 of 5 targets (60.00%) get no positive.")


def test_unmatched_point_at_its_size(scans: dict[str, ScanResult], tmp_path: Path) -> None:
    """The 1 x 2 px targets are drawn in the too-small colour where (1, 2) lies on the axes,
    not where (2, 1) does (w and h swapped)."""
    result = scans["tiny"]
    assert result.reason.tolist() == [0, 0, 0, -1, -1]  # too-small, as the boxes were made
    fig, _ = wh_figure(result)
    fig.canvas.draw()
    scan_plots(result, tmp_path)
    img = cv2.imread(str(tmp_path / "wh.png"))

    def around(w: float, h: float) -> np.ndarray:
        x, y = fig.axes[0].transData.transform((w, h))
        row, col = round(img.shape[0] - y), round(x)  # display y grows upwards
        return img[row - 2 : row + 3, col - 2 : col + 3]

    assert pixels_of(around(1, 2), REASON_COLOURS["too-small"]) > 0
    assert pixels_of(around(2, 1), REASON_COLOURS["too-small"]) == 0
    for other in ("too-large", "aspect"):  # absent reasons: not drawn, not in the legend
        assert pixels_of(img, REASON_COLOURS[other]) == 0


def test_no_unmatched(scans: dict[str, ScanResult], tmp_path: Path) -> None:
    result = scans["fitting"]
    plots = scan_plots(result, tmp_path)
    img = cv2.imread(str(tmp_path / "wh.png"))
    assert all(pixels_of(img, c) == 0 for c in REASON_COLOURS.values())
    assert plots[3].caption.startswith("No unmatched targets")
    fig, _ = unmatched_figure(result)
    assert "no unmatched targets" in texts(fig)
    reasons = fig.axes[0]
    assert [b.get_height() for b in reasons.patches] == [0, 0, 0]


def test_bars_are_the_counts(scans: dict[str, ScanResult]) -> None:
    result = scans["tiny"]
    fig, caption = positives_figure(result)
    heights = [b.get_height() for b in fig.axes[0].patches]
    assert heights == result.counts.per_anchor.ravel().tolist()
    assert sum(heights) > 0 and f"{sum(heights):,} in all" in caption
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[:3] == ["10×13", "16×30", "33×23"]

    fig, _ = best_ratio_figure(result)
    assert result.best[2] == 0.25  # exactly 1 / anchor_t: a miss, as YOLOv5 keeps best > 0.25
    bars = fig.axes[0].patches
    assert sum(b.get_height() for b in bars) == 5
    misses = [b for b in bars if b.get_facecolor() == to_rgba(MISS_COLOUR)]
    assert sum(b.get_height() for b in misses) == 3
    assert all(b.get_x() + b.get_width() <= 0.25 + 1e-9 for b in misses)
    assert misses[-1].get_height() == 1  # the threshold's own target, left of the line
    assert "3 targets (60.00%)\nbelow: AutoAnchor misses" in "\n".join(texts(fig))

    fig, _ = unmatched_figure(result)
    by_reason, by_class = fig.axes
    assert [b.get_height() for b in by_reason.patches] == [3, 0, 0]
    assert [t.get_text() for t in by_class.get_yticklabels()] == ["person", "car"]  # most first
    assert [b.get_width() for b in by_class.patches] == [2, 1]
    assert {"  2 of 3 (66.7%)", "  1 of 2 (50.0%)"} <= set(texts(fig))


def test_empty_scan(scans: dict[str, ScanResult], tmp_path: Path) -> None:
    result = scans["empty"]
    assert len(result.targets) == 0
    plots = scan_plots(result, tmp_path)
    assert all(cv2.imread(str(tmp_path / p.file)) is not None for p in plots)
    for build in (wh_figure, positives_figure, best_ratio_figure, unmatched_figure):
        assert "no targets" in texts(build(result)[0]), build.__name__


def test_same_bytes(scans: dict[str, ScanResult], tmp_path: Path) -> None:
    scan_plots(scans["tiny"], tmp_path / "a")
    scan_plots(scans["tiny"], tmp_path / "b")
    for f in FILES:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_unmatched_sample_keeps_every_reason() -> None:
    """Beyond the cap each reason keeps its share, a rare reason all of its few rows."""
    reason = np.full(40_000, -1)
    reason[:30_000] = 0
    reason[30_000:30_005] = 2
    samples = unmatched_sample(reason)
    assert [(k, name, total) for k, name, _, total in samples] == [
        (0, "too-small", 30_000),
        (2, "aspect", 5),
    ]
    small, aspect = samples[0][2], samples[1][2]
    assert aspect.tolist() == [30_000, 30_001, 30_002, 30_003, 30_004]
    assert len(small) == MAX_UNMATCHED_POINTS * 30_000 // 30_005
    assert (reason[small] == 0).all() and len(np.unique(small)) == len(small)
    assert small[0] == 0 and small[-1] == 29_999  # spread over the whole dataset
    assert [len(s[2]) for s in unmatched_sample(reason[:1000])] == [1000]  # under the cap
