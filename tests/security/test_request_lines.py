"""A request line whose target is not a path (``GET * HTTP/1.1``, ``GET v1/models``) is a 4xx, never a 500
with a traceback: at the interceptor and at the proxy."""

from __future__ import annotations

import socket

import pytest

from conformance.fakes.loopback import LoopbackServer
from proxy.interceptor.app import Interceptor
from tests.doubles import CannedBackend

TARGETS = [b"*", b"v1/models"]  # (an absolute URL is a valid target: its path is served)


def status_of(port: int, target: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        head = raw.recv(65536)
    return int(head.split(b" ", 2)[1])


@pytest.mark.parametrize("target", TARGETS)
def test_the_interceptor_answers_a_target_that_is_no_path_with_a_4xx(target, caplog):
    app = Interceptor("http://127.0.0.1:9", "my-app-3f9c1e")
    with LoopbackServer(app, lifespan="on") as server:
        status = status_of(server.port, target)
    assert 400 <= status < 500
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("target", TARGETS)
def test_the_proxy_answers_a_target_that_is_no_path_with_a_4xx(target, caplog):
    from proxy.app import create_app
    from proxy.config import parse_config

    app = create_app(parse_config({"context_retrieval": {"enabled": False}}, source="test"), CannedBackend())
    with LoopbackServer(app, lifespan="on") as server:
        status = status_of(server.port, target)
    assert 400 <= status < 500
    assert "Traceback" not in caplog.text
