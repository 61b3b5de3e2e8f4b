"""What a test does when a real tool it needs (a client CLI, a browser, a database server) is missing.

On a developer's machine it skips, saying what is missing and how to get it. Under CI (``CI`` set to a
true value, as CI services do) it fails instead: the runner is meant to have installed every tool, so a
green run proves the real-tool tests ran rather than skipped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NoReturn

import pytest

__all__ = ["in_ci", "missing_tool"]


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``CI`` says this is a CI run (``true``, ``1``, ``yes``; case-insensitive)."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in {"1", "true", "yes"}


def missing_tool(reason: str) -> NoReturn:
    """Skip the test for ``reason`` (a missing tool, and how to install it); under CI, fail it."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing tool fails the run instead of skipping)", pytrace=False)
    pytest.skip(reason)
