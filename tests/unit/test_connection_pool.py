"""The session's connection pool keeps httpcore's rules: limits, reuse, and never a dead connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpcore
import httpx
import pytest
from httpcore._async.connection_pool import AsyncPoolRequest

from proxy import connection_pool
from proxy.connection_pool import LinearConnectionPool, use_linear_pool
from proxy.session import SessionManager

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


@dataclass
class KeepAliveServer:
    """A raw HTTP/1.1 server on loopback that counts connections and can hang up after each answer."""

    close_after_answer: bool = False
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    """Answers wait for this while set to hold (cleared): lets a test pile up concurrent requests."""
    peers: list[int] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)
    """Each request's request line and headers, as received."""
    in_flight: int = 0
    most_in_flight: int = 0
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    handlers: set[asyncio.Task[None]] = field(default_factory=set)
    url: str = ""

    async def until_in_flight(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.in_flight >= count)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handlers.add(asyncio.current_task())
        self.peers.append(writer.get_extra_info("peername")[1])
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.heads.append(head)
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                async with self.changed:
                    self.changed.notify_all()
                await self.hold.wait()
                self.in_flight -= 1
                writer.write(RESPONSE)
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()  # the answer is drained: the FIN goes out now
        self.hung_up.set()


@asynccontextmanager
async def serving(server: KeepAliveServer) -> AsyncIterator[KeepAliveServer]:
    server.hold.set()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
    async with listener:
        yield server
        # The client closed its connections on the way out: let each handler see that and end.
        await asyncio.wait_for(asyncio.gather(*server.handlers), timeout=5)


def client_for(limits: httpx.Limits) -> httpx.AsyncClient:
    return use_linear_pool(httpx.AsyncClient(limits=limits, trust_env=False))


async def burst(
    client: httpx.AsyncClient, server: KeepAliveServer, count: int, *, held: int
) -> list[httpx.Response]:
    """``count`` requests at once, answered only after ``held`` of them have reached the server."""
    server.hold.clear()
    requests = [asyncio.create_task(client.get(server.url)) for _ in range(count)]
    await server.until_in_flight(held)
    server.hold.set()
    return await asyncio.gather(*requests)


def pool_of(client: httpx.AsyncClient) -> LinearConnectionPool:
    pool = client._transport._pool
    assert isinstance(pool, LinearConnectionPool)
    return pool


async def test_the_session_uses_the_linear_pool():
    """If httpx renames ``AsyncHTTPTransport._pool`` this fails, instead of the pool silently not applying."""
    session = SessionManager()
    client = await session.start()
    try:
        assert isinstance(pool_of(client), LinearConnectionPool)
    finally:
        await session.close()


async def test_concurrent_requests_share_at_most_max_connections():
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=60)
    async with serving(KeepAliveServer()) as server, client_for(limits) as client:
        responses = await burst(client, server, 20, held=4)
        assert [r.text for r in responses] == ["ok"] * 20
        assert server.most_in_flight == 4
        assert len(set(server.peers)) == 4  # the four connections were reused for the other sixteen
        assert len(pool_of(client).connections) == 4


@pytest.mark.parametrize(
    ("keepalive_expiry", "connections"),
    [(60, 1), (0, 3)],
    ids=["an idle connection is reused", "one idle past keepalive_expiry is replaced"],
)
async def test_sequential_requests_reuse_a_connection_until_it_expires(keepalive_expiry, connections):
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10, keepalive_expiry=keepalive_expiry)
    async with serving(KeepAliveServer()) as server, client_for(limits) as client:
        for _ in range(3):
            assert (await client.get(server.url)).text == "ok"
        assert len(server.peers) == connections


async def test_a_connection_the_server_closed_is_never_reused():
    """httpcore polls an idle socket before reuse; sending on a closed one would fail the request."""
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10, keepalive_expiry=60)
    async with serving(KeepAliveServer(close_after_answer=True)) as server, client_for(limits) as client:
        for _ in range(3):
            server.hung_up.clear()
            assert (await client.get(server.url)).text == "ok"
            await server.hung_up.wait()
        assert len(server.peers) == 3


async def test_surplus_idle_connections_are_closed():
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=2, keepalive_expiry=60)
    async with serving(KeepAliveServer()) as server, client_for(limits) as client:
        await burst(client, server, 8, held=8)
        await client.get(server.url)
        assert len(pool_of(client).connections) <= 2


async def test_the_sweep_closes_expired_connections_nobody_picks(monkeypatch):
    """Connections to an origin no request goes to any more are closed by the periodic sweep."""
    monkeypatch.setattr(connection_pool, "SWEEP_INTERVAL", 3600.0)
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8, keepalive_expiry=0)
    async with (
        serving(KeepAliveServer()) as first,
        serving(KeepAliveServer()) as second,
        client_for(limits) as client,
    ):
        await burst(client, first, 6, held=6)
        await client.get(second.url)
        assert len(pool_of(client).connections) == 7  # six expired ones to the first server, not swept yet
        monkeypatch.setattr(connection_pool, "SWEEP_INTERVAL", 0.0)
        await client.get(second.url)
        assert len(pool_of(client).connections) <= 1


async def test_a_request_cancelled_while_queued_frees_its_place():
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60)
    async with serving(KeepAliveServer()) as server, client_for(limits) as client:
        server.hold.clear()
        first = asyncio.create_task(client.get(server.url))
        await server.until_in_flight(1)
        waiting = asyncio.create_task(client.get(server.url))
        await asyncio.sleep(0)  # one step: the second request runs until it waits in the pool's queue
        assert len(pool_of(client)._requests) == 2
        waiting.cancel()
        server.hold.set()
        assert (await first).text == "ok"
        assert (await client.get(server.url)).text == "ok"
        with pytest.raises(asyncio.CancelledError):
            await waiting


async def test_a_connection_left_unconnected_by_a_cancelled_request_gives_its_place_back():
    """httpcore keeps such a connection for good; with max_connections=1 every later request would wait."""
    pool = LinearConnectionPool(max_connections=1)
    origin = httpcore.URL("http://127.0.0.1:9/").origin
    abandoned = pool.create_connection(origin)  # assigned once, its request since cancelled
    pool._connections.append(abandoned)
    queued = AsyncPoolRequest(httpcore.Request("GET", "http://127.0.0.1:9/"))
    pool._requests.append(queued)

    assert pool._assign_requests_to_connections() == [abandoned]
    await pool._close_connections([abandoned])  # it never had a socket: closing it is a no-op
    assert queued.connection not in (None, abandoned)
    assert pool._connections == [queued.connection]


async def test_the_session_still_follows_the_environments_proxy(monkeypatch):
    """Swapping the pool must not cost users behind a proxy their HTTPS_PROXY / HTTP_PROXY."""
    async with serving(KeepAliveServer()) as proxy_server:
        monkeypatch.setenv("HTTP_PROXY", proxy_server.url)
        monkeypatch.setenv("NO_PROXY", "")
        session = SessionManager()
        client = await session.start()
        try:
            assert (await client.get("http://provider.invalid/v1/models")).text == "ok"
            assert isinstance(pool_of(client), LinearConnectionPool)  # direct connections keep the fast pool
        finally:
            await session.close()
    assert proxy_server.heads[0].startswith(b"GET http://provider.invalid/v1/models HTTP/1.1")


def test_the_installed_httpx_and_httpcore_are_ones_the_pool_was_built_for():
    """CI installs releases the linear pool claims; a newer one must fail here, not fall back unnoticed."""
    assert connection_pool.linear_pool_problem() is None


@pytest.mark.parametrize(
    ("package", "installed"), [("httpcore", "1.1.0"), ("httpx", "0.30.0")], ids=["httpcore", "httpx"]
)
async def test_other_releases_keep_httpx_own_pool_and_say_so(monkeypatch, caplog, package, installed):
    real_version = connection_pool.version
    monkeypatch.setattr(
        connection_pool, "version", lambda name: installed if name == package else real_version(name)
    )
    connection_pool.linear_pool_problem.cache_clear()
    try:
        async with httpx.AsyncClient() as client:
            stock = type(client._transport._pool)
            assert use_linear_pool(client) is client
            assert type(client._transport._pool) is stock is httpcore.AsyncConnectionPool
        assert f"{package} {installed} is not one the linear pool was built for" in caplog.text
    finally:
        connection_pool.linear_pool_problem.cache_clear()


async def test_connection_pool_httpx_in_the_config_keeps_httpx_own_pool():
    from proxy.config import parse_config

    config = parse_config({"memory_proxy": {"connection_pool": "httpx"}}, source="test")
    for manager, expected in ((SessionManager.from_config(config), httpcore.AsyncConnectionPool),
                              (SessionManager(), LinearConnectionPool)):  # fmt: skip
        client = await manager.start()
        try:
            assert type(client._transport._pool) is expected
        finally:
            await manager.close()
