"""This suite's own Hypothesis tests use the contract's profile: ci under CI, else dev."""

import os

import torch
from hypothesis import settings

from yolo_diagnostics.profiles import default_profile, register_profiles

register_profiles()
settings.load_profile(default_profile())

if os.environ.get("PYTEST_XDIST_WORKER"):
    # the README's command runs two workers on two cores: one torch thread each, not two
    # threads each fighting over both cores (the catalogs' scale mutants took 5x longer)
    torch.set_num_threads(1)

# The catalogs record each kill as a user property of the test's report, which pytest-xdist
# carries from its workers: (mutant, property, check, examples needed, shrunk size, seconds).
SCORE = "mutation score"
TAL_SCORE = "TAL mutation score"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print the mutation score table of each catalog that ran: each mutant's killer, the
    examples it took, the size of the shrunk case (target rows; TAL: images x GT rows) and
    the seconds."""
    found: dict[str, list[tuple]] = {SCORE: [], TAL_SCORE: []}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", ()):
                if key in found and getattr(report, "when", "call") == "call":
                    found[key].append(tuple(value))
    write = terminalreporter.write_line
    for key, size_header in ((SCORE, "rows"), (TAL_SCORE, "GT rows")):
        if not found[key]:
            continue
        terminalreporter.section(f"{key} (ci profile)")
        write(f"{'mutant':<26} {'killed by':<32} {'examples':>8} {size_header:>8} {'seconds':>8}")
        for name, prop, check_id, needed, size, seconds in sorted(found[key]):
            killer = f"{prop} / {check_id}"
            write(f"{name:<26} {killer:<32} {needed:>8d} {size!s:>8} {seconds:>8.1f}")
        total = sum(score[-1] for score in found[key])
        write(f"{len(found[key])} mutants killed in {total:.0f} s")
