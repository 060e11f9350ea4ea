"""The TAL contract, as tests: ``pytest --pyargs yolo_diagnostics.tal.contract [--assigner M:F]``.

Each test runs one property with Hypothesis on every requested ``--device``. Quirk findings
(what ultralytics itself does) and info findings are reported as warnings; quirks fail only
under ``--strict``. A property that cannot apply (no second device, no reference) is skipped
with the reason.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from yolo_diagnostics.harness.runner import run_property
from yolo_diagnostics.tal.contract.properties import PROPERTIES, TalContractOptions


def _run(
    name: str, options: TalContractOptions, device: str, profile: settings, node: pytest.Item
) -> None:
    def note(statistics: str) -> None:
        node.hypothesis_statistics = statistics  # type: ignore[attr-defined]  # Hypothesis' key

    outcome = run_property(
        PROPERTIES[name], options, device, profile, raise_failure=True, statistics=note
    )
    if outcome.status == "skipped":
        pytest.skip(f"{name}: {outcome.reason}")


def test_invariants(tal_contract_options, contract_profile, device, request) -> None:
    """Every single-call invariant holds on edge-biased batches."""
    _run("invariants", tal_contract_options, device, contract_profile, request.node)


def test_reference(tal_contract_options, contract_profile, device, request) -> None:
    """The output equals the reference's (--reference-semantics), ties aside."""
    _run("reference", tal_contract_options, device, contract_profile, request.node)


def test_scale(tal_contract_options, contract_profile, device, request) -> None:
    """The invariants and the reference hold on a few batches of 16 to 64 images at 640 to
    1 280 px with up to 300 GTs each."""
    _run("scale", tal_contract_options, device, contract_profile, request.node)


def test_batch_independence(tal_contract_options, contract_profile, device, request) -> None:
    """An image assigned alone gives the batch's outputs for it, bit for bit."""
    _run("batch", tal_contract_options, device, contract_profile, request.node)


def test_gt_permutation(tal_contract_options, contract_profile, device, request) -> None:
    """Permuting the GT rows renumbers the owners and changes nothing else, ties aside."""
    _run("permutation", tal_contract_options, device, contract_profile, request.node)


def test_padding(tal_contract_options, contract_profile, device, request) -> None:
    """Padding rows after the GTs change nothing; inserted between them, a quirk."""
    _run("padding", tal_contract_options, device, contract_profile, request.node)


def test_float16_inputs(tal_contract_options, contract_profile, device, request) -> None:
    """float16 copies of float32 inputs: the decisions they flip, counted (info)."""
    _run("dtype", tal_contract_options, device, contract_profile, request.node)


def test_devices_agree(tal_contract_options, contract_profile, device, request) -> None:
    """Each requested non-CPU device agrees with the CPU, ties aside."""
    _run("device", tal_contract_options, device, contract_profile, request.node)
