"""``bench``: the modes' parsing, ``bench assign``'s JSON, and the measuring helpers.

No speed is asserted anywhere: only what was measured, in which order, and memory in bytes.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math

import pytest
import torch

from yolo_diagnostics.assigners import DEFAULT_ASSIGNER
from yolo_diagnostics.bench import interleave, peak_bytes, random_targets, rounds_for
from yolo_diagnostics.bench.assign import NTS, _ratio_terms
from yolo_diagnostics.cli import _parser, main
from yolo_diagnostics.cli.bench import anchor_defaults, assign_mode, contract_mode
from yolo_diagnostics.cli.inputs import problem_of
from yolo_diagnostics.problem import Problem
from yolo_diagnostics.validate import validate_targets

MB40 = 10_000_000 * 4  # bytes of torch.empty(10_000_000), float32


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


HAVE_YOLOV5 = _importable("yolo_diagnostics.adapters.yolov5")
HAVE_GUARD = importlib.util.find_spec("yolo_diagnostics.guard") is not None


# --- the modes -----------------------------------------------------------------------------


def test_bare_bench_parses_to_the_contract_mode_with_todays_defaults() -> None:
    args = _parser().parse_args(["bench"])
    assert args.run is contract_mode
    assert (args.assigner, args.device, args.profile) == (DEFAULT_ASSIGNER, "cpu", "ci")


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "contract", "--profile", "dev", "--assigner", "m:f"],
        ["bench", "--profile", "dev", "--assigner", "m:f", "contract"],
        ["bench", "--profile", "dev", "--assigner", "m:f"],
    ],
)
def test_contract_options_before_or_after_the_mode(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    assert args.run is contract_mode
    assert (args.assigner, args.device, args.profile) == ("m:f", "cpu", "dev")


def test_bench_assign_parses_with_its_defaults() -> None:
    args = _parser().parse_args(["bench", "assign"])
    assert args.run is assign_mode
    assert args.family == "anchor"
    # unset until assign_mode knows the family: --family tal refuses them when given
    assert (args.nt, args.img_size, args.anchors, args.anchor_t) == (None,) * 4
    anchor_defaults(args)
    problem_of(args)  # fills --anchors and --anchor-t
    assert args.nt == list(NTS) == [0, 10, 100, 1000, 10000, 100000]
    assert (args.batch_size, args.img_size, args.anchors, args.anchor_t) == (
        16,
        [640],
        "yolov5-p5",
        4.0,
    )
    assert (args.assigner, args.device, args.threads, args.json) == (
        DEFAULT_ASSIGNER,
        "cpu",
        None,
        None,
    )


def test_bench_assign_refuses_the_contract_options() -> None:
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(["bench", "assign", "--profile", "dev"])
    assert exit_.value.code == 2


def test_bare_bench_still_times_the_contract(capsys, monkeypatch) -> None:
    from yolo_diagnostics.contract import properties

    one = {"translation": properties.PROPERTIES["translation"]}
    monkeypatch.setattr(properties, "PROPERTIES", one)
    assert main(["bench", "--profile", "dev"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"yolo-diagnostics bench: assigner={DEFAULT_ASSIGNER} device=cpu")
    assert lines[1].split() == ["property", "status", "examples", "seconds", "examples/s"]
    assert lines[2].split()[:2] == ["translation", "passed"]
    assert lines[3].split()[0] == "total"


# --- bench assign end to end ---------------------------------------------------------------


@pytest.fixture(scope="module")
def assign_json(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    assert main(["bench", "assign", "--nt", "0", "10", "--repeats", "2", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_assign_json_has_every_implementation_and_nt(assign_json: dict) -> None:
    base = "yolov5" if HAVE_YOLOV5 else "ref"
    expected = {"ref", "strict", "check"} | ({"yolov5", "check(ref)"} if HAVE_YOLOV5 else set())
    if HAVE_GUARD:
        expected |= {"guard1", "guard10", f"{base}x10"}
    else:
        assert "guard" in assign_json["skipped"]
    if not HAVE_YOLOV5:
        assert "yolov5" in assign_json["skipped"]
    assert assign_json["baseline"] == base
    assert set(assign_json["implementations"]) == expected
    assert assign_json["config"]["nt"] == [0, 10]
    assert assign_json["config"]["batch_size"] == 16
    assert assign_json["config"]["img_size"] == [640, 640]
    assert assign_json["threads"] == torch.get_num_threads()
    assert assign_json["device"] == "cpu"
    assert [row["nt"] for row in assign_json["results"]] == [0, 10]
    for row in assign_json["results"]:
        assert row["rounds"] == 2
        assert set(row["median_s"]) == set(row["times_s"]) == expected
        for name, times in row["times_s"].items():
            assert len(times) == 2 and all(t > 0 for t in times)
            assert row["median_s"][name] == pytest.approx(sum(times) / 2, rel=1e-12)


def test_assign_ratios_are_ratios_of_the_medians_written(assign_json: dict) -> None:
    base = assign_json["baseline"]
    terms = assign_json["ratio_terms"]
    for name in ("ref", "strict", "check"):
        if name != base:
            assert terms[f"{name}/{base}"] == [name, base]
    if HAVE_GUARD:
        assert terms[f"guard1/{base}"] == ["guard1", base]
        assert terms[f"guard10/{base}"] == ["guard10", f"{base}x10"]
    for row in assign_json["results"]:
        assert set(row["ratios"]) == set(terms)
        for ratio, (a, b) in terms.items():
            assert row["ratios"][ratio] == pytest.approx(row["median_s"][a] / row["median_s"][b])


def test_assign_peak_memory_is_positive_bytes_at_the_largest_nt(assign_json: dict) -> None:
    peak = assign_json["peak_memory"]
    assert peak["nt"] == 10
    names = {"ref", "strict", "check"} | ({"yolov5", "check(ref)"} if HAVE_YOLOV5 else set())
    assert set(peak["bytes"]) == names
    for n in peak["bytes"].values():
        assert isinstance(n, int) and n > 0


def test_ratio_terms_put_guard10_over_ten_plain_calls() -> None:
    names = ["yolov5", "ref", "check", "guard1", "guard10", "yolov5x10"]
    assert _ratio_terms(names, "yolov5") == {
        "ref/yolov5": ("ref", "yolov5"),
        "check/yolov5": ("check", "yolov5"),
        "guard1/yolov5": ("guard1", "yolov5"),
        "guard10/yolov5": ("guard10", "yolov5x10"),
    }


# --- measuring -----------------------------------------------------------------------------


def test_peak_bytes_counts_one_live_allocation() -> None:
    def one() -> torch.Tensor:
        return torch.empty(10_000_000)

    assert MB40 <= peak_bytes(one) < 48_000_000


def test_peak_bytes_of_sequential_allocations_is_one_not_their_sum() -> None:
    def two_in_turn() -> None:
        a = torch.empty(10_000_000)
        a.fill_(1)
        del a
        b = torch.empty(10_000_000)
        b.fill_(1)
        del b

    assert MB40 <= peak_bytes(two_in_turn) < 48_000_000


def test_peak_bytes_of_two_live_allocations_is_their_sum() -> None:
    def both() -> tuple[torch.Tensor, torch.Tensor]:
        return torch.empty(10_000_000), torch.empty(10_000_000)

    assert 2 * MB40 <= peak_bytes(both) < 88_000_000


def test_peak_bytes_excludes_what_was_allocated_before() -> None:
    before = torch.empty(10_000_000)
    assert peak_bytes(lambda: before.view(-1)) < 1_000_000


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_peak_bytes_on_cuda() -> None:
    def two_in_turn() -> torch.Tensor:
        torch.empty(10_000_000, device="cuda")
        return torch.empty(10_000_000, device="cuda")

    assert MB40 <= peak_bytes(two_in_turn, "cuda") < 48_000_000


def test_interleave_is_round_robin_in_shuffled_order() -> None:
    """Every round calls each once; the order changes from round to round (no call always
    runs after the same other one) and is the same for the same seed."""
    names = ("a", "b", "c", "d")

    def run(seed: int) -> list[str]:
        order: list[str] = []
        calls = {name: (lambda name=name: order.append(name)) for name in names}
        times = interleave(calls, 40, seed=seed)
        assert {name: len(t) for name, t in times.items()} == dict.fromkeys(names, 40)
        return order

    order = run(0)
    rounds = [order[i : i + 4] for i in range(0, len(order), 4)]
    assert all(sorted(r) == list(names) for r in rounds)
    assert {r[0] for r in rounds} == set(names)  # each goes first in some round
    after_a = {r[r.index("a") + 1] for r in rounds if r[-1] != "a"}
    assert after_a == {"b", "c", "d"}
    assert run(0) == order and run(1) != order


@pytest.mark.parametrize(
    ("round_s", "repeats", "budget_s", "rounds"),
    [
        (0.001, 21, 10.0, 21),  # 21 rounds fit
        (1.0, 21, 10.0, 10),  # 10 fit
        (50.0, 21, 10.0, 3),  # none fit: at least 3
        (50.0, 2, 10.0, 2),  # ... unless fewer were asked for
        (0.0, 5, 10.0, 5),
    ],
)
def test_rounds_for(round_s: float, repeats: int, budget_s: float, rounds: int) -> None:
    assert rounds_for(round_s, repeats, budget_s) == rounds


# --- the boxes -----------------------------------------------------------------------------

PROBLEM = Problem.preset("yolov5-p5", batch_size=16)


@pytest.mark.parametrize("nt", [0, 1, 10, 10_000])
def test_random_targets_are_valid_float32_with_nt_rows(nt: int) -> None:
    targets = random_targets(PROBLEM, nt, seed=3)
    assert targets.shape == (nt, 6) and targets.dtype == torch.float32
    assert validate_targets(PROBLEM, targets) is targets


def test_random_targets_follow_the_documented_distribution() -> None:
    t = random_targets(PROBLEM, 20_000, seed=0).double()
    assert set(t[:, 0].long().tolist()) == set(range(16))
    assert t[:, 1].min() >= 0 and t[:, 1].max() <= 79 and len(t[:, 1].unique()) == 80
    side = (t[:, 4] * t[:, 5]).sqrt() * 640  # clipping only shrinks a box
    assert side.max() <= 600 * (1 + 1e-6)
    lo, hi = t[:, 2:4] - t[:, 4:6] / 2, t[:, 2:4] + t[:, 4:6] / 2
    inside = (lo > 1e-6).all(1) & (hi < 1 - 1e-6).all(1)  # clipped boxes touch 0 or 1
    assert inside.float().mean() > 0.5  # most boxes are not cut by the border
    unclipped = side[inside]
    assert unclipped.min() >= 2 * (1 - 1e-5)
    # log-uniform: the median side is the geometric mean of 2 and 600, about 34.6 px
    assert math.isclose(side.median().item(), math.sqrt(2 * 600), rel_tol=0.25)
    aspect = (t[inside, 4] / t[inside, 5]).log().abs()
    assert aspect.max() <= math.log(3) + 1e-4


def test_random_targets_are_seeded() -> None:
    a = random_targets(PROBLEM, 100, seed=1)
    assert torch.equal(a, random_targets(PROBLEM, 100, seed=1))
    assert not torch.equal(a, random_targets(PROBLEM, 100, seed=2))
