"""Training-scale strategies, the contract's scale property, and a crowded failing overlay."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import find, settings

from yolo_diagnostics import DiagnosticsError, Problem, assign, diff
from yolo_diagnostics.contract import properties
from yolo_diagnostics.contract.properties import SCALE_EXAMPLES, ContractOptions
from yolo_diagnostics.contract.runner import run_property
from yolo_diagnostics.profiles import PROFILES
from yolo_diagnostics.reference import make_assigner
from yolo_diagnostics.render import render_assignment
from yolo_diagnostics.render.assignment import MAX_OVERLAY_TARGETS, _offending_first
from yolo_diagnostics.render.levels import Table
from yolo_diagnostics.scale import mostly, pool, scale_features
from yolo_diagnostics.validate import validate_targets

P6 = Problem.preset("yolov5-p6", img_size=(1280, 1280), batch_size=64, num_classes=1203)
LAYOUT = {"idle": 10, "crowded": 6, "weight": 40, "piled": 0.4, "seed": 3}


def test_pool_is_valid_and_a_prefix_of_itself() -> None:
    full = pool(P6, 10_000, **LAYOUT)
    validate_targets(P6, full)
    assert full.shape == (10_000, 6) and full.dtype == torch.float32
    assert torch.equal(pool(P6, 2_500, **LAYOUT), full[:2_500])  # shrinking cuts the tail
    assert not torch.equal(pool(P6, 2_500, **{**LAYOUT, "seed": 4}), full[:2_500])


def test_pool_has_idle_crowded_and_piled_images() -> None:
    t = pool(P6, 10_000, **LAYOUT)
    counts = torch.bincount(t[:, 0].long(), minlength=64).sort(descending=True).values
    assert (counts == 0).sum() == LAYOUT["idle"]
    crowded, sparse = counts[: LAYOUT["crowded"]], counts[LAYOUT["crowded"] : -LAYOUT["idle"]]
    assert crowded.min() > 10 * sparse.max()  # weight 40 against 1
    features = scale_features(P6, t)
    assert features["most-in-one-image"] >= 500 and features["most-in-one-cell"] >= 100
    assert features["top-class"] >= 1100  # classes span the problem's 1 203
    flat = pool(P6, 10_000, **{**LAYOUT, "piled": 0.0})
    assert scale_features(P6, flat)["most-in-one-cell"] < 20


@pytest.mark.parametrize(
    ("layout", "message"),
    [({"idle": 64}, "idle < batch_size"), ({"idle": 60, "crowded": 5}, "crowded 5")],
)
def test_pool_refuses_an_impossible_layout(layout: dict, message: str) -> None:
    with pytest.raises(DiagnosticsError, match=message):
        pool(P6, 10, **{**LAYOUT, **layout})


def test_mostly_shrinks_past_its_common_values() -> None:
    quiet = settings(database=None, derandomize=True)
    assert find(mostly(0, 10_000, (10_000,)), lambda n: n > 4096, settings=quiet) == 4097
    assert find(mostly(1, 1203, (1203,)), lambda n: n >= 256, settings=quiet) == 256


def test_contract_scale_property_reaches_training_scale() -> None:
    """What test_scale draws in the ci profile, recorded from the property itself."""
    seen: list[dict[str, int]] = []
    prop = properties.PROPERTIES["scale"]

    def record(options: ContractOptions, device: str, case: dict) -> list:
        seen.append(scale_features(case["problem"], case["targets"]))
        return prop.run(options, device, case)

    options = ContractOptions(factory=make_assigner)
    outcome = run_property(
        dataclasses.replace(prop, run=record),
        options,
        "cpu",
        PROFILES["ci"],
        raise_failure=True,
    )
    assert outcome.status == "passed" and outcome.examples == len(seen) == SCALE_EXAMPLES
    most = {key: max(f[key] for f in seen) for key in seen[0]}
    assert most["targets"] >= 10_000 and most["batch"] >= 48
    assert most["top-class"] >= 1024 and most["grid"] >= 256 and most["levels"] == 4
    assert most["most-in-one-image"] >= 500 and most["most-in-one-cell"] >= 50
    mixed = [f for f in seen if f["idle-images"] >= 1 and f["most-in-one-image"] >= 150]
    assert mixed, "no batch mixed idle and crowded images"


def test_crowded_overlay_draws_the_offending_target_first() -> None:
    """A 3 000-box image whose target 2 900 lost its rows: that target is in the drawn
    first MAX_OVERLAY_TARGETS, and the render still comes out."""
    problem = Problem.preset("yolov5-p5", batch_size=1)
    t = pool(problem, 3_000, idle=0, crowded=1, weight=10, piled=0.0, seed=1)
    expected = assign(problem, t)
    lost = 2_900
    kept = expected.select(expected.target != lost)
    d = diff(expected, kept)
    assert len(d.missing) > 0 and not len(d.extra)
    mine = np.arange(len(t))
    order = _offending_first(
        problem,
        t.numpy().astype(np.float64),
        mine,
        0,
        {},
        {},
        (Table.of(d.extra), Table.of(d.missing)),
    )
    assert sorted(order.tolist()) == mine.tolist()
    assert lost in order[:MAX_OVERLAY_TARGETS].tolist() and order[0] == lost
    png = render_assignment(problem, t, kept, diff=d)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
