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

__all__ = ["SessionManager", "require_a_stream"]

DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
# Idle connections are dropped after 4 s: uvicorn (the LiteLLM proxy's server) closes them after 5 s, and a
# request sent on a connection the server is closing fails after it may have been sent (not retryable).
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=4.0)


_STREAM_ASKED = (b'"stream": true', b'"stream":true')


async def require_a_stream(response: httpx.Response) -> None:
    """A request that asked for a stream must get one: a 200 that is not ``text/event-stream`` (a provider
    answering JSON, or an HTML error page, with 200) is raised as a protocol error here, so the client gets a
    502 instead of the empty success LiteLLM would make of a body with no events in it."""
    content_type = response.headers.get("content-type", "")
    if response.status_code != 200 or content_type.startswith("text/event-stream"):
        return
    try:
        body = response.request.content
    except httpx.RequestNotRead:  # a streamed request body: not one of the JSON calls LiteLLM makes
        return
    if any(marker in body for marker in _STREAM_ASKED):
        raise httpx.RemoteProtocolError(
            f"the provider answered a stream request with {content_type[:60] or 'no content type'}, not "
            "server-sent events",
            request=response.request,
        )


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
                event_hooks={"response": [require_a_stream]},
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
