"""Hypothesis profiles for the contract: ``dev``, ``ci`` and ``thorough``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

# dev and ci spend their examples on generating edge cases; the target phase, which spends
# up to half of them climbing toward one case with many edge kinds, is for thorough runs.
_NO_TARGET = tuple(p for p in Phase if p is not Phase.target)

PROFILES: dict[str, settings] = {
    # a quick look while editing loss code
    "dev": settings(
        max_examples=60,
        phases=_NO_TARGET,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    ),
    # replaces Hypothesis' own "ci" profile, which it loads whenever CI is set: the same
    # examples every run, no database, no deadline, and the blob to reproduce a failure
    "ci": settings(
        max_examples=150,
        phases=_NO_TARGET,
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    ),
    # nightly: many examples
    "thorough": settings(
        max_examples=3000,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    ),
}


def register_profiles() -> None:
    for name, profile in PROFILES.items():
        settings.register_profile(name, profile)


def default_profile() -> str:
    """``ci`` when the CI variable is set (as CI services do), else ``dev``."""
    return "ci" if os.environ.get("CI") else "dev"
