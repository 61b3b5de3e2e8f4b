"""httpcore's connection pool with a bookkeeping pass that is linear in the connections it holds.

Why: every request that enters or leaves ``httpcore.AsyncConnectionPool`` (1.0.x) re-scans the pool. That
scan counts the pool once per idle connection (quadratic) and asks every idle connection whether its
socket turned readable, one ``poll`` each. With 32 requests in flight through the shared session, the
profile of the proxy's own hop showed ~40% of its CPU there. This pool keeps httpcore's rules (the same
limits, connections chosen in the same order, a server-closed or keep-alive-expired connection never
reused) and changes when the checks run:

- an idle connection's socket is checked when it is about to be reused, not at every scan, plus a full
  sweep at most once per :data:`SWEEP_INTERVAL` so expired connections nobody picks are closed too;
- the pool is counted once per scan;
- an idle connection already promised to a request is not promised to a second one (httpcore would,
  and the loser retries);
- a connection whose request was cancelled before it connected is dropped (httpcore keeps it, and
  enough of them would fill the pool).

HTTP/1.1 only, as the session uses it: a connection serves one request at a time, so a connection promised
to a request is not available to another (HTTP/2 multiplexing would need that relaxed).

This module is the one place the proxy touches httpx's and httpcore's private names (the default
transport's ``_pool``; the pool's ``_assign_requests_to_connections``, ``_requests``, ``_connections``).
It does so only for the httpx and httpcore releases it was written against (:data:`BUILT_FOR`); with any
other, :func:`use_linear_pool` leaves httpx's own pool in place and says so once in the log.
tests/unit/test_connection_pool.py fails when a release it claims changes what it relies on.
"""

from __future__ import annotations

import functools
import logging
import time
from importlib.metadata import version

import httpcore
import httpx
from httpcore._async.interfaces import AsyncConnectionInterface
from packaging.specifiers import SpecifierSet
from packaging.version import Version

__all__ = ["BUILT_FOR", "SWEEP_INTERVAL", "LinearConnectionPool", "linear_pool_problem", "use_linear_pool"]

logger = logging.getLogger("proxy.connection_pool")

BUILT_FOR = {"httpx": SpecifierSet(">=0.28,<0.30"), "httpcore": SpecifierSet(">=1.0.9,<1.1")}
"""The releases whose private pool bookkeeping :class:`LinearConnectionPool` replaces. httpx 0.29 changed
only messages and one export from 0.28.1 (its transport and its use of httpcore are the same); the tests
run on both (locks/dev.txt and locks/lowest.txt)."""

SWEEP_INTERVAL = 1.0
"""Seconds between full expiry sweeps of idle connections (each is a socket poll)."""


class LinearConnectionPool(httpcore.AsyncConnectionPool):
    """An :class:`httpcore.AsyncConnectionPool` whose per-request scan is O(connections)."""

    _last_sweep = 0.0

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        closing: list[AsyncConnectionInterface] = []
        now = time.monotonic()
        sweep = now - self._last_sweep >= SWEEP_INTERVAL
        if sweep:
            self._last_sweep = now
        reserved = {request.connection for request in self._requests if request.connection is not None}

        kept: list[AsyncConnectionInterface] = []
        for connection in self._connections:
            if connection.is_closed():
                continue
            if connection not in reserved and not connection.is_idle():
                # Nobody's, yet not idle: never connected, its request cancelled while waiting for it
                # (httpcore keeps these for good, each holding a place under max_connections). Closing
                # one without a socket does nothing; closing is still the safe way out of the pool.
                closing.append(connection)
                continue
            if sweep and connection not in reserved and connection.has_expired():
                closing.append(connection)
            else:
                kept.append(connection)
        # httpcore closes idle connections while the pool holds more than max_keepalive_connections.
        surplus = len(kept) - self._max_keepalive_connections
        if surplus > 0:
            for connection in [c for c in kept if c.is_idle() and c not in reserved][:surplus]:
                kept.remove(connection)
                closing.append(connection)
        self._connections = kept

        available = [c for c in kept if c.is_available() and c not in reserved]
        for request in self._requests:
            if not request.is_queued():
                continue
            origin = request.request.url.origin
            connection = self._reusable(available, origin, closing)
            if connection is None and len(self._connections) >= self._max_connections:
                idle = next((c for c in available if c.is_idle()), None)
                if idle is None:
                    break  # every connection is busy: the request waits for one to be released
                available.remove(idle)
                self._connections.remove(idle)
                closing.append(idle)
            if connection is None:
                connection = self.create_connection(origin)
                self._connections.append(connection)
            request.assign_to_connection(connection)
        return closing

    def _reusable(
        self,
        available: list[AsyncConnectionInterface],
        origin: httpcore.Origin,
        closing: list[AsyncConnectionInterface],
    ) -> AsyncConnectionInterface | None:
        """The first available connection to ``origin`` whose socket is still good (bad ones are closed)."""
        for connection in list(available):
            if not connection.can_handle_request(origin):
                continue
            available.remove(connection)
            if connection.has_expired():
                self._connections.remove(connection)
                closing.append(connection)
                continue
            return connection
        return None


@functools.cache
def linear_pool_problem() -> str | None:
    """Why the linear pool cannot be used with the installed httpx and httpcore (None: it can)."""
    for package, specifier in BUILT_FOR.items():
        installed = version(package)
        if Version(installed) not in specifier:
            return f"{package} {installed} is not one the linear pool was built for ({specifier})"
    return None


def use_linear_pool(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Swap the pool of ``client``'s default transport for a :class:`LinearConnectionPool` with the same
    settings, where the installed httpx and httpcore allow it; returns the client.

    The client is built as usual first, so everything httpx derives from its arguments and the environment
    (TLS context, limits, proxy mounts from ``HTTPS_PROXY``/``NO_PROXY``) is what it would have been; only
    direct connections change pools (a proxy's own transport keeps httpx's).
    """
    problem = linear_pool_problem()
    if problem is not None:
        logger.warning("%s: using httpx's own connection pool", problem)
        return client
    transport = client._transport
    if not isinstance(transport, httpx.AsyncHTTPTransport):
        return client  # a test's transport: nothing to swap
    stock = transport._pool
    transport._pool = LinearConnectionPool(
        ssl_context=stock._ssl_context,
        max_connections=stock._max_connections,
        max_keepalive_connections=stock._max_keepalive_connections,
        keepalive_expiry=stock._keepalive_expiry,
        http1=stock._http1,
        http2=stock._http2,
        retries=stock._retries,
        local_address=stock._local_address,
        uds=stock._uds,
        socket_options=stock._socket_options,
    )
    return client
