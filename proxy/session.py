"""The one persistent HTTP session every provider call goes through.

Cloudflare answers a client it does not trust with a ``cf_clearance`` cookie and rejects later calls that
do not carry it back; a fresh client per call (what LiteLLM does by default, with cookies blocked) never
gets past that. So the app's lifespan creates one ``httpx.AsyncClient`` with one cookie jar, every
provider call shares it (including concurrent ones), and shutdown closes it.
"""

from __future__ import annotations

import httpx

from proxy.config import Config
from proxy.connection_pool import use_linear_pool

__all__ = ["SessionManager"]

DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
# Idle connections are dropped after 4 s: uvicorn (the LiteLLM proxy's server) closes them after 5 s, and a
# request sent on a connection the server is closing fails after it may have been sent (not retryable).
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=4.0)


class SessionManager:
    """Owns the shared ``httpx.AsyncClient``; ``transport`` is the seam tests use to fake the network."""

    def __init__(
        self, *, transport: httpx.AsyncBaseTransport | None = None, linear_pool: bool = True
    ) -> None:
        self._transport = transport
        self._linear_pool = linear_pool and transport is None
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_config(cls, config: Config) -> SessionManager:
        return cls(linear_pool=config.memory_proxy.connection_pool == "linear")

    async def start(self) -> httpx.AsyncClient:
        if not self.is_open:
            client = httpx.AsyncClient(
                transport=self._transport,
                timeout=DEFAULT_TIMEOUT,
                limits=DEFAULT_LIMITS,
                follow_redirects=True,
                trust_env=True,  # HTTPS_PROXY / NO_PROXY, as users of httpx expect
            )
            self._client = use_linear_pool(client) if self._linear_pool else client
        return self._client

    @property
    def client(self) -> httpx.AsyncClient:
        """The live client; only valid between :meth:`start` and :meth:`close`."""
        if not self.is_open:
            raise RuntimeError("the HTTP session is not started (the app's lifespan starts it)")
        return self._client

    @property
    def is_open(self) -> bool:
        return self._client is not None and not self._client.is_closed

    @property
    def cookies(self) -> httpx.Cookies:
        return self.client.cookies

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
