"""Serve any ASGI app with uvicorn on a free 127.0.0.1 port, in a background thread.

``httpx.ASGITransport`` buffers whole responses and runs no lifespan, so wherever chunk timing, client
disconnects or a real socket matter (LiteLLM's own HTTP client, a separate LiteLLM process, the
official SDKs), tests serve the app for real. The socket is bound up front, so ``url`` is known before
the server starts and no two servers can race for a port.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Literal, Self

import uvicorn
from starlette.types import ASGIApp

__all__ = ["LoopbackServer"]


class _NotifyingServer(uvicorn.Server):
    """A uvicorn server that signals the moment startup ends, so nobody has to sleep-poll for it."""

    def __init__(self, config: uvicorn.Config, started: threading.Event) -> None:
        super().__init__(config)
        self._started_event = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self._started_event.set()


class LoopbackServer:
    """Runs ``app`` on ``http://127.0.0.1:<free port>`` until :meth:`stop` (or the ``with`` block ends).

    Usable from sync fixtures, and several can run at once: each has its own thread and event loop.
    A server runs once; build a new one to serve again.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        lifespan: Literal["auto", "on", "off"] = "auto",
        log_level: str = "warning",
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        graceful_shutdown: float = 1.0,
        http: type[asyncio.Protocol] | Literal["auto", "h11", "httptools"] = "auto",
    ) -> None:
        """``graceful_shutdown`` bounds how long stop waits for in-flight requests (e.g. a slow answer);
        ``http`` is uvicorn's HTTP protocol (a class: the one a server under test really uses)."""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            lifespan=lifespan,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=graceful_shutdown,
            http=http,
        )
        self._started = threading.Event()
        self._server = _NotifyingServer(config, self._started)
        self._thread = threading.Thread(target=self._run, name=f"loopback-server-{self.port}", daemon=True)
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self._server.started and self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # uvicorn reports a failed startup as SystemExit
            self._error = exc
        finally:
            self._started.set()

    def start(self) -> Self:
        """Start serving and return once uvicorn accepts connections; raise if it could not start."""
        if self._thread.ident is not None:
            raise RuntimeError("LoopbackServer already started; build a new one to serve again")
        self._sock.listen(128)
        self._thread.start()
        if not self._started.wait(self._startup_timeout):
            self.stop()
            raise RuntimeError(f"LoopbackServer on {self.url} did not start within {self._startup_timeout}s")
        if not self._server.started:
            self.stop()
            message = f"LoopbackServer on {self.url} failed to start: {self._error!r}"
            raise RuntimeError(message) from self._error
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for its thread; idempotent."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(self._stop_timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(self._stop_timeout)
        self._sock.close()
        if self._thread.is_alive():
            raise RuntimeError(f"LoopbackServer on {self.url} did not stop within {2 * self._stop_timeout}s")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
