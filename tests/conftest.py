"""This suite's own Hypothesis tests use the contract's profile: ci under CI, else dev."""

import sys

from hypothesis import settings

from yolo_diagnostics.profiles import default_profile, register_profiles

register_profiles()
settings.load_profile(default_profile())


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print the mutation score table when the catalog ran."""
    catalog = sys.modules.get("test_mutation_catalog")
    if catalog is None or not catalog.SCORES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("mutation score (ci profile)")
    write(f"{'mutant':<26} {'killed by':<32} {'examples':>8} {'seconds':>8}")
    for name, prop, check_id, needed, seconds in sorted(catalog.SCORES):
        write(f"{name:<26} {prop + ' / ' + check_id:<32} {needed:>8d} {seconds:>8.1f}")
    write(f"{len(catalog.SCORES)} mutants killed")
