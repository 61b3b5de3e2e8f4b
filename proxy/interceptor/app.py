"""The interceptor: a forwarder on a project's own port that stamps the project's memory namespace.

Every request, whatever its method and path, goes on to the memory proxy unchanged (query string, body,
headers, ``Host`` included, so the proxy's browser rules hold through it) except for two things:
``x-memory-project`` is set to the project's id (so a coding agent working in the same directory shares
the project's memory), replacing whatever the client sent there or in ``x-memory-user-id``, and
hop-by-hop headers stay behind. Bodies are streamed both ways chunk by chunk, so an SSE answer reaches
the IDE as the model writes it. One ``httpx.AsyncClient``, opened by the app's lifespan, carries every
request (connections are reused). Only ``GET /health`` is answered here, so a user can see
which project a port belongs to.

The interceptor listens on loopback, on a port from a small predictable range, so it applies the proxy's
browser boundary itself before anything else (:mod:`proxy.browser_guard`): a request addressed to another
name (DNS rebinding) or sent by a page of another site is refused here, ``/health`` included, and never
reaches the proxy. A request line whose target is not a path (``GET * HTTP/1.1``) is a 400.

It is a plain ASGI callable rather than a Starlette app because it needs what routing would get in the
way of: every method, the raw path and query, the request body as a stream, and the moment the client
hangs up (then the upstream response is closed at once, which stops the model call behind it).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from urllib.parse import urlsplit

import anyio
import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proxy.asgi import send_json
from proxy.browser_guard import BrowserGuard, MachineNames
from proxy.errors import (
    InvalidRequest,
    ProxyError,
    UpstreamTimeout,
    UpstreamUnreachable,
    openai_envelope,
    to_proxy_error,
)
from proxy.scopes import PROJECT_HEADER

__all__ = ["DEFAULT_CUSTOM_HEADER", "HOP_BY_HOP_HEADERS", "Interceptor"]

logger = logging.getLogger("proxy.interceptor")

DEFAULT_CUSTOM_HEADER = "x-memory-user-id"
LISTENS_ON = "127.0.0.1"
"""The interceptor's address: loopback only (``memory-proxy interceptor run`` binds it)."""

HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers about one connection (RFC 9110 §7.6.1), never forwarded."""

# The memory proxy enforces its own provider timeouts; the forwarder only bounds connecting to it.
TIMEOUT = httpx.Timeout(None, connect=10.0)
LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=20, keepalive_expiry=30.0)


class _ClientGone(Exception):
    """The client disconnected while its request body was still being forwarded."""


class Interceptor:
    """ASGI app forwarding to ``target`` (the memory proxy's base URL) as project ``project_id``.

    ``transport`` is a seam for an in-process target; ``custom_header`` must be the memory proxy's
    ``user_id_mappings.custom_header``; ``stamp`` is the header that names the project to the proxy
    (``x-memory-project``, so Claude Code or Codex in the same directory share its memory), or the custom
    header for a namespace named outright (``--user-id``); ``browser_guard``, ``allowed_hosts`` and
    ``allowed_origins`` are its ``memory_proxy`` settings of those names.
    """

    def __init__(
        self,
        target: str,
        project_id: str,
        *,
        project_dir: str | None = None,
        custom_header: str = DEFAULT_CUSTOM_HEADER,
        stamp: str = PROJECT_HEADER,
        transport: httpx.AsyncBaseTransport | None = None,
        browser_guard: bool = True,
        allowed_hosts: Sequence[str] = (),
        allowed_origins: Sequence[str] = (),
    ) -> None:
        self.target = target.rstrip("/")
        self.project_id = project_id
        self.project_dir = project_dir
        self.custom_header = custom_header.lower()
        self.stamp = stamp.lower()
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        # The client's Host goes on to a memory proxy on this machine, whose browser rules then hold through
        # the interceptor; a remote one (--target https://memory.team.example) routes by its own name.
        remote = not MachineNames(LISTENS_ON).admits(urlsplit(self.target).hostname or "")
        named = {self.custom_header, PROJECT_HEADER}  # the interceptor's to say, never the client's
        self._dropped = HOP_BY_HOP_HEADERS | named | ({"host"} if remote else set())
        self._guarded: ASGIApp = self._http
        if browser_guard:
            self._guarded = BrowserGuard(
                self._http,
                names=MachineNames(LISTENS_ON, allowed_hosts),
                check_host=True,
                allowed_origins=allowed_origins,
                envelope_for=lambda path: openai_envelope,
            )

    async def start(self) -> None:
        """Open the one client every forwarded request shares (the lifespan's startup calls this)."""
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                timeout=TIMEOUT,
                limits=LIMITS,
                follow_redirects=False,  # a redirect is the IDE's to follow, with its own headers
                trust_env=False,  # a developer's HTTP_PROXY must not capture loopback traffic
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("the interceptor's client is not open (its lifespan or start() opens it)")
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._guarded(scope, receive, send)
        else:  # websockets: nothing the memory proxy serves
            await send({"type": "websocket.close", "code": 1003})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not scope["path"].startswith("/"):
            error = InvalidRequest(f"The request's target must be a path, not {scope['path'][:40]!r}.")
            await send_json(send, error.status, openai_envelope(error))
        elif scope["path"] == "/health" and scope["method"] in ("GET", "HEAD"):
            await self._health(scope, send)
        else:
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:  # pragma: no cover - httpx.AsyncClient() does not fail in practice
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _health(self, scope: Scope, send: Send) -> None:
        body = {
            "status": "ok",
            "project": self.project_id,
            "project_dir": self.project_dir,
            "target": self.target,
        }
        await send_json(send, 200, body, head=scope["method"] == "HEAD")

    # -- forwarding -------------------------------------------------------------------------------

    def _request(self, scope: Scope, body: AsyncIterator[bytes] | None) -> httpx.Request:
        path = scope.get("raw_path") or scope["path"].encode()
        url = self.target + path.decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        connection_named = _connection_tokens(scope["headers"])
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if (lowered := name.decode("latin-1").lower()) not in self._dropped
            and lowered not in connection_named
        ]
        headers.append((self.stamp.encode(), self.project_id.encode()))
        return httpx.Request(scope["method"], url, headers=headers, content=body)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        body_done = anyio.Event()
        has_body = any(
            name.lower() in (b"content-length", b"transfer-encoding") and value.strip() not in (b"", b"0")
            for name, value in scope["headers"]
        )

        async def request_body() -> AsyncIterator[bytes]:
            try:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _ClientGone
                    if chunk := message.get("body", b""):
                        yield chunk
                    if not message.get("more_body", False):
                        return
            finally:
                body_done.set()

        if not has_body:
            body_done.set()
        request = self._request(scope, request_body() if has_body else None)
        client_gone = False

        async def watch_for_disconnect(scope_to_cancel: anyio.CancelScope) -> None:
            # Only once the body has been read: ASGI allows one reader of ``receive`` at a time.
            nonlocal client_gone
            await body_done.wait()
            while True:
                message: Message = await receive()
                if message["type"] == "http.disconnect":
                    client_gone = True
                    scope_to_cancel.cancel()
                    return

        failure: Exception | None = None
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch_for_disconnect, tasks.cancel_scope)
            try:
                await self._exchange(request, send)
            except _ClientGone:
                client_gone = True
            except Exception as exc:  # raised below, unwrapped: not as the task group's ExceptionGroup
                failure = exc
            finally:
                tasks.cancel_scope.cancel()
        if failure is not None:
            raise failure
        if client_gone:
            logger.debug("client disconnected: %s %s closed upstream", scope["method"], scope["path"])

    async def _exchange(self, request: httpx.Request, send: Send) -> None:
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            error: ProxyError = (
                UpstreamUnreachable(self._unreachable(exc))
                if isinstance(exc, httpx.ConnectTimeout)
                else UpstreamTimeout(f"The memory proxy at {self.target} did not answer in time.")
            )
            await send_json(send, error.status, openai_envelope(error))
            return
        except httpx.TransportError as exc:
            error = UpstreamUnreachable(self._unreachable(exc))
            await send_json(send, error.status, openai_envelope(error))
            return
        except _ClientGone:
            raise
        except Exception as exc:  # a bug, not the network: still one envelope, and the trace in the log
            error = to_proxy_error(exc)
            await send_json(send, error.status, openai_envelope(error))
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (name.lower(), value)
                        for name, value in response.headers.raw
                        if name.decode("latin-1").lower() not in HOP_BY_HOP_HEADERS
                    ],
                }
            )
            try:
                # Raw bytes: a compressed answer stays compressed, and content-length stays true.
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.TransportError as exc:
                # The status is already sent: ending the response short is the only signal left.
                logger.warning("the memory proxy's answer broke off (%s); ending the response early", exc)
                return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()

    def _unreachable(self, exc: Exception) -> str:
        reason = str(exc) or type(exc).__name__
        return (
            f"The memory proxy at {self.target} could not be reached ({reason}). "
            "Is it running? Start it with start-proxies."
        )


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> set[str]:
    """Header names the client listed in ``Connection``: hop-by-hop for this request too."""
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
        if token.strip()
    }
