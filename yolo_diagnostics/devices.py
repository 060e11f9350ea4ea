"""Device names from the command line: canonical, deduplicated, and really available."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .errors import DiagnosticsError

_HINT = "use cpu, cuda or cuda:N"


def resolve_devices(requested: Iterable[str], option: str = "--device") -> tuple[str, ...]:
    """Canonical device strings in the order given, without duplicates.

    Raises ``ValueError`` with one line naming the option and the device when torch does
    not understand it, it is neither the CPU nor CUDA, or this machine cannot provide it.
    """
    chosen: dict[str, torch.device] = {}
    for raw in requested:
        try:
            device = torch.device(raw)
        except RuntimeError:
            raise DiagnosticsError(
                f"{option} {raw}: not a device string torch understands; {_HINT}"
            ) from None
        if device.type != "cuda" and str(device) != "cpu":
            raise DiagnosticsError(f"{option} {raw}: unsupported device; {_HINT}")
        chosen.setdefault(str(device), device)

    for name, device in chosen.items():
        if device.type != "cuda":
            continue
        if not torch.cuda.is_available():
            build = f"CUDA build {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
            raise DiagnosticsError(
                f"{option} {name}: CUDA is not available (torch {torch.__version__}, {build}); "
                f"run without {option} {name} or on a machine with a GPU"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DiagnosticsError(
                f"{option} {name}: no such GPU, torch.cuda.device_count() is {count}"
            )
    return tuple(chosen)
