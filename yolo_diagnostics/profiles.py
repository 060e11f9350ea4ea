"""Hypothesis profiles for the contract: ``dev``, ``ci`` and ``thorough``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILES: dict[str, settings] = {
    # a quick look while editing loss code
    "dev": settings(
        max_examples=60,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    ),
    # replaces Hypothesis' own "ci" profile, which it loads whenever CI is set: the same
    # examples every run, no database, no deadline, and the blob to reproduce a failure
    "ci": settings(
        max_examples=150,
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
