"""The transport-neutral HTTP request and response every fake speaks, and the ASGI adapter that serves them.

Each fake of the kit keeps all its behaviour in one ``respond(FakeRequest) -> FakeResponse`` coroutine, so
the same fake runs over a loopback socket (:func:`fake_route`, here) or in process (the respx router in
``respx_router.py``) and a test cannot tell the two apart.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie

import httpx
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from starlette.types import Send

__all__ = [
    "ConnectionDropped",
    "FakeASGIResponse",
    "FakeRequest",
    "FakeResponse",
    "fake_route",
    "install_drop_log_filter",
    "request_cookie",
]


@dataclass(frozen=True)
class FakeRequest:
    """A transport-neutral HTTP request, built by the ASGI app or the respx router."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""


@dataclass
class FakeResponse:
    """A transport-neutral HTTP response.

    ``headers`` is a list of pairs so that several ``set-cookie`` headers survive. A streamed answer has
    ``stream``; ``abort_after`` set means the transport must drop the connection once the stream (which
    yields exactly that many chunks) is exhausted, instead of ending the body cleanly.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    abort_after: int | None = None

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)


def request_cookie(headers: httpx.Headers, name: str) -> str | None:
    """The value of cookie ``name`` in a request's ``cookie`` headers (None when it is not there)."""
    jar: SimpleCookie = SimpleCookie()
    for raw in headers.get_list("cookie"):
        try:
            jar.load(raw)
        except CookieError:
            continue
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


# -- the ASGI adapter ------------------------------------------------------------------------------------


class ConnectionDropped(Exception):
    """Raised inside the ASGI app so uvicorn closes the socket mid-response, as a flaky provider would."""


class _DropFilter(logging.Filter):
    """Keeps uvicorn from printing a traceback for every connection the fake drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BaseExceptionGroup):
            return exc.subgroup(ConnectionDropped) is None
        return not isinstance(exc, ConnectionDropped)


def install_drop_log_filter() -> None:
    """Silence uvicorn's traceback for :class:`ConnectionDropped` (once, however many fakes ask)."""
    target = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _DropFilter) for existing in target.filters):
        target.addFilter(_DropFilter())


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def fake_route(respond: Callable[[FakeRequest], Awaitable[FakeResponse]]) -> Route:
    """A catch-all route handing every request to ``respond`` as a :class:`FakeRequest` and sending back
    its :class:`FakeResponse`: how each fake of the kit is served over ASGI."""

    async def endpoint(request: Request) -> FakeASGIResponse:
        headers = httpx.Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw])
        fake = FakeRequest(
            method=request.method,
            path=request.scope["path"],
            query=dict(request.query_params),
            headers=headers,
            body=await request.body(),
        )
        return FakeASGIResponse(await respond(fake))

    return Route("/{path:path}", endpoint, methods=_METHODS)


class FakeASGIResponse(StreamingResponse):
    """Sends a :class:`FakeResponse`, closes its stream when the client leaves, and drops on request.

    Starlette's StreamingResponse already cancels the stream when the client disconnects (ASGI spec
    < 2.4, which uvicorn speaks); ``stream_response`` is replaced to send raw header pairs (several
    ``set-cookie`` survive), to always ``aclose`` the stream (so a record learns about the disconnect now,
    and a relayed stream gives its connection back, not at garbage collection), and to raise
    :class:`ConnectionDropped` instead of finishing an aborted body.
    """

    def __init__(self, fake: FakeResponse) -> None:
        self.fake = fake
        self.status_code = fake.status
        self.background = None
        headers = list(fake.headers)
        sized = any(key.lower() == "content-length" for key, _ in headers)
        if fake.stream is None and fake.status != 204 and not sized:
            headers.append(("content-length", str(len(fake.body))))
        self.raw_headers = [
            (key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in headers
        ]

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        stream = self.fake.stream
        if stream is None:
            await send({"type": "http.response.body", "body": self.fake.body, "more_body": False})
            return
        try:
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if self.fake.abort_after is not None:
            raise ConnectionDropped("fake provider dropped the connection on purpose")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
