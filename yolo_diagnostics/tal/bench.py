"""Time and peak memory of the reference TAL against ultralytics' own assigner.

    python -m yolo_diagnostics.tal.bench --device cpu --gts 10 50 300

Batch 16 at 640 x 640 (8400 anchor points), 80 classes, ``n`` real GT rows per image
(``corpus.make_batch``, kind ``random``), float32. Each implementation and ``n`` runs in a
fresh process, so neither inherits the other's allocator state. Time: the median of
``--repeats`` calls after one warm-up. Peak memory: on CUDA ``max_memory_allocated`` above
the inputs; on the CPU the rise of the process's peak resident set (``VmHWM``, reset
through ``/proc/self/clear_refs`` before the call) above its resident set before it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from .corpus import make_batch
from .problem import TalProblem

IMPLEMENTATIONS = ("ultralytics", "reference", "reference-strict", "reference-provenance")


def measure(impl: str, n: int, device: str, repeats: int, batch_size: int) -> dict[str, float]:
    """Seconds (median) and peak bytes of one implementation on one batch."""
    problem = TalProblem.preset("ultralytics", batch_size=batch_size)
    batch = make_batch(problem, seed=0, kind="random", n=n, padding="none", device=device)
    run = _implementation(impl, problem, device)
    run(batch)  # warm-up: kernels, caches, lazy imports
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        run(batch)
        _sync(device)
        times.append(time.perf_counter() - start)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run(batch)
        peak = torch.cuda.max_memory_allocated() - before
    else:
        before = _status("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        run(batch)
        peak = _status("VmHWM") - before
    return {"seconds": statistics.median(times), "peak_bytes": float(peak)}


def _implementation(impl: str, problem: TalProblem, device: str):  # noqa: ANN202
    if impl == "ultralytics":
        from ..adapters.ultralytics import make_assigner as theirs

        assigner = theirs(problem, device)
        return lambda batch: assigner(*batch)
    if impl == "reference-provenance":
        from .reference import assign

        return lambda b: assign(problem, *b[:2], *b[3:], anc_points=b.anc_points)
    from .reference import make_assigner

    ours = make_assigner(
        problem, device, semantics="strict" if impl.endswith("strict") else "ultralytics"
    )
    return lambda batch: ours(*batch)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _status(field: str) -> int:
    """A ``/proc/self/status`` size in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--gts", type=int, nargs="+", default=[10, 50, 300])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--impl", nargs="+", default=list(IMPLEMENTATIONS))
    parser.add_argument("--one", action="store_true", help="measure in this process (internal)")
    args = parser.parse_args(argv)
    if args.one:
        result = measure(args.impl[0], args.gts[0], args.device, args.repeats, args.batch_size)
        print(json.dumps(result))
        return
    print(f"device {args.device}, batch {args.batch_size}, 640 x 640, 80 classes, float32")
    print(f"{'GTs':>5} {'implementation':<22} {'seconds':>9} {'peak MiB':>9}")
    for n in args.gts:
        for impl in args.impl:
            command = [sys.executable, "-m", __spec__.name, "--one", "--impl", impl]  # type: ignore[union-attr]
            command += ["--gts", str(n), "--device", args.device, "--repeats", str(args.repeats)]
            command += ["--batch-size", str(args.batch_size)]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"{n:>5} {impl:<22} {r['seconds']:>9.3f} {r['peak_bytes'] / 2**20:>9.1f}")


if __name__ == "__main__":
    main()
