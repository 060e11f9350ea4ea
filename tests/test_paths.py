"""A COCO file_name is data: it may not reach outside the images folder."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from yolo_diagnostics import DiagnosticsError
from yolo_diagnostics.cli import main
from yolo_diagnostics.data import load_coco
from yolo_diagnostics.data.boxes import inside_root, unsafe_name


def _coco(tmp_path: Path, file_name: str) -> Path:
    data = {
        "images": [{"id": 7, "file_name": file_name, "width": 64, "height": 48}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [4, 4, 20, 20]}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../secret.jpg", "goes up with '..'"),
        ("a/../../secret.jpg", "goes up with '..'"),
        ("..\\secret.jpg", "goes up with '..'"),
        ("/etc/passwd", "is an absolute path"),
        ("\\\\server\\share\\x.jpg", "is an absolute path"),
        ("C:\\images\\x.jpg", "is an absolute path"),
    ],
)
def test_unsafe_file_names_are_refused_at_load(tmp_path: Path, name: str, reason: str) -> None:
    assert unsafe_name(name) == reason
    with pytest.raises(DiagnosticsError) as caught:
        load_coco(_coco(tmp_path, name), images=tmp_path)
    message = str(caught.value)
    assert type(caught.value) is DiagnosticsError
    assert "image 7" in message and repr(name) in message and reason in message
    assert "\n" not in message


@pytest.mark.parametrize("name", ["a.jpg", "sub/dir/a.jpg", "a..b.jpg", "..a.jpg"])
def test_ordinary_names_pass(tmp_path: Path, name: str) -> None:
    assert unsafe_name(name) is None
    assert inside_root(tmp_path, name, "image 1") == tmp_path / name


def test_a_symlink_leading_outside_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "images", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (outside / "x.jpg").write_bytes(b"not really")
    os.symlink(outside / "x.jpg", root / "link.jpg")
    os.symlink(outside, root / "dirlink")
    (root / "inner").mkdir()
    os.symlink(root / "inner", root / "fine")  # stays inside: allowed
    assert inside_root(root, "fine/a.jpg", "image 1") == root / "fine/a.jpg"
    for name in ("link.jpg", "dirlink/x.jpg"):
        with pytest.raises(DiagnosticsError, match="leads outside the image root"):
            inside_root(root, name, "image 1")
    refused = r"image 7: file name 'link.jpg' leads outside"
    with pytest.raises(DiagnosticsError, match=refused):  # lexically fine, refused at load
        load_coco(_coco(tmp_path, "link.jpg"), images=root)
    dataset = replace(load_coco(_coco(tmp_path, "link.jpg")), image_root=root)
    with pytest.raises(DiagnosticsError, match=refused):
        dataset.image_path(0)


def test_the_scan_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _coco(tmp_path, "../../etc/hosts")
    with pytest.raises(SystemExit) as exited:
        main(["scan", "--coco", str(path), "--images", str(tmp_path), "--out", str(tmp_path / "r")])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "goes up with '..'" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()
