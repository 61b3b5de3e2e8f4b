"""Serving a backend for a test: the conformance config pointed at the fake provider, on loopback.

Suites talk to the proxy over real HTTP (uvicorn on a free 127.0.0.1 port, lifespan on), so chunk timing,
disconnects and the backend's startup and shutdown are exercised as a user's client would.

The conformance config is a LiteLLM-style dict (``model_list`` entries whose ``litellm_params`` name the
provider format, ``openai/…`` or ``anthropic/…``, and the fake provider's ``api_base``), plus this
project's own sections, which another proxy ignores. This project's ``proxy`` package is imported only by
the helpers that need it (:func:`conformance_config`, :func:`litellm_proxy_process`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from conformance import resources
from conformance.backends import BackendUnderTest
from conformance.explain import ExchangeLog
from conformance.fakes import FakeProvider, LoopbackServer

if TYPE_CHECKING:
    from proxy.config import Config
    from proxy.processes import ManagedProcess

__all__ = [
    "LiteLLMProxyUnderTest",
    "ProxyUnderTest",
    "app_client",
    "closed_port_url",
    "conformance_config",
    "conformance_raw_config",
    "deep_merge",
    "litellm_proxy_process",
    "serve_proxy",
]

CONFORMANCE_CONFIG = "conformance.yaml"
"""The resource (:mod:`conformance.resources`) the suites' config is made from."""


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


UNUSED_SUPERMEMORY_URL = "http://127.0.0.1:9"
"""Where the config points Supermemory when a test has no fake Supermemory (nothing listens there)."""


def conformance_raw_config(
    provider_url: str, unreachable_url: str, supermemory_url: str = UNUSED_SUPERMEMORY_URL
) -> dict[str, Any]:
    """The suites' config as a dict, its placeholders pointed at these URLs."""
    text = resources.read_text(CONFORMANCE_CONFIG)
    for placeholder, url in (
        ("{provider}", provider_url),
        ("{unreachable}", unreachable_url),
        ("{unreachable-authority}", unreachable_url.split("://", 1)[-1]),
        ("{supermemory}", supermemory_url),
    ):
        text = text.replace(placeholder, url)
    return yaml.safe_load(text)


def conformance_config(
    provider_url: str,
    unreachable_url: str,
    *,
    supermemory_url: str = UNUSED_SUPERMEMORY_URL,
    **overrides: Any,
) -> Config:
    """The suites' config parsed as this project's :class:`~proxy.config.Config`, with ``overrides`` merged
    section by section (e.g. ``memory_proxy={...}``): for this project's unit tests."""
    from proxy.config import parse_config

    raw = deep_merge(conformance_raw_config(provider_url, unreachable_url, supermemory_url), overrides)
    return parse_config(raw, source=CONFORMANCE_CONFIG)


@contextmanager
def closed_port_url() -> Iterator[str]:
    """A loopback URL that refuses connections: the port is bound (nobody else gets it), not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@dataclass
class ProxyUnderTest:
    """A running proxy: where it listens, what it was built from, and the provider behind it."""

    url: str
    backend: BackendUnderTest
    config: dict[str, Any]
    """The conformance config the backend was built from."""
    provider: FakeProvider
    app: Any
    exchanges: ExchangeLog = field(default_factory=ExchangeLog)
    """What the clients below sent and got back, for a failing test's report."""

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.url, event_hooks=self.exchanges.hooks(), **kwargs)

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        kwargs.setdefault("timeout", 30.0)
        return httpx.AsyncClient(base_url=self.url, event_hooks=self.exchanges.async_hooks(), **kwargs)

    def anthropic(self, **kwargs: Any) -> Any:
        """The official anthropic SDK pointed at the proxy (no retries: a fault must show as it is)."""
        import anthropic

        kwargs.setdefault("api_key", "sk-ant-client-key-not-for-the-provider")
        kwargs.setdefault("max_retries", 0)
        # The SDK's own client class (newer releases bring their own fork of httpx), with our hooks.
        kwargs.setdefault("http_client", anthropic.DefaultHttpxClient(event_hooks=self.exchanges.hooks()))
        return anthropic.Anthropic(base_url=self.url, **kwargs)

    def openai(self, **kwargs: Any) -> Any:
        """The official openai SDK pointed at the proxy (no retries: a fault must show as it is)."""
        import openai

        kwargs.setdefault("api_key", "sk-client-key-not-for-the-provider")
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("http_client", openai.DefaultHttpxClient(event_hooks=self.exchanges.hooks()))
        return openai.OpenAI(base_url=f"{self.url}/v1", **kwargs)


@contextmanager
def serve_proxy(
    backend: BackendUnderTest,
    config: dict[str, Any],
    provider: FakeProvider,
    exchanges: ExchangeLog | None = None,
) -> Iterator[ProxyUnderTest]:
    app = backend.build_app(config)
    # Generous: a loaded 2-core CI machine can take seconds to run a backend's startup.
    with LoopbackServer(app, lifespan="on", startup_timeout=60.0) as server:
        yield ProxyUnderTest(
            url=server.url,
            backend=backend,
            config=config,
            provider=provider,
            app=app,
            exchanges=exchanges or ExchangeLog(),
        )


@asynccontextmanager
async def app_client(app: Any, base_url: str = "http://127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client for unit tests, with the app's lifespan run around it, addressing the app as a
    client on the same machine does (a proxy without a key answers only its own machine's names).

    ``httpx.ASGITransport`` buffers whole responses and runs no lifespan; use it only where neither chunk
    timing nor a real socket matters (the suites serve the app on loopback instead).
    """
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client,
    ):
        yield client


@dataclass
class LiteLLMProxyUnderTest:
    """A real ``litellm --config`` process on loopback, as the binary backend's suites use it."""

    url: str
    master_key: str
    process: ManagedProcess

    def config_overrides(self) -> dict[str, Any]:
        return {
            "memory_proxy": {"litellm_base_url": self.url},
            "general_settings": {"master_key": self.master_key},
        }


@contextmanager
def litellm_proxy_process(
    raw_config: dict[str, Any],
    workdir: Path,
    *,
    extra_env: dict[str, str] | None = None,
    startup_timeout: float = 180.0,
) -> Iterator[LiteLLMProxyUnderTest]:
    """Start the LiteLLM proxy on ``raw_config`` (written to ``workdir``), ready when it says so.

    Credentials belong in ``extra_env`` (referenced as ``os.environ/NAME`` in the config), never in the file.
    """
    from proxy.litellm_process import generate_master_key, litellm_command, litellm_environment
    from proxy.processes import ManagedProcess, free_port

    config_file = workdir / "litellm-config.yaml"
    config_file.write_text(yaml.safe_dump(raw_config), encoding="utf-8")
    port = free_port()
    master_key = generate_master_key()
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("LITELLM_")}
    base_env.update(extra_env or {})
    process = ManagedProcess(
        litellm_command(config_file, port=port), env=litellm_environment(base_env, master_key), cwd=workdir
    )
    with process:
        # "Uvicorn running on" comes once the socket listens ("Application startup complete" comes before).
        process.wait_for_line(r"Uvicorn running on", timeout=startup_timeout)
        yield LiteLLMProxyUnderTest(url=f"http://127.0.0.1:{port}", master_key=master_key, process=process)
