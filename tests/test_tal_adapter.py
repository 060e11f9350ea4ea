"""The ultralytics adapter runs the package's own ``TaskAlignedAssigner`` (8.4.190), built as
``v8DetectionLoss`` builds it, and importing it writes nothing under ``$HOME``.

The package is not a dependency of this project: these tests skip without it, except the
missing-package ones, which run everywhere.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from yolo_diagnostics.adapters._support import INSTALL
from yolo_diagnostics.errors import DiagnosticsError
from yolo_diagnostics.tal import TalProblem

ADAPTER = "yolo_diagnostics.adapters.ultralytics"


def installed() -> None:
    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip(f"ultralytics is not installed ({INSTALL['ultralytics']})")


def run_isolated(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh ``python -I`` whose home and caches are under ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO", "XDG_"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir()
    return subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


def test_import_writes_nothing_under_home_and_looks_nothing_up(tmp_path: Path) -> None:
    installed()
    code = (
        "import sys\n"
        "seen = []\n"
        "net = ('socket.getaddrinfo', 'socket.gethostbyname', 'socket.connect', 'urllib.Request')\n"
        "sys.addaudithook(lambda e, a: seen.append(e) if e in net else None)\n"
        f"import {ADAPTER}\n"
        "print('network events:', sorted(set(seen)))\n"
    )
    result = run_isolated(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "network events: []" in result.stdout
    written = [p for p in (tmp_path / "home").rglob("*")]
    assert written == []  # not even ~/.config/Ultralytics
    settings = tmp_path / "cache" / "yolo-diagnostics" / "ultralytics" / "Ultralytics"
    assert (settings / "settings.json").exists()  # ultralytics' settings went to our cache


@pytest.mark.parametrize("blocked", ["ultralytics", "cv2", "yaml"])
def test_missing_package_names_the_install_command(blocked: str, tmp_path: Path) -> None:
    code = f"import sys; sys.modules[{blocked!r}] = None; import {ADAPTER}"
    result = run_isolated(code, tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: the ultralytics adapter needs the 'ultralytics' package")
    if importlib.util.find_spec("ultralytics") is not None:  # else ultralytics fails first
        assert re.search(rf"imports \(.*\b{blocked}\b.*\); install them with", last), last
    assert last.endswith(
        "install them with: pip install --no-deps ultralytics==8.4.190 && pip install numpy "
        "opencv-python-headless pillow pyyaml"
    )


def test_builds_the_packages_assigner_as_the_loss_does() -> None:
    installed()
    import ultralytics
    from ultralytics.utils.tal import TaskAlignedAssigner

    from yolo_diagnostics.adapters.ultralytics import VERSION, make_assigner

    assert ultralytics.__version__ == VERSION == "8.4.190"
    assigner = make_assigner(TalProblem.preset("one2one", num_classes=7), "cpu").assigner
    assert type(assigner) is TaskAlignedAssigner
    assert (assigner.topk, assigner.topk2, assigner.num_classes) == (7, 1, 7)
    assert (assigner.alpha, assigner.beta, assigner.eps) == (0.5, 6.0, 1e-9)
    assert assigner.stride == [8.0, 16.0, 32.0]  # model.stride.tolist(): floats
    assert assigner.stride_val == 16.0  # the floor: stride[1]
    p6 = make_assigner(TalProblem.preset("ultralytics-p6"), "cpu").assigner
    assert (p6.stride, p6.stride_val, p6.topk2) == ([8.0, 16.0, 32.0, 64.0], 16.0, 10)


@pytest.mark.parametrize("preset", ["ultralytics-8.3", "ultralytics-pre25912"])
def test_refuses_floors_the_installed_code_does_not_have(preset: str) -> None:
    installed()
    from yolo_diagnostics.adapters.ultralytics import make_assigner

    with pytest.raises(
        DiagnosticsError, match=r"ultralytics 8\.4\.190 always floors sides below stride\[1\]"
    ):
        make_assigner(TalProblem.preset(preset), "cpu")


def test_8_4_190_floors_below_stride_1_not_stride_0() -> None:
    """The installed code compares each side with stride_val (16), the value it replaces it
    with: the fix of ultralytics#25912. A 9 x 20 px box [9.5, 2, 18.5, 22] on a 32 x 32
    input: its 9 px side grows to 16 (x in (6, 22)), so anchor columns x = 12 and 20 at
    stride 8, x = 8 at stride 16 and x = 16 at stride 32 are inside; y in (2, 22) takes rows
    4, 12, 20 / 8 / 16. Before #25912 (compared with 8) the 9 px side stayed: x in (9.5,
    18.5) keeps only x = 12 at stride 8 and x = 16 at stride 32."""
    installed()
    import torch
    from ultralytics.utils.tal import TaskAlignedAssigner

    from yolo_diagnostics.tal.geometry import candidate_boxes, inside_mask

    problem = TalProblem.preset("ultralytics", img_size=(32, 32))
    gt = torch.tensor([[[9.5, 2.0, 18.5, 22.0]]])
    valid = torch.ones(1, 1, dtype=torch.bool)
    theirs = TaskAlignedAssigner(stride=[8.0, 16.0, 32.0]).select_candidates_in_gts(
        problem.anchor_points(), gt, torch.ones(1, 1, 1)
    )
    ours = inside_mask(problem, candidate_boxes(problem, gt, valid), valid, torch.float32)
    assert torch.equal(theirs, ours)
    assert ours[0, 0].nonzero().flatten().tolist() == [1, 2, 5, 6, 9, 10, 16, 20]
    before = TalProblem.preset("ultralytics-pre25912", img_size=(32, 32))
    old = inside_mask(before, candidate_boxes(before, gt, valid), valid, torch.float32)
    assert old[0, 0].nonzero().flatten().tolist() == [1, 5, 9, 20]
