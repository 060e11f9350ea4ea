"""Hypothesis profiles for the contract: ``dev``, ``ci`` and ``thorough``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, Phase, configuration, settings

from .files import user_cache

# dev and ci spend their examples on generating edge cases; the target phase, which spends
# up to half of them climbing toward one case with many edge kinds, is for thorough runs.
_NO_TARGET = tuple(p for p in Phase if p is not Phase.target)

# every profile: no deadline (assigners vary in speed), no example database written into the
# user's tree, and the @reproduce_failure blob printed with a failure
_BASE = settings(
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)

PROFILES: dict[str, settings] = {
    # a quick look while editing loss code
    "dev": settings(_BASE, max_examples=60, phases=_NO_TARGET),
    # replaces Hypothesis' own "ci" profile, which it loads whenever CI is set: the same
    # examples every run
    "ci": settings(_BASE, max_examples=150, phases=_NO_TARGET, derandomize=True),
    # nightly: many examples, with the target phase
    "thorough": settings(_BASE, max_examples=3000),
}


def register_profiles() -> None:
    for name, profile in PROFILES.items():
        settings.register_profile(name, profile)


def default_profile() -> str:
    """``ci`` when the CI variable is set (as CI services do), else ``dev``."""
    return "ci" if os.environ.get("CI") else "dev"


@contextmanager
def storage_in_the_user_cache() -> Iterator[None]:
    """While the contract runs, Hypothesis' storage folder is this user's cache
    (`files.user_cache` ``hypothesis``), not ``.hypothesis/`` in the folder pytest or a
    command runs from: with no example database Hypothesis still caches the constants it
    finds in local modules there (``.hypothesis/constants/``), in the user's repository.

    A folder the user chose (``HYPOTHESIS_STORAGE_DIRECTORY``, ``set_hypothesis_home_dir``)
    is left alone; the previous setting is restored afterwards.
    """
    state = vars(configuration)
    chosen = state.get("__hypothesis_home_directory")
    default = state.get("__hypothesis_home_directory_default")
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") or chosen not in (None, default):
        yield
        return
    configuration.set_hypothesis_home_dir(user_cache("hypothesis"))
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(chosen)
