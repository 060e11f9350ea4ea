"""This suite's own Hypothesis tests use the contract's profile: ci under CI, else dev."""

import sys

from hypothesis import settings

from yolo_diagnostics.profiles import default_profile, register_profiles

register_profiles()
settings.load_profile(default_profile())


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print the mutation score table when the catalog ran: each mutant's killer, the
    examples it took, the target rows of the shrunk case and the seconds."""
    catalog = sys.modules.get("test_mutation_catalog")
    if catalog is None or not catalog.SCORES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("mutation score (ci profile)")
    write(f"{'mutant':<26} {'killed by':<32} {'examples':>8} {'rows':>6} {'seconds':>8}")
    for name, prop, check_id, needed, rows, seconds in sorted(catalog.SCORES):
        killer = f"{prop} / {check_id}"
        write(f"{name:<26} {killer:<32} {needed:>8d} {rows:>6d} {seconds:>8.1f}")
    write(f"{len(catalog.SCORES)} mutants killed")
