"""A slow or stalled client is cut off: no request holds a connection for ever (uvicorn bounds neither the
headers after a first byte nor the body)."""

from __future__ import annotations

import socket
import time

import pytest

from conformance.fakes.loopback import LoopbackServer
from proxy.app import create_app
from proxy.config import parse_config
from proxy.header_deadline import http_protocol
from tests.doubles import CannedBackend

DEADLINE = 1.0


@pytest.fixture
def server():
    def serve(answer_seconds: float = 0.0) -> LoopbackServer:
        config = parse_config(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}],
                "context_retrieval": {"enabled": False},
                "memory_proxy": {"client_timeout": DEADLINE},
            },
            source="test",
        )
        app = create_app(config, CannedBackend(seconds=answer_seconds))
        started = LoopbackServer(app, lifespan="on", http=http_protocol(DEADLINE)).start()
        servers.append(started)
        return started

    servers: list[LoopbackServer] = []
    yield serve
    for started in servers:
        started.stop()


BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'


def request_head(length: int) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )


def read_until_closed(sock: socket.socket, limit: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    sock.settimeout(limit)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received, time.monotonic() - started


def test_a_body_shorter_than_its_content_length_is_a_408_then_the_connection_closes(server):
    proxy = server()
    with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
        sock.sendall(request_head(len(BODY) + 100) + BODY)  # 100 bytes promised never come
        received, took = read_until_closed(sock)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), received
    assert b"connection: close" in head.lower()
    assert b'"client_timeout"' in body
    assert took < DEADLINE + 5


def test_headers_that_stop_halfway_are_cut_off(server):
    proxy = server()
    with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and then nothing
        received, took = read_until_closed(sock)
    assert received == b""  # closed: no request began, so there is nothing to answer
    assert took < DEADLINE + 5


def test_a_kept_alive_connection_and_a_slow_answer_are_not_cut_off(server):
    """The deadlines are the client's: an answer that takes longer than them, and a second request on
    the same connection, go through."""
    proxy = server(answer_seconds=DEADLINE * 2)
    with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
        sock.settimeout(10)
        for _ in range(2):
            sock.sendall(request_head(len(BODY)) + BODY)
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head
