"""The backends a test run checks, as small objects: a name, capabilities, and a way to build the app.

A project registers its backends once, with one call in its ``conftest.py``::

    from conformance.backends import BackendUnderTest, register_backend

    register_backend(BackendUnderTest("mine", build_app=build_my_app, capabilities={"anthropic_messages"}))

The ``backend`` fixture is then parametrized over the registered backends (``--backend NAME`` picks some)
and the suites never branch on which one they got. The kit registers none itself. This repository's own
backends (``sdk`` and ``binary``) are defined here for its ``conftest.py`` to register; building them is
the only thing in the kit that imports this project's ``proxy`` package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.capabilities import Capability

__all__ = [
    "REGISTRY",
    "BackendUnderTest",
    "Divergence",
    "binary_backend",
    "register_backend",
    "sdk_backend",
]

AppFactory = Callable[[dict[str, Any]], Any]
"""The conformance config (a LiteLLM-style dict: ``model_list`` pointing at the fakes, plus this project's
sections) → an ASGI app with a lifespan."""


@dataclass(frozen=True)
class Divergence:
    """A known way a backend fails a test: the test runs as a strict xfail that must fail with ``raises``,
    so it turns red (XPASS) the day the divergence is fixed."""

    reason: str
    raises: type[BaseException] = AssertionError


@dataclass(frozen=True)
class BackendUnderTest:
    """One backend as the suites see it. ``build_app(config)`` returns an ASGI app with a lifespan."""

    name: str
    build_app: AppFactory
    capabilities: frozenset[str] = field(default_factory=frozenset)
    config_fixture: str | None = None
    """A fixture whose value (a dict) is merged into the config before ``build_app``: where this backend's
    external parts listen, started once by that (usually session-scoped) fixture."""
    divergences: Mapping[str, Divergence] = field(default_factory=dict)
    """Known failures by test name (``test_x``, or ``SuiteClass::test_x`` to be precise)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "capabilities", frozenset(str(cap) for cap in self.capabilities))

    def has(self, capability: str) -> bool:
        return str(capability) in self.capabilities

    def divergence(self, suite: str | None, test: str) -> Divergence | None:
        return self.divergences.get(f"{suite}::{test}") or self.divergences.get(test)

    def __str__(self) -> str:
        return self.name


REGISTRY: dict[str, BackendUnderTest] = {}


def register_backend(backend: BackendUnderTest) -> BackendUnderTest:
    """Add (or replace) a backend by name; call it at import time of a ``conftest.py``."""
    REGISTRY[backend.name] = backend
    return backend


def _capabilities(*names: Iterable[str]) -> frozenset[str]:
    return frozenset(str(name) for group in names for name in group)


def _build_sdk_app(config: dict[str, Any]) -> Any:
    from proxy.app import create_app
    from proxy.backends.sdk import SdkBackend
    from proxy.config import parse_config

    parsed = parse_config(config, source="conformance config")
    return create_app(parsed, SdkBackend(parsed))


def _build_binary_app(config: dict[str, Any]) -> Any:
    from proxy.app import create_app
    from proxy.backends.binary import BinaryBackend
    from proxy.config import parse_config

    parsed = parse_config(config, source="conformance config")
    return create_app(parsed, BinaryBackend(parsed))


_OURS = {cap for cap in Capability if cap not in {Capability.COOKIE_JAR, Capability.IN_PROCESS_LITELLM}}

sdk_backend = BackendUnderTest(
    name="sdk",
    build_app=_build_sdk_app,
    capabilities=_capabilities(_OURS, {Capability.COOKIE_JAR, Capability.IN_PROCESS_LITELLM}),
)

binary_backend = BackendUnderTest(
    name="binary",
    build_app=_build_binary_app,
    # No COOKIE_JAR: the cookie jar between LiteLLM and the provider lives in the LiteLLM process.
    capabilities=_capabilities(_OURS),
    config_fixture="litellm_proxy_config",
    divergences={
        "MessagesSuite::test_rate_limit_carries_the_providers_retry_after": Divergence(
            "the LiteLLM proxy drops the provider's Retry-After on /v1/messages: its 429 carries no "
            "retry-after or llm_provider-* header, and its body no wait (it keeps it on "
            "/v1/chat/completions)",
            raises=KeyError,  # the answer's headers have no 'retry-after'
        ),
        "ErrorsSuite::test_a_chat_stream_that_is_not_the_protocol_is_a_clean_502": Divergence(
            "the LiteLLM proxy turns a provider's 200 that is no stream into a chat stream with no content "
            "(one finish chunk), which is also what it sends for a model's empty answer: the binary backend "
            "cannot tell them apart, so the client gets an empty success (the sdk backend sees the "
            "provider's answer itself and gives a 502; on /v1/messages both do)",
        ),
    },
)
