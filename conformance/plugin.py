"""The ``conformance`` pytest plugin (registered once, through the ``pytest11`` entry point).

Thin on purpose: markers, the ``--backend`` option, the report header, the default fixtures, capabilities
and known divergences applied to each backend's run of a test, and a failing test's exchanges with the
proxy added to its report. It registers no backend (a project registers its own in its ``conftest.py``,
see :mod:`conformance.backends`) and changes nothing outside the tests that use ``backend``: those run
without the developer's keys, endpoints and proxy settings, and with scratch XDG folders.
The logic lives in :mod:`conformance.backends`, :mod:`conformance.harness`, :mod:`conformance.fakes`,
:mod:`conformance.explain` and :mod:`conformance.mocks`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import TYPE_CHECKING, Any

import pytest

from conformance.backends import REGISTRY, BackendUnderTest
from conformance.explain import ExchangeLog
from conformance.fakes import FakeProvider, FakeSupermemory, LoopbackServer

if TYPE_CHECKING:
    from pathlib import Path

    from conformance.harness import LiteLLMProxyUnderTest, ProxyUnderTest

# conformance.harness (and through it the proxy package) is imported inside the fixtures: this module is
# loaded at pytest startup, before coverage starts measuring the proxy's modules.

__all__ = ["LEAKY_NAMES", "LEAKY_PREFIXES", "MARKERS", "TEST_SETTINGS_PREFIX", "leaky_environment"]

MARKERS = {
    "parity": "a conformance rule every backend must pass; runs once per registered backend",
    "e2e": "end to end through real processes and servers on loopback",
    "real_api": "calls real provider APIs; needs their API keys and network, skipped otherwise",
    "slow": "takes more than a few seconds",
    "stack": "starts a whole stack of processes; not in `all`, in its own mode (`./RUN_TESTS.sh stacks`)",
    "fault": "durability under real faults: killed processes, a full disk, a database down",
    "requires(*capabilities)": "skip on a backend that lacks one of these capabilities (strings)",
}

# Variables that would let a developer's environment leak into a test (keys, endpoints, proxies).
LEAKY_PREFIXES = ("OPENAI_", "ANTHROPIC_", "SUPERMEMORY_", "MEMORY_PROXY_", "AZURE_", "LITELLM_MASTER_KEY")
LEAKY_NAMES = (
    *("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"),
    *("DISABLE_AIOHTTP_TRANSPORT", "USE_AIOHTTP_TRANSPORT"),  # change how a LiteLLM child streams
)
_XDG_NAMES = ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")
_EXCHANGES = pytest.StashKey[ExchangeLog]()
_POSTGRES_DSN = pytest.StashKey[str | None]()


TEST_SETTINGS_PREFIX = "MEMORY_PROXY_TEST_"
"""Settings meant for the tests themselves (``MEMORY_PROXY_TEST_POSTGRES_DSN``, ``..._CHROMIUM``): kept."""


def leaky_environment() -> list[str]:
    """The names in ``os.environ`` a kit test must not see (a developer's keys, endpoints and proxies)."""
    return [
        name
        for name in os.environ
        if (name.startswith(LEAKY_PREFIXES) or name in LEAKY_NAMES)
        and not name.startswith(TEST_SETTINGS_PREFIX)
    ]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance")
    group.addoption(
        "--backend",
        action="append",
        default=[],
        metavar="NAME",
        help="run the backend-parametrized tests only for this backend (repeatable); default: all registered",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    # Read before a project's own configure takes MEMORY_PROXY_* out of the environment.
    from conformance.postgres import DSN_VARIABLE

    config.stash[_POSTGRES_DSN] = os.environ.get(DSN_VARIABLE)


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
    if not REGISTRY:
        return []
    lines = ["conformance backends (capabilities):"]
    for backend in _selected_backends(config):
        lines.append(f"  {backend.name}: {', '.join(sorted(backend.capabilities)) or 'none'}")
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A backend's known divergence from a test makes that run a strict xfail expecting its exception."""
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("backend")
        if not isinstance(backend, BackendUnderTest) or not isinstance(item, pytest.Function):
            continue
        suite = (
            next((cls.__name__ for cls in type.mro(item.cls) if cls.__name__.endswith("Suite")), None)
            if item.cls
            else None
        )
        divergence = backend.divergence(suite, item.originalname)
        if divergence is not None:
            item.add_marker(
                pytest.mark.xfail(
                    strict=True, raises=divergence.raises, reason=f"{backend.name}: {divergence.reason}"
                )
            )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    exchanges = item.stash.get(_EXCHANGES, None)
    if report.failed and exchanges is not None:
        report.sections.append(("what the proxy was sent and answered", exchanges.render()))
    return report


@pytest.fixture(autouse=True)
def _isolated_environment(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A kit test (one using ``backend``) sees no developer key, endpoint or proxy setting, and keeps its
    data and config out of the user's folders. Other tests of the run are left alone."""
    if "backend" not in request.fixturenames:
        return
    for name in leaky_environment():
        monkeypatch.delenv(name)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    home = tmp_path_factory.getbasetemp() / "conformance-home"
    for name in _XDG_NAMES:
        monkeypatch.setenv(name, str(home / name.lower()))


@pytest.fixture(autouse=True)
def _enforce_required_capabilities(request: pytest.FixtureRequest) -> None:
    marks = list(request.node.iter_markers("requires"))
    if not marks:
        return
    if "backend" not in request.fixturenames:
        raise pytest.UsageError(
            f"{request.node.nodeid}: @requires needs the test to use the 'backend' fixture"
        )
    backend: BackendUnderTest = request.getfixturevalue("backend")
    required = dict.fromkeys(str(capability) for mark in reversed(marks) for capability in mark.args)
    missing = [capability for capability in required if not backend.has(capability)]
    if missing:
        noun = "capability" if len(missing) == 1 else "capabilities"
        pytest.skip(f"{backend.name}: missing {noun} {', '.join(missing)}")


@pytest.fixture
def conformance_exchanges(request: pytest.FixtureRequest) -> ExchangeLog:
    """This test's exchanges with the proxy, shown in its report if it fails."""
    log = request.node.stash.get(_EXCHANGES, None)
    if log is None:
        log = request.node.stash[_EXCHANGES] = ExchangeLog()
    return log


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


@pytest.fixture(scope="session")
def postgres_server(pytestconfig: pytest.Config) -> Iterator[str]:
    """A PostgreSQL server with pgvector for the session (per xdist worker), as a DSN: see
    :mod:`conformance.postgres`; tests that use it skip, saying why, when there is none."""
    from conformance.postgres import postgres_server

    with postgres_server(pytestconfig.stash.get(_POSTGRES_DSN, None)) as dsn:
        yield dsn


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A new empty database on the session's server for this test, as a DSN."""
    from conformance.postgres import fresh_database

    with fresh_database(postgres_server) as dsn:
        yield dsn


@pytest.fixture
def open_proxy(
    request: pytest.FixtureRequest,
    backend: BackendUnderTest,
    fake_provider: FakeProvider,
    fake_provider_url: str,
    unreachable_url: str,
    fake_supermemory_url: str,
    conformance_exchanges: ExchangeLog,
    tmp_path: Path,
) -> Callable[..., AbstractContextManager[ProxyUnderTest]]:
    """Factory of context managers: ``with open_proxy(**overrides) as proxy:`` serves ``backend`` until
    the block ends (the app's shutdown, with its flush of pending memory writes, runs at the exit).

    The proxies of one test share a memory journal folder of that test (a restart claims what the last
    one left), never another test's: the fake Supermemory keeps its URL for the whole session, and a
    journal is found by its store's URL."""
    from conformance.harness import conformance_raw_config, deep_merge, serve_proxy

    backend_overrides = request.getfixturevalue(backend.config_fixture) if backend.config_fixture else {}
    journal = {"context_retrieval": {"journal_dir": str(tmp_path / "memory-journal")}}

    def open_one(**overrides: Any) -> AbstractContextManager[ProxyUnderTest]:
        raw = conformance_raw_config(fake_provider_url, unreachable_url, fake_supermemory_url)
        raw = deep_merge(raw, journal)
        config = deep_merge(raw, deep_merge(backend_overrides, overrides))
        return serve_proxy(backend, config, fake_provider, conformance_exchanges)

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
