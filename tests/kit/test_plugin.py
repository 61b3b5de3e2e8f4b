"""The conformance pytest plugin: markers, ``backend`` parametrization, ``requires``, header, fixtures.

Inner runs use ``pytester``. Most run in process (fast); each restores the plugin's module-level backend
registry afterwards, since an inner ``conftest.py`` registers into the same dict. The run that serves a
real proxy (and so imports litellm) runs in a subprocess, so the outer process's modules stay untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from respx.models import AllMockedAssertionError

from conformance.backends import REGISTRY, binary_backend, sdk_backend
from conformance.plugin import MARKERS, leaky_environment
from proxy.session import SessionManager

pytest_plugins = ["pytester"]

# The project's strict settings, for every inner run.
STRICT_CONFIG = """
[tool.pytest.ini_options]
strict_markers = true
xfail_strict = true
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
"""

OUR_BACKENDS_CONFTEST = """
from conformance.backends import binary_backend, register_backend, sdk_backend

register_backend(sdk_backend)
register_backend(binary_backend)
"""

OTHER_BACKEND_CONFTEST = """
from conformance.backends import BackendUnderTest, register_backend


def _never_built(config):
    raise AssertionError("no test here serves a proxy")


register_backend(BackendUnderTest(name="other", build_app=_never_built, capabilities=frozenset()))
"""

BACKEND_TESTS = """
import pytest

from conformance.backends import BackendUnderTest
from conformance.capabilities import Capability


def test_uses_backend(backend):
    assert isinstance(backend, BackendUnderTest)


@pytest.mark.requires(Capability.COOKIE_JAR)
def test_needs_cookie_jar(backend):
    assert backend.has(Capability.COOKIE_JAR)
"""


@pytest.fixture
def kit(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    """A pytester project with the project's strict config and, as a third party's run starts, no backend
    registered; the backend registry is restored afterwards."""
    pytester.makepyprojecttoml(STRICT_CONFIG)
    saved = dict(REGISTRY)
    REGISTRY.clear()
    try:
        yield pytester
    finally:
        REGISTRY.clear()
        REGISTRY.update(saved)


def test_markers_are_registered_and_a_typo_fails(kit: pytest.Pytester) -> None:
    """parity, e2e, real_api, slow and requires are registered; a typo'd marker fails under strict markers."""
    listed = kit.runpytest("--markers")
    listed.stdout.fnmatch_lines([f"@pytest.mark.{name}: {meaning}" for name, meaning in MARKERS.items()])
    assert {"parity", "e2e", "real_api", "slow", "requires(*capabilities)"} <= set(MARKERS)

    kit.makepyfile(
        test_known="""
        import pytest

        @pytest.mark.parity
        @pytest.mark.e2e
        @pytest.mark.real_api
        @pytest.mark.slow
        @pytest.mark.requires("cookie_jar")
        def test_all_markers(backend):
            pass
        """,
        test_typo="""
        import pytest

        @pytest.mark.parityy
        def test_typo():
            pass
        """,
    )
    kit.makeconftest(OUR_BACKENDS_CONFTEST)
    result = kit.runpytest("--continue-on-collection-errors")
    # test_all_markers runs on sdk (passes) and on binary (skipped: it has no cookie_jar).
    result.assert_outcomes(passed=1, skipped=1, errors=1)
    result.stdout.fnmatch_lines(["*'parityy' not found in `markers` configuration option*"])


def test_the_kit_registers_no_backend_of_its_own(kit: pytest.Pytester) -> None:
    """Installed in a third party's venv, the kit runs none of this project's backends: a test using
    ``backend`` with nothing registered is a usage error saying how to register one."""
    kit.makepyfile(BACKEND_TESTS)
    result = kit.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*no conformance backend is registered: call *register_backend*"])


def test_header_lists_each_backends_capabilities(kit: pytest.Pytester) -> None:
    """The report header lists the registered backends with their capabilities, sorted.

    No test here uses ``proxy``, so the binary backend's LiteLLM process is never started.
    """
    kit.makeconftest(OUR_BACKENDS_CONFTEST)
    kit.makepyfile(BACKEND_TESTS)
    result = kit.runpytest("-v", "-rs")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "conformance backends (capabilities):",
            f"  sdk: {', '.join(sorted(sdk_backend.capabilities))}",
            f"  binary: {', '.join(sorted(binary_backend.capabilities))}",
        ]
    )
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] *: binary: missing capability cookie_jar"])


def test_registered_backend_is_parametrized_and_requires_skips_it(kit: pytest.Pytester) -> None:
    """The backend a conftest.py registers is the only one run; ``requires`` skips it, naming the lack."""
    kit.makeconftest(OTHER_BACKEND_CONFTEST)
    kit.makepyfile(BACKEND_TESTS)
    result = kit.runpytest("-v", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "conformance backends (capabilities):",
            "  other: none",
            "*::test_uses_backend[[]other[]] PASSED*",
            "*::test_needs_cookie_jar[[]other[]] SKIPPED*",
            "SKIPPED [[]1[]] *: other: missing capability cookie_jar",
        ]
    )
    result.stdout.no_fnmatch_line("*[[]sdk[]]*")


def test_capabilities_are_an_open_set(kit: pytest.Pytester) -> None:
    """A capability the kit has never heard of works like its own: declared by a backend, required by a
    test, skipped with its name where missing."""
    kit.makeconftest(
        """
        from conformance.backends import BackendUnderTest, register_backend

        def _never_built(config):
            raise AssertionError("no test here serves a proxy")

        register_backend(BackendUnderTest("cached", build_app=_never_built, capabilities={"semantic_cache"}))
        register_backend(BackendUnderTest("plain", build_app=_never_built))
        """
    )
    kit.makepyfile(
        """
        import pytest

        @pytest.mark.requires("semantic_cache")
        def test_cache(backend):
            assert backend.has("semantic_cache")
        """
    )
    result = kit.runpytest("-v", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] *: plain: missing capability semantic_cache"])


def test_a_known_divergence_is_a_strict_xfail_of_its_exception(kit: pytest.Pytester) -> None:
    """A backend's declared divergence makes that test an xfail that must raise the named exception; when
    the divergence is fixed (the test passes) the run goes red."""
    kit.makeconftest(
        """
        from conformance.backends import BackendUnderTest, Divergence, register_backend

        def _never_built(config):
            raise AssertionError("no test here serves a proxy")

        register_backend(
            BackendUnderTest(
                "lossy",
                build_app=_never_built,
                divergences={
                    "LossySuite::test_keeps_the_header": Divergence("drops it", raises=KeyError),
                    "test_fixed_since": Divergence("was broken", raises=KeyError),
                },
            )
        )
        """
    )
    kit.makepyfile(
        """
        class LossySuite:
            def test_keeps_the_header(self, backend):
                {}["retry-after"]

        class TestLossy(LossySuite):
            pass

        def test_fixed_since(backend):
            pass
        """
    )
    result = kit.runpytest("-rxXf")
    result.assert_outcomes(xfailed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*[[]XPASS(strict)[]] lossy: was broken",
            "XFAIL *test_keeps_the_header[[]lossy[]] - lossy: drops it",
        ]
    )


def test_backend_option_selects_one_backend(kit: pytest.Pytester) -> None:
    """``--backend other`` runs only that backend, and the header shows only it."""
    kit.makeconftest(OUR_BACKENDS_CONFTEST + OTHER_BACKEND_CONFTEST)
    kit.makepyfile(BACKEND_TESTS)
    result = kit.runpytest("-v", "-rs", "--backend", "other")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "conformance backends (capabilities):",
            "  other: none",
            "*::test_uses_backend[[]other[]] PASSED*",
            "*::test_needs_cookie_jar[[]other[]] SKIPPED*",
        ]
    )
    for name in ("sdk", "binary"):
        result.stdout.no_fnmatch_line(f"*[[]{name}[]]*")
        result.stdout.no_fnmatch_line(f"  {name}: *")


def test_unknown_backend_is_a_usage_error(kit: pytest.Pytester) -> None:
    """``--backend nope`` stops the run with a usage error naming the registered backends, in order.

    The error comes after collection, once the conftest.py has registered ``other`` too.
    """
    kit.makeconftest(OUR_BACKENDS_CONFTEST + OTHER_BACKEND_CONFTEST)
    kit.makepyfile(BACKEND_TESTS)
    result = kit.runpytest("--backend", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --backend nope: no such conformance backend; registered: sdk, binary, other"]
    )


def test_unknown_backend_is_a_usage_error_when_quiet(kit: pytest.Pytester) -> None:
    """``--backend nope`` is a usage error under ``-q`` too, even when no test uses ``backend``."""
    kit.makepyfile("def test_plain():\n    pass\n")
    result = kit.runpytest("-q", "--backend", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_requires_without_backend_is_an_error(kit: pytest.Pytester) -> None:
    """``@requires`` on a test that does not use ``backend`` errors, saying it needs the fixture."""
    kit.makepyfile(
        """
        import pytest

        from conformance.capabilities import Capability

        @pytest.mark.requires(Capability.COOKIE_JAR)
        def test_no_backend():
            pass
        """
    )
    result = kit.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_no_backend: @requires needs the test to use the 'backend' fixture*"])


def test_environment_is_isolated_for_the_kits_tests_only(
    kit: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys, proxy endpoints and proxy settings never reach a test that uses ``backend``, and litellm's cost
    map is local-only there; a project's other tests see their environment as it is."""
    leaky = {
        "OPENAI_API_KEY": "sk-dev-openai",
        "ANTHROPIC_API_KEY": "sk-ant-dev",
        "SUPERMEMORY_API_KEY": "sm-dev",
        "MEMORY_PROXY_AUTH_KEY": "dev-proxy-key",
        "AZURE_API_KEY": "azure-dev",
        "LITELLM_MASTER_KEY": "sk-master",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
    }
    for name, value in leaky.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "False")
    monkeypatch.setenv("CONFORMANCE_KIT_UNRELATED", "kept")
    kit.makeconftest(OTHER_BACKEND_CONFTEST)
    kit.makepyfile(
        f"""
        import os

        def test_sees_no_developer_settings(backend):
            leaked = sorted(name for name in {sorted(leaky)!r} if name in os.environ)
            assert leaked == []
            assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
            assert os.environ["CONFORMANCE_KIT_UNRELATED"] == "kept"

        def test_a_projects_own_test_is_left_alone():
            assert os.environ["OPENAI_API_KEY"] == "sk-dev-openai"
            assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "False"
        """
    )
    kit.runpytest().assert_outcomes(passed=2)
    assert os.environ["OPENAI_API_KEY"] == "sk-dev-openai"  # the inner run restored what it removed


def test_suite_subclass_is_collected_and_passes_as_parity(kit: pytest.Pytester) -> None:
    """A one-line ``HealthSuite`` subclass runs per backend, marked parity; the base is not collected.

    It is collected for both of this project's backends, but run only on sdk: binary would start a LiteLLM
    process.
    """
    kit.makeconftest(OUR_BACKENDS_CONFTEST)
    kit.makepyfile(
        test_health="""
        from conformance.suites import HealthSuite


        class TestHealth(HealthSuite):
            pass


        def test_plain():
            pass
        """
    )
    collected = kit.runpytest("--collect-only", "-q")
    collected.stdout.fnmatch_lines(
        [
            "test_health.py::TestHealth::test_liveness[[]sdk[]]",
            "test_health.py::TestHealth::test_liveness[[]binary[]]",
            "test_health.py::test_plain",
            "13 tests collected*",
        ]
    )
    collected.stdout.no_fnmatch_line("*::HealthSuite::*")

    not_parity = kit.runpytest("--collect-only", "-q", "-m", "not parity")
    not_parity.stdout.fnmatch_lines(["test_health.py::test_plain", "1/13 tests collected (12 deselected)*"])

    # Serving the proxy imports litellm: keep that out of this process. Only sdk: binary would start LiteLLM.
    parity = kit.runpytest_subprocess("-v", "-m", "parity", "-p", "no:cacheprovider", "--backend", "sdk")
    parity.assert_outcomes(passed=6, deselected=1)
    parity.stdout.fnmatch_lines(["*::TestHealth::test_liveness[[]sdk[]] PASSED*"])
    parity.stdout.no_fnmatch_line("*[[]binary[]]*")


async def test_mock_litellm_session_reaches_the_fake_provider(mock_litellm_session: SessionManager) -> None:
    """``mock_litellm_session`` is started; its real AsyncClient reaches the fake provider in process."""
    assert isinstance(mock_litellm_session, SessionManager)
    client = mock_litellm_session.client
    assert isinstance(client, httpx.AsyncClient)
    response = await client.get("http://fake-provider.test/v1/models")
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == "fake-model"


async def test_mock_litellm_session_router_is_strict(mock_litellm_session: SessionManager) -> None:
    """A request to any host other than the fake provider fails, listing the routes it could have matched."""
    with pytest.raises(AllMockedAssertionError, match="routes:"):
        await mock_litellm_session.client.get("http://api.openai.com/v1/models")


def test_a_developers_settings_are_leaky_but_the_tests_own_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """``MEMORY_PROXY_TEST_*`` configures the tests (a PostgreSQL, a browser) and must reach xdist's
    workers, which start with the environment the run left; a developer's proxy config must not."""
    monkeypatch.setenv("MEMORY_PROXY_CONFIG", "/home/dev/config.yaml")
    monkeypatch.setenv("MEMORY_PROXY_TEST_CHROMIUM", "/opt/chromium")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dev")
    leaky = leaky_environment()
    assert {"MEMORY_PROXY_CONFIG", "OPENAI_API_KEY"} <= set(leaky)
    assert "MEMORY_PROXY_TEST_CHROMIUM" not in leaky


THIRD_PARTY_STORES = """
import pytest

from conformance.suites import StoreSuite
from proxy.memory.stores.local.store import LocalMemoryStore


class LeakyStore(LocalMemoryStore):
    async def forget(self, user_id, memory_id=None):
        if memory_id is None:  # forgets every client's memories, not only the caller's
            return sum([await super(LeakyStore, self).forget(user.user_id) for user in await self.users()])
        return await super().forget(user_id, memory_id)


class TestGoodStore(StoreSuite):
    @pytest.fixture
    async def store(self):
        opened = LocalMemoryStore(":memory:")
        yield opened
        await opened.close()


class TestLeakyStore(StoreSuite):
    @pytest.fixture
    async def store(self):
        opened = LeakyStore(":memory:")
        yield opened
        await opened.close()
"""


def test_a_store_passes_the_store_suite_and_one_that_forgets_across_clients_fails_it(
    kit: pytest.Pytester,
) -> None:
    """``StoreSuite`` holds any store to the contract through its seam alone: a correct store passes every
    test, and one whose "forget all" reaches another client's memories fails exactly the tests that say so."""
    kit.makepyfile(test_stores=THIRD_PARTY_STORES)
    result = kit.runpytest("-q", "-p", "no:cacheprovider", "-k", "not hostile")
    result.stdout.fnmatch_lines(
        [
            "FAILED *::TestLeakyStore::test_no_method_reads_or_changes_another_clients_memories*",
            "FAILED test_stores.py::TestLeakyStore::test_forget_one_then_all_only_within_the_client*",
        ]
    )
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 2 and outcomes["passed"] >= 2 * 15, outcomes
    result.stdout.no_fnmatch_line("FAILED test_stores.py::TestGoodStore*")
