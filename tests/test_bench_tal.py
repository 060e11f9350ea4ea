"""``bench assign --family tal``: what it times, what it writes, what it refuses.

Timings are never asserted (this machine is shared); the figures' structure is, and so is the
peak memory, which `measure.peak_bytes` counts in bytes and is the same on every call.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from yolo_diagnostics.bench.tal import TalBench, format_tal_tables, run
from yolo_diagnostics.cli import main

HAVE_ULTRALYTICS = importlib.util.find_spec("ultralytics") is not None
ROWS = ["64:3", "96:0", "128:12"]


@pytest.fixture(scope="module")
def tal_json(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "tal.json"
    argv = ["bench", "assign", "--family", "tal", "--rows", *ROWS, "--batch-size", "3"]
    argv += ["--num-classes", "5", "--repeats", "2", "--assigner", "tal_mutants:clean"]
    assert main([*argv, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_tal_json_has_every_implementation_and_row(tal_json: dict) -> None:
    expected = {"ref", "strict", "assigner", "check"} | (
        {"ultralytics"} if HAVE_ULTRALYTICS else set()
    )
    assert tal_json["baseline"] == ("ultralytics" if HAVE_ULTRALYTICS else "ref")
    assert set(tal_json["implementations"]) == expected
    assert tal_json["implementations"]["assigner"] == "tal_mutants:clean"
    assert tal_json["config"]["rows"] == [[64, 3], [96, 0], [128, 12]]
    assert (tal_json["config"]["batch_size"], tal_json["config"]["num_classes"]) == (3, 5)
    assert tal_json["threads"] == torch.get_num_threads()
    results = tal_json["results"]
    assert [(r["img_size"], r["gts_per_image"]) for r in results] == [(64, 3), (96, 0), (128, 12)]
    # 8 400 anchor points at 640 px: (side/8)^2 + (side/16)^2 + (side/32)^2
    assert [r["anchor_points"] for r in results] == [64 + 16 + 4, 144 + 36 + 9, 256 + 64 + 16]
    for row in results:
        assert row["rounds"] == 2
        assert set(row["times_s"]) == set(row["median_s"]) == set(row["peak_bytes"]) == expected
        for name, times in row["times_s"].items():
            assert len(times) == 2 and all(t > 0 for t in times)
            assert row["median_s"][name] == pytest.approx(sum(times) / 2, rel=1e-12)


def test_tal_ratios_are_those_of_the_figures_written(tal_json: dict) -> None:
    base = tal_json["baseline"]
    for row in tal_json["results"]:
        others = set(row["median_s"]) - {base}
        assert {k for k in row["ratios"] if " memory/" not in k} == {f"{n}/{base}" for n in others}
        for name in others:
            t = row["ratios"][f"{name}/{base}"]
            assert t == pytest.approx(row["median_s"][name] / row["median_s"][base])
            mem = row["ratios"][f"{name} memory/{base}"]
            assert mem == pytest.approx(row["peak_bytes"][name] / row["peak_bytes"][base])


def test_tal_peak_memory_is_bytes_and_grows_with_the_gts(tal_json: dict) -> None:
    small, empty, large = tal_json["results"]
    for name in ("ref", "strict", "assigner"):
        assert isinstance(large["peak_bytes"][name], int)
        # the output alone is b x na x (nc + 4 + 3) numbers, more at 128 px x 12 GTs than at 64 x 3
        assert large["peak_bytes"][name] > small["peak_bytes"][name] > 0
        assert empty["peak_bytes"][name] >= 3 * 189 * (5 + 4) * 4  # target_scores + bboxes


@pytest.mark.skipif(not HAVE_ULTRALYTICS, reason="ultralytics not installed")
def test_the_reference_takes_no_more_memory_than_ultralytics() -> None:
    """The reference's promise (the README's bench table): at most ultralytics' peak memory.
    Bytes, not seconds: the same figure on every call."""
    config = TalBench(rows=((320, 30),), batch_size=4, num_classes=20, repeats=1, budget_s=0.1)
    (row,) = run(config).rows
    assert row.peak_bytes["ref"] <= row.peak_bytes["ultralytics"]
    assert row.peak_bytes["strict"] <= row.peak_bytes["ultralytics"]


def test_a_preset_ultralytics_does_not_implement_makes_the_reference_the_baseline() -> None:
    config = TalBench(preset="ultralytics-8.3", rows=((64, 2),), batch_size=2, repeats=1)
    result = run(config)
    assert result.baseline == "ref"
    assert set(result.rows[0].times_s) == {"ref", "strict", "check"}
    if HAVE_ULTRALYTICS:
        assert "stal=False" in result.skipped["ultralytics"]
    table = format_tal_tables(result)
    assert "ratios to ref: time (t) and peak memory (mem)" in table
    ratios = result.ratios(result.rows[0])
    last = table.splitlines()[-1].split()
    assert last[:2] == ["64", "2"]
    assert last[2] == f"{ratios['strict/ref']:.2f}"
    assert last[3] == f"{ratios['strict memory/ref']:.2f}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--family", "tal", "--nt", "5"], "--nt: the anchor family's, not --family tal's"),
        (["--family", "tal", "--anchor-t", "3"], "--anchor-t: the anchor family's"),
        (["--rows", "640:3"], "--rows: --family tal's, not the anchor family's"),
        (["--tal-preset", "tood"], "--tal-preset: --family tal's"),
        (["--family", "tal", "--rows", "640"], "--rows: expected PX:GTS"),
        (["--family", "tal", "--rows", "640:x"], "--rows: expected PX:GTS"),
        (["--family", "tal", "--rows", "640:-1"], "--rows: expected PX:GTS"),
        (["--family", "tal", "--rows", "100:3"], "--rows 100:3: TalProblem.img_size"),
        (["--family", "tal", "--tal-preset", "yolo"], "--tal-preset: expected one of"),
        (["--family", "tal", "--num-classes", "0"], "--num-classes: expected >= 1"),
    ],
)
def test_bench_tal_refuses_in_one_line(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "assign", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
