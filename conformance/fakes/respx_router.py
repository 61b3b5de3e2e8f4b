"""The fake provider as an in-process respx router, for unit tests that need no socket.

Every route calls :meth:`FakeProvider.respond`, the same logic the loopback server runs, and returns a
real ``httpx.Response``; a stream arrives chunk by chunk and a dropped connection surfaces as
``httpx.RemoteProtocolError``, as it would from httpcore. The router is strict: a request to any other
host fails the test, naming the routes it could have matched.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import httpx
import respx
from respx.models import AllMockedAssertionError

from conformance.fakes.http import FakeRequest, FakeResponse
from conformance.fakes.provider.endpoints import ENDPOINTS
from conformance.fakes.provider.fake import FakeProvider

__all__ = ["FakeProviderTransport", "fake_provider_router", "fake_provider_transport", "respx_router_for"]

DEFAULT_BASE_URL = "http://fake-provider.test"


class _FakeStream(httpx.AsyncByteStream):
    """Yields a fake response's chunks; ends in ``RemoteProtocolError`` when the fake drops the line."""

    def __init__(self, fake: FakeResponse, request: httpx.Request) -> None:
        self._fake = fake
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        stream = self._fake.stream
        if stream is None:
            yield self._fake.body
        else:
            async for chunk in stream:
                yield chunk
        if self._fake.abort_after is not None:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body (fake provider cut)",
                request=self._request,
            )

    async def aclose(self) -> None:
        """Closing early tells the fake the client went away (``stream_cancelled``)."""
        stream = self._fake.stream
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def fake_provider_router(
    provider: FakeProvider,
    base_url: str = DEFAULT_BASE_URL,
    *,
    assert_all_called: bool = False,
) -> respx.Router:
    """A strict respx router serving ``provider`` at ``base_url``.

    Named routes: one per row of the provider's endpoint table (``chat_completions``, ``responses``,
    ``messages``, ``count_tokens``, ``models``, each with or without ``/v1``) and ``not_found`` (any other
    path on that host: the fake's OpenAI 404, as the real server answers). ``assert_all_called=True``
    asserts at teardown that every one of those routes, ``not_found`` included, was hit, so it suits only
    exhaustive tests.
    """
    routes = [(endpoint.name, endpoint.method, endpoint.path_regex) for endpoint in ENDPOINTS]
    return respx_router_for(provider.respond, base_url, routes, assert_all_called=assert_all_called)


def respx_router_for(
    respond: Callable[[FakeRequest], Awaitable[FakeResponse]],
    base_url: str,
    routes: Iterable[tuple[str, str | None, str]],
    *,
    assert_all_called: bool = False,
) -> respx.Router:
    """A strict respx router at ``base_url`` whose routes (name, method or None, path regex after the base
    URL's path) and a final ``not_found`` (any other path on that host) all answer through ``respond``."""
    url = httpx.URL(base_url)
    prefix = url.path.rstrip("/")
    host_pattern: dict[str, object] = {"scheme": url.scheme, "host": url.host}
    if url.port is not None:
        host_pattern["port"] = url.port

    async def side_effect(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :] or "/"
        fake = await respond(
            FakeRequest(
                method=request.method,
                path=path,
                query=dict(request.url.params),
                headers=httpx.Headers(request.headers),
                body=request.content,
            )
        )
        if fake.stream is None and fake.abort_after is None:
            return httpx.Response(fake.status, headers=fake.headers, content=fake.body, request=request)
        return httpx.Response(
            fake.status, headers=fake.headers, stream=_FakeStream(fake, request), request=request
        )

    router = respx.Router(assert_all_called=assert_all_called, assert_all_mocked=True)
    for name, method, regex in routes:
        pattern: dict[str, object] = {"path__regex": f"^{re.escape(prefix)}{regex}$", **host_pattern}
        if method is not None:
            pattern["method"] = method
        router.route(name=name, **pattern).mock(side_effect=side_effect)
    router.route(name="not_found", **host_pattern).mock(side_effect=side_effect)
    return router


class FakeProviderTransport(httpx.AsyncBaseTransport):
    """An httpx transport answering from a respx router, with a strict-mode message that lists routes."""

    def __init__(self, router: respx.Router) -> None:
        self.router = router

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        try:
            return await self.router.async_handler(request)
        except AllMockedAssertionError as exc:
            routes = "\n  ".join(repr(route) for route in self.router.routes)
            raise AllMockedAssertionError(f"{exc}\nroutes:\n  {routes}") from None

    async def aclose(self) -> None:
        """At client close, enforce ``assert_all_called`` as respx's own mock transport does."""
        if self.router._assert_all_called:
            self.router.assert_all_called()


def fake_provider_transport(
    provider: FakeProvider,
    base_url: str = DEFAULT_BASE_URL,
    *,
    assert_all_called: bool = False,
) -> FakeProviderTransport:
    """The transport for ``httpx.AsyncClient(transport=..., base_url=base_url)`` talking to ``provider``."""
    return FakeProviderTransport(
        fake_provider_router(provider, base_url, assert_all_called=assert_all_called)
    )
