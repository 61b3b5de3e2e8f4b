"""A deadline for a client to send a request's headers, which uvicorn does not have.

uvicorn closes a connection that stays idle between requests (``timeout_keep_alive``), but once a client
has sent a first byte it waits for the rest of the headers for ever: a client that stalls (or trickles a
byte a minute) holds a connection and its memory indefinitely. The app cannot help, as it is only called
once the headers are complete; the body has its own deadline in :func:`proxy.requests.read_json_object`.

:func:`with_header_deadline` makes a subclass of uvicorn's HTTP protocol that starts a timer when a
connection opens and again when a response has been sent, and closes the connection if no new request
has begun by then. It uses only what both of uvicorn's HTTP protocols (httptools and h11) have in common:
``connection_made``, ``on_response_complete``, ``connection_lost``, and their ``loop``, ``transport`` and
``cycle`` (the request being served) attributes.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = ["DEADLINE_ENV_VAR", "WorkerHTTPProtocol", "http_protocol", "with_header_deadline"]

DEADLINE_ENV_VAR = "MEMORY_PROXY_CLIENT_TIMEOUT"
"""The deadline for :class:`WorkerHTTPProtocol`, set by ``start-proxies --workers`` for its workers."""


class _HeaderDeadline:
    """Mixed into one of uvicorn's HTTP protocols (which provide ``loop``, ``transport``, ``cycle``)."""

    header_seconds: float
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        waiting_after = self.cycle
        self._disarm()
        self._deadline = self.loop.call_later(self.header_seconds, self._overdue, waiting_after)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _overdue(self, waiting_after: Any) -> None:
        if self.cycle is waiting_after and not self.transport.is_closing():
            self.transport.close()  # no request began: nothing to answer, and no one to answer it to

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]


def with_header_deadline(protocol: type[asyncio.Protocol], seconds: float) -> type[asyncio.Protocol]:
    """``protocol`` (one of uvicorn's HTTP protocols) closing connections whose next request's headers do
    not arrive within ``seconds``."""
    name = f"HeaderDeadline{protocol.__name__}"
    return type(name, (_HeaderDeadline, protocol), {"header_seconds": seconds, "__qualname__": name})


def http_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's default HTTP protocol (httptools where installed, else h11) with a header deadline."""
    return with_header_deadline(AutoHTTPProtocol, seconds)


class WorkerHTTPProtocol(_HeaderDeadline, AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """:func:`http_protocol` for uvicorn's worker processes, which receive their protocol class by
    reference (pickled): a class defined here, its deadline read from the environment the parent set."""

    header_seconds = float(os.environ.get(DEADLINE_ENV_VAR, "30"))
