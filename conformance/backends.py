"""The backends a test run checks, as small objects: a name, capabilities, and a way to build the app.

A project registers its backends once (``register_backend`` in its ``conftest.py``, or ``--backend``
to choose among them); the ``backend`` fixture is then parametrized over them and the suites never branch
on which one they got.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.capabilities import Capability

__all__ = ["REGISTRY", "BackendUnderTest", "binary_backend", "register_backend", "sdk_backend"]

AppFactory = Callable[[Any], Any]  # Config -> ASGI app


@dataclass(frozen=True)
class BackendUnderTest:
    """One backend as the suites see it. ``build_app(config)`` returns an ASGI app with a lifespan."""

    name: str
    build_app: AppFactory
    capabilities: frozenset[Capability] = field(default_factory=frozenset)
    config_fixture: str | None = None
    """A fixture whose value (a dict) is merged into the config before ``build_app``: where this backend's
    external parts listen, started once by that (usually session-scoped) fixture."""

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def __str__(self) -> str:
        return self.name


REGISTRY: dict[str, BackendUnderTest] = {}


def register_backend(backend: BackendUnderTest) -> BackendUnderTest:
    """Add (or replace) a backend by name; call it at import time of a ``conftest.py``."""
    REGISTRY[backend.name] = backend
    return backend


def _build_sdk_app(config: Any) -> Any:
    from proxy.app import create_app
    from proxy.backends.sdk import SdkBackend

    return create_app(config, SdkBackend(config))


sdk_backend = BackendUnderTest(
    name="sdk",
    build_app=_build_sdk_app,
    capabilities=frozenset(
        {Capability.COOKIE_JAR, Capability.IN_PROCESS_LITELLM, Capability.MESSAGES_RETRY_AFTER}
    ),
)


def _build_binary_app(config: Any) -> Any:
    from proxy.app import create_app
    from proxy.backends.binary import BinaryBackend

    return create_app(config, BinaryBackend(config))


binary_backend = BackendUnderTest(
    name="binary",
    build_app=_build_binary_app,
    # No COOKIE_JAR: the cookie jar between LiteLLM and the provider lives in the LiteLLM process.
    capabilities=frozenset(),
    config_fixture="litellm_proxy_config",
)
