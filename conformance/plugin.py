"""The ``conformance`` pytest plugin (registered once, through the ``pytest11`` entry point).

Thin on purpose: markers, the ``--backend`` option, the report header, and the default fixtures. The
logic lives in :mod:`conformance.backends`, :mod:`conformance.harness`, :mod:`conformance.fakes` and
:mod:`conformance.mocks`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import TYPE_CHECKING, Any

import pytest

from conformance.backends import REGISTRY, BackendUnderTest, binary_backend, register_backend, sdk_backend
from conformance.capabilities import Capability
from conformance.fakes import FakeProvider, FakeSupermemory, LoopbackServer

if TYPE_CHECKING:
    from conformance.harness import LiteLLMProxyUnderTest, ProxyUnderTest

# conformance.harness (and through it the proxy package) is imported inside the fixtures: this module is
# loaded at pytest startup, before coverage starts measuring the proxy's modules.

MARKERS = {
    "parity": "a conformance rule every backend must pass; runs once per registered backend",
    "e2e": "end to end through real processes and servers on loopback",
    "real_api": "calls real provider APIs; needs their API keys and network, skipped otherwise",
    "slow": "takes more than a few seconds",
    "requires(*capabilities)": "skip on a backend that lacks one of these conformance.Capability values",
}

# Variables that would let a developer's environment leak into a test (keys, endpoints, proxies).
_LEAKY_PREFIXES = ("OPENAI_", "ANTHROPIC_", "SUPERMEMORY_", "MEMORY_PROXY_", "AZURE_", "LITELLM_MASTER_KEY")
_LEAKY_NAMES = (
    *("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"),
    *("DISABLE_AIOHTTP_TRANSPORT", "USE_AIOHTTP_TRANSPORT"),  # change how the LiteLLM child streams
)

# What pytest_configure removed from the environment: restored at the end of the run, and available to
# tests that need real keys (``real_api``) through ``developer_environment(config)``.
_REMOVED_ENVIRONMENT = pytest.StashKey[dict[str, str]]()
_SCRATCH_HOME = pytest.StashKey[tuple[str, dict[str, str | None]]]()
_XDG_NAMES = ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")

register_backend(sdk_backend)
register_backend(binary_backend)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance")
    group.addoption(
        "--backend",
        action="append",
        default=[],
        metavar="NAME",
        help="run the backend-parametrized tests only for this backend (repeatable); default: all registered",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    # Before collection imports anything: litellm must not fetch its cost map, and no developer key,
    # endpoint or proxy setting may reach module-level code or session fixtures either.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    config.stash[_REMOVED_ENVIRONMENT] = {name: os.environ.pop(name) for name in _leaky_names()}
    # The user's data and config folders (the local memory store, the port registry) are not the tests'.
    scratch = tempfile.mkdtemp(prefix="conformance-home-")
    config.stash[_SCRATCH_HOME] = (scratch, {name: os.environ.get(name) for name in _XDG_NAMES})
    for name in _XDG_NAMES:
        os.environ[name] = os.path.join(scratch, name.lower())


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.update(developer_environment(config))  # leave the environment as the run found it
    scratch, previous = config.stash.get(_SCRATCH_HOME, (None, {}))
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)


def developer_environment(config: pytest.Config) -> dict[str, str]:
    """The keys and settings the run removed from the environment (for ``real_api`` tests)."""
    return dict(config.stash.get(_REMOVED_ENVIRONMENT, {}))


def _leaky_names() -> list[str]:
    return [name for name in os.environ if name.startswith(_LEAKY_PREFIXES) or name in _LEAKY_NAMES]


def _selected_backends(config: pytest.Config) -> list[BackendUnderTest]:
    """The backends ``--backend`` names (all registered ones by default); unknown names are left out
    here and reported by :func:`pytest_collection_finish`, once every conftest has registered its own."""
    wanted: list[str] = config.getoption("--backend")
    if not wanted:
        return list(REGISTRY.values())
    return [REGISTRY[name] for name in wanted if name in REGISTRY]


def pytest_collection_finish(session: pytest.Session) -> None:
    unknown = [name for name in session.config.getoption("--backend") if name not in REGISTRY]
    if unknown:
        raise pytest.UsageError(
            f"--backend {', '.join(unknown)}: no such conformance backend; "
            f"registered: {', '.join(REGISTRY) or 'none'}"
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = ["conformance backends (capabilities):"]
    for backend in _selected_backends(config):
        caps = ", ".join(sorted(cap.value for cap in backend.capabilities)) or "none"
        lines.append(f"  {backend.name}: {caps}")
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    if not REGISTRY:
        raise pytest.UsageError(
            "no conformance backend is registered: call conformance.backends.register_backend(...) "
            "in your conftest.py"
        )
    backends = _selected_backends(metafunc.config)
    if backends:  # none selected means an unknown --backend name: pytest_collection_finish reports it
        metafunc.parametrize("backend", backends, ids=[b.name for b in backends], scope="session")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer key, endpoint or proxy setting reaches a test, even one an earlier test set."""
    for name in _leaky_names():
        monkeypatch.delenv(name)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(autouse=True)
def _enforce_required_capabilities(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("requires")
    if marker is None:
        return
    if "backend" not in request.fixturenames:
        raise pytest.UsageError(
            f"{request.node.nodeid}: @requires needs the test to use the 'backend' fixture"
        )
    backend: BackendUnderTest = request.getfixturevalue("backend")
    for capability in marker.args:
        if not backend.has(Capability(capability)):
            pytest.skip(f"{backend.name}: missing capability {Capability(capability).value}")


@pytest.fixture(scope="session")
def fake_provider_server() -> Iterator[tuple[FakeProvider, str]]:
    """One fake provider on loopback per test session (per xdist worker)."""
    provider = FakeProvider()
    with LoopbackServer(provider.app) as server:
        yield provider, server.url


@pytest.fixture
def fake_provider(fake_provider_server: tuple[FakeProvider, str]) -> FakeProvider:
    """The session's fake provider, its records and challenge state reset for this test."""
    provider, _ = fake_provider_server
    provider.reset()
    return provider


@pytest.fixture
def fake_provider_url(fake_provider_server: tuple[FakeProvider, str]) -> str:
    return fake_provider_server[1]


@pytest.fixture(scope="session")
def unreachable_url() -> Iterator[str]:
    from conformance.harness import closed_port_url

    with closed_port_url() as url:
        yield url


@pytest.fixture(scope="session")
def fake_supermemory_server() -> Iterator[tuple[FakeSupermemory, str]]:
    """One fake Supermemory (memory API and Memory Router) on loopback per test session."""
    supermemory = FakeSupermemory()
    with LoopbackServer(supermemory.app) as server:
        yield supermemory, server.url


@pytest.fixture
def fake_supermemory(fake_supermemory_server: tuple[FakeSupermemory, str]) -> FakeSupermemory:
    """The session's fake Supermemory, emptied, with no fault or delay, for this test."""
    supermemory, _ = fake_supermemory_server
    supermemory.reset()
    return supermemory


@pytest.fixture
def fake_supermemory_url(fake_supermemory_server: tuple[FakeSupermemory, str]) -> str:
    return fake_supermemory_server[1]


@pytest.fixture
def open_proxy(
    request: pytest.FixtureRequest,
    backend: BackendUnderTest,
    fake_provider: FakeProvider,
    fake_provider_url: str,
    unreachable_url: str,
    fake_supermemory_url: str,
) -> Callable[..., AbstractContextManager[ProxyUnderTest]]:
    """Factory of context managers: ``with open_proxy(**overrides) as proxy:`` serves ``backend`` until
    the block ends (the app's shutdown, with its flush of pending memory writes, runs at the exit)."""
    from conformance.harness import conformance_config, deep_merge, serve_proxy

    backend_overrides = request.getfixturevalue(backend.config_fixture) if backend.config_fixture else {}

    def open_one(**overrides: Any) -> AbstractContextManager[ProxyUnderTest]:
        config = conformance_config(
            fake_provider_url,
            unreachable_url,
            supermemory_url=fake_supermemory_url,
            **deep_merge(backend_overrides, overrides),
        )
        return serve_proxy(backend, config, fake_provider)

    return open_one


@pytest.fixture
def make_proxy(
    open_proxy: Callable[..., AbstractContextManager[ProxyUnderTest]],
) -> Iterator[Callable[..., ProxyUnderTest]]:
    """Factory: ``make_proxy(memory_proxy={"auth_key": ...})`` serves ``backend`` until the test ends."""
    with ExitStack() as stack:
        yield lambda **overrides: stack.enter_context(open_proxy(**overrides))


@pytest.fixture(scope="session")
def litellm_proxy(
    fake_provider_server: tuple[FakeProvider, str],
    fake_supermemory_server: tuple[FakeSupermemory, str],
    unreachable_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiteLLMProxyUnderTest]:
    """One real LiteLLM proxy process per test session (per xdist worker), on the conformance config."""
    from conformance.harness import conformance_raw_config, litellm_proxy_process

    raw = conformance_raw_config(fake_provider_server[1], unreachable_url, fake_supermemory_server[1])
    # The LiteLLM proxy's cooldowns would turn every fault after the first few into 429s.
    raw["router_settings"] = {**raw.get("router_settings", {}), "disable_cooldowns": True}
    with litellm_proxy_process(raw, tmp_path_factory.mktemp("litellm")) as process:
        yield process


@pytest.fixture(scope="session")
def litellm_proxy_config(litellm_proxy: LiteLLMProxyUnderTest) -> dict[str, Any]:
    """Config overrides that point the binary backend at the session's LiteLLM proxy."""
    return litellm_proxy.config_overrides()


@pytest.fixture
def proxy(make_proxy: Callable[..., ProxyUnderTest]) -> ProxyUnderTest:
    """The backend under test, served with the conformance config."""
    return make_proxy()


@pytest.fixture
async def mock_litellm_session(fake_provider: FakeProvider) -> AsyncIterator[Any]:
    """A started SessionManager whose real ``httpx.AsyncClient`` reaches the fake provider in process."""
    from conformance.mocks import mock_session_manager

    manager = mock_session_manager(fake_provider)
    await manager.start()
    try:
        yield manager
    finally:
        await manager.close()


@pytest.fixture
def mock_streaming_response() -> Callable[..., Any]:
    """Factory: ``await mock_streaming_response(["Hello", " World"])`` → a real CustomStreamWrapper."""
    from conformance.mocks import streaming_response

    return streaming_response


@pytest.fixture
def mock_litellm_completion(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``litellm.acompletion`` replaced by an AsyncMock answering a real ModelResponse (or stream).

    The Router still runs (model lookup, retries); only the provider call is replaced. Set
    ``.reply`` to change the text; ``await_args`` shows what LiteLLM would have sent.
    """
    from unittest.mock import AsyncMock

    from conformance.mocks import _litellm, model_response, streaming_response

    litellm = _litellm()

    async def answer(**kwargs: Any) -> Any:
        if kwargs.get("stream"):
            return await streaming_response(mock.reply.split(" "))
        return model_response(mock.reply, model=kwargs.get("model", "mock-model"))

    mock = AsyncMock(side_effect=answer)
    mock.reply = "mocked answer"
    monkeypatch.setattr(litellm, "acompletion", mock)
    return mock
