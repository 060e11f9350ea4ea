"""The scan's policy for bad annotations: skip them counted and named, or stop at the first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yolo_diagnostics import DiagnosticsError, Problem
from yolo_diagnostics.cli import main
from yolo_diagnostics.data import load_coco
from yolo_diagnostics.scan import scan_dataset


def _coco(tmp_path: Path, annotations: list[dict]) -> Path:
    data = {
        "images": [{"id": 3, "file_name": "a.jpg", "width": 640, "height": 480}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "thing"}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


GOOD = {"id": 1, "image_id": 3, "category_id": 1, "bbox": [10, 10, 50, 60]}
CROWD = {"id": 2, "image_id": 3, "category_id": 1, "bbox": [10, 10, 50, 60], "iscrowd": 1}
BAD = {"id": 9, "image_id": 3, "category_id": 1, "bbox": [10, 10, -5, 60]}
UNKNOWN = {"id": 11, "image_id": 3, "category_id": 42, "bbox": [10, 10, 5, 6]}


def _scan(tmp_path: Path, ann: Path, *policy: str) -> int:
    argv = ["scan", "--coco", str(ann), "--out", str(tmp_path / "r"), "--pages", "0", *policy]
    try:
        return main(argv)
    except SystemExit as exited:
        return int(exited.code)


def test_skip_counts_and_names_each_bad_annotation(tmp_path: Path) -> None:
    ann = _coco(tmp_path, [GOOD, CROWD, BAD, UNKNOWN])
    assert _scan(tmp_path, ann) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["targets"] == 1
    assert summary["skipped_annotations"] == {
        "crowd (iscrowd: 1)": 1,
        "width or height not positive": 1,
        "unknown category_id": 1,
    }
    page = (tmp_path / "r" / "index.html").read_text()
    for where in ("annotation id 9 (image id 3)", "annotation id 11 (image id 3)"):
        assert where in page


def test_fail_stops_at_the_first_bad_annotation_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = _coco(tmp_path, [GOOD, CROWD, BAD])
    assert _scan(tmp_path, ann, "--on-bad-annotation", "fail") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "ann.json annotation id 9 (image id 3): width or height not positive" in err
    assert not (tmp_path / "r" / "summary.json").exists()


def test_crowd_alone_is_not_bad(tmp_path: Path) -> None:
    ann = _coco(tmp_path, [GOOD, CROWD])
    assert _scan(tmp_path, ann, "--on-bad-annotation", "fail") == 0


def test_the_api_raises_the_project_error(tmp_path: Path) -> None:
    dataset = load_coco(_coco(tmp_path, [GOOD, UNKNOWN]))
    problem = Problem.preset("yolov5-p5")
    with pytest.raises(DiagnosticsError, match=r"annotation id 11 .*unknown category_id"):
        scan_dataset(dataset, problem, on_bad_annotation="fail")
    with pytest.raises(DiagnosticsError, match="on_bad_annotation: expected 'fail' or 'skip'"):
        scan_dataset(dataset, problem, on_bad_annotation="ignore")  # type: ignore[arg-type]
    assert len(scan_dataset(dataset, problem).skipped) == 1
