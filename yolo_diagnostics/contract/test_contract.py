"""The contract, as tests: ``pytest --pyargs yolo_diagnostics.contract [--assigner M:F]``.

Each test runs one property with Hypothesis on every requested ``--device``. Quirk findings
are reported as warnings and fail only under ``--strict``; a property that cannot apply
(no second device requested, no reference) is skipped with the reason.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from yolo_diagnostics.contract.properties import PROPERTIES, ContractOptions, check_golden
from yolo_diagnostics.contract.runner import run_property


def _run(
    name: str, options: ContractOptions, device: str, profile: settings, node: pytest.Item
) -> None:
    def note(statistics: str) -> None:
        node.hypothesis_statistics = statistics  # type: ignore[attr-defined]  # Hypothesis' key

    outcome = run_property(
        PROPERTIES[name], options, device, profile, raise_failure=True, statistics=note
    )
    if outcome.status == "skipped":
        pytest.skip(f"{name}: {outcome.reason}")


def test_invariants(contract_options, contract_profile, device, request) -> None:
    """Every single-call invariant (shapes ... coverage) holds on edge-biased box sets."""
    _run("invariants", contract_options, device, contract_profile, request.node)


def test_reference(contract_options, contract_profile, device, request) -> None:
    """The output equals the reference's (--reference-semantics) as a multiset."""
    _run("reference", contract_options, device, contract_profile, request.node)


def test_scale(contract_options, contract_profile, device, request) -> None:
    """Every single-call invariant and the reference hold on a few batches of up to 10 000
    targets, 64 images, 1 203 classes and 2 048 px, crowded and idle images mixed."""
    _run("scale", contract_options, device, contract_profile, request.node)


def test_permutation(contract_options, contract_profile, device, request) -> None:
    """Permuting the target rows leaves the assignment's multiset unchanged."""
    _run("permutation", contract_options, device, contract_profile, request.node)


def test_batch_independence(contract_options, contract_profile, device, request) -> None:
    """Other images' targets do not change an image's rows."""
    _run("batch", contract_options, device, contract_profile, request.node)


def test_translation(contract_options, contract_profile, device, request) -> None:
    """A shift by one coarsest-stride cell shifts every assigned cell."""
    _run("translation", contract_options, device, contract_profile, request.node)


def test_flip(contract_options, contract_profile, device, request) -> None:
    """Mirrored input, mirrored assignment (ties at integer grid coordinates aside)."""
    _run("flip", contract_options, device, contract_profile, request.node)


def test_float64_inputs(contract_options, contract_profile, device, request) -> None:
    """float64 copies of float32 targets give the same assignment."""
    _run("dtype", contract_options, device, contract_profile, request.node)


def test_devices_agree(contract_options, contract_profile, device, request) -> None:
    """Each requested non-CPU device agrees with the CPU."""
    _run("device", contract_options, device, contract_profile, request.node)


def test_golden(contract_options, contract_golden, device) -> None:
    """The assignment of every case of the --golden snapshot is unchanged."""
    if contract_golden is None:
        pytest.skip("golden: no snapshot given; record one with yolo-diagnostics snapshot")
    check_golden(contract_options, device, contract_golden)
