"""pytest plugin: run device-dependent tests on the devices asked for with ``--device``.

Any test that takes an argument named ``device`` is parametrized over the chosen
devices (``cpu`` unless told otherwise), so one suite covers both the CPU reference
path and the CUDA path of the target assignment. A requested device that this
machine cannot provide ends the session with a usage error rather than a skip:
a GPU run that quietly tested nothing is worse than no run.

torch is imported inside the hooks that need it, never at module level, because
this module is loaded through the ``pytest11`` entry point by every pytest session
in the environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

_DEFAULT_DEVICES = ("cpu",)

_devices_key = pytest.StashKey[tuple[str, ...]]()


def devices(config: pytest.Config) -> tuple[str, ...]:
    """Return the canonical device strings chosen for this session, in the order given.

    Valid once the plugin's ``pytest_configure`` has run; a ``KeyError`` before that
    (or with the plugin disabled) is deliberate, since guessing ``cpu`` would hide it.
    """
    return config.stash[_devices_key]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("yolo-diagnostics")
    group.addoption(
        "--device",
        action="append",
        default=None,
        metavar="DEVICE",
        help=(
            "run tests that take a 'device' argument on DEVICE: cpu, cuda or cuda:N. "
            "Repeat to run on several devices. Default: cpu."
        ),
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Validate ``--device`` before collection so a bad request never runs a test."""
    requested: list[str] | None = config.getoption("device")
    chosen = _DEFAULT_DEVICES if requested is None else _resolve(requested)
    config.stash[_devices_key] = chosen


def _resolve(requested: Iterable[str]) -> tuple[str, ...]:
    from .devices import resolve_devices

    try:
        return resolve_devices(requested)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``device`` over the chosen devices, unless the test does so itself.

    A test that pins its own ``device`` values (say, a CPU-only reference check) keeps
    them; parametrizing it again would make pytest reject the duplicate.
    """
    if "device" not in metafunc.fixturenames or _parametrizes_device(metafunc):
        return
    chosen = devices(metafunc.config)
    metafunc.parametrize("device", chosen, ids=chosen)


def _parametrizes_device(metafunc: pytest.Metafunc) -> bool:
    for mark in metafunc.definition.iter_markers(name="parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if "device" in _split_argnames(argnames):
            return True
    return False


def _split_argnames(argnames: str | Sequence[str]) -> list[str]:
    """Split argnames the way ``pytest.mark.parametrize`` does ("a,b" or ["a", "b"])."""
    if isinstance(argnames, str):
        return [name.strip() for name in argnames.split(",") if name.strip()]
    return list(argnames)


def pytest_report_header(config: pytest.Config) -> str:
    """Say which devices and which torch the run used, so a report can be trusted."""
    import torch

    chosen = devices(config)
    header = f"yolo-diagnostics: devices={','.join(chosen)} torch={torch.__version__}"
    cuda = [name for name in chosen if name.startswith("cuda")]
    if cuda:
        header += f" cuda={torch.version.cuda} gpu={torch.cuda.get_device_name(cuda[0])}"
    return header
