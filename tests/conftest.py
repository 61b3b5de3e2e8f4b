"""This repository's test policy: its two backends registered with the conformance kit, and a run that
never touches the developer's keys, endpoints, proxies or data folders.

The kit isolates only its own tests; here every test is isolated, from before collection (module-level
code and session fixtures included) to the end of the run, when the environment is restored.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from conformance.backends import binary_backend, register_backend, sdk_backend
from conformance.plugin import leaky_environment

register_backend(sdk_backend)
register_backend(binary_backend)

_REMOVED = pytest.StashKey[dict[str, str]]()
_SCRATCH_HOME = pytest.StashKey[tuple[str, dict[str, str | None]]]()
_XDG_NAMES = ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")


def pytest_configure(config: pytest.Config) -> None:
    # litellm must not fetch its cost map, and no developer setting may reach any test.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    config.stash[_REMOVED] = {name: os.environ.pop(name) for name in leaky_environment()}
    scratch = tempfile.mkdtemp(prefix="memory-proxy-tests-home-")
    config.stash[_SCRATCH_HOME] = (scratch, {name: os.environ.get(name) for name in _XDG_NAMES})
    for name in _XDG_NAMES:
        os.environ[name] = os.path.join(scratch, name.lower())


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.update(config.stash.get(_REMOVED, {}))  # leave the environment as the run found it
    scratch, previous = config.stash.get(_SCRATCH_HOME, (None, {}))
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def developer_environment(pytestconfig: pytest.Config) -> dict[str, str]:
    """The keys and settings the run removed from the environment (for ``real_api`` tests)."""
    return dict(pytestconfig.stash.get(_REMOVED, {}))
