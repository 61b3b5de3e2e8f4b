"""The interceptor on loopback: what it forwards, how it streams, and per-project memory end to end.

A recording upstream stands in for the memory proxy where the question is what the forwarder does to a
request; the real memory proxy (``open_proxy``, once per backend) with the fake provider behind it answers
the issue's question: two projects, one memory proxy, two memories.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from typer.testing import CliRunner

from conformance.fakes import LoopbackServer, echo_reply, fake_directive
from conformance.suites.support import chat_body, content_of, iter_sse, last_call, read_sse, unique
from proxy.asgi import receive_body
from proxy.cli import app as cli
from proxy.interceptor import Interceptor, PortRegistry, project_id
from proxy.interceptor.cli import base_url, default_target
from proxy.processes import ManagedProcess, free_port

pytestmark = pytest.mark.e2e

JETBRAINS = {"user-agent": "OpenAIClientImpl/Java unknown"}  # the same from every project and window
PROJECT = "alpha-0a1b2c"


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    path: str
    query: bytes
    headers: list[tuple[str, str]]
    body: bytes
    client: tuple[str, int]

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


@dataclass
class RecordingUpstream:
    """A raw ASGI stand-in for the memory proxy: records each request and answers by path.

    ``/stream`` sends one chunk, waits for ``release``, sends another; ``/hang`` sends one chunk and then
    waits for the client to go away (``disconnected`` is set then); ``/gzip`` answers compressed JSON;
    anything else echoes the request as JSON with a few response headers to pass back.
    """

    seen: list[Seen] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await receive_body(receive)
        seen = Seen(
            scope["method"],
            scope["raw_path"].decode(),
            scope["query_string"],
            [(k.decode(), v.decode()) for k, v in scope["headers"]],
            body,
            tuple(scope["client"]),
        )
        self.seen.append(seen)
        self.arrived.set()
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"one|", "more_body": True})
            await anyio.to_thread.run_sync(self.release.wait, 10)
            await send({"type": "http.response.body", "body": b"two"})
        elif scope["path"] == "/hang":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            while (await receive())["type"] != "http.disconnect":
                pass
            self.disconnected.set()
        elif scope["path"] == "/gzip":
            payload = gzip.compress(b'{"compressed": true}')
            headers = [(b"content-encoding", b"gzip"), (b"content-length", str(len(payload)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
        else:
            answer = json.dumps({"method": seen.method, "body": body.decode()}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"set-cookie", b"a=1"),
                (b"set-cookie", b"b=2"),
                (b"x-upstream", b"yes"),
                (b"connection", b"keep-alive"),
            ]
            status = 201 if scope["path"].startswith("/created") else 200
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": answer if seen.method != "HEAD" else b""})


@pytest.fixture
def upstream() -> Iterator[tuple[RecordingUpstream, str]]:
    recorder = RecordingUpstream()
    with LoopbackServer(recorder) as server:
        yield recorder, server.url
    recorder.release.set()


@contextmanager
def serve_interceptor(target: str, ident: str = PROJECT, **kwargs: Any) -> Iterator[str]:
    with LoopbackServer(Interceptor(target, ident, **kwargs), lifespan="on") as server:
        yield server.url


# -- what is forwarded -----------------------------------------------------------------------------


def test_a_request_arrives_as_sent_with_the_projects_id_stamped(upstream):
    recorder, url = upstream
    headers = {
        **JETBRAINS,
        "authorization": "Bearer sk-the-ides-key",
        "x-memory-user-id": "someone-else",  # a client value never wins
        "X-Memory-User-Id": "and-again",
        "x-memory-project": "not-this-one",
        "x-custom": "kept",
        "accept": "text/event-stream",
        "x-per-hop": "dropped",
        "connection": "keep-alive, x-per-hop",
        "te": "trailers",
    }
    body = b'{"model": "m", "messages": [{"role": "user", "content": "hi \xc3\xa9"}]}'
    with serve_interceptor(url) as proxy_url, httpx.Client(base_url=proxy_url) as http:
        answer = http.post("/v1/chat/completions?beta=true&q=a%20b", content=body, headers=headers)
    assert answer.status_code == 200
    assert answer.json() == {"method": "POST", "body": body.decode()}
    assert answer.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert answer.headers["x-upstream"] == "yes"
    [seen] = recorder.seen
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/chat/completions", b"beta=true&q=a%20b")
    assert seen.body == body
    assert seen.header("x-memory-project") == [PROJECT]  # so an agent in that directory shares it
    assert seen.header("x-memory-user-id") == []
    assert seen.header("authorization") == ["Bearer sk-the-ides-key"]
    assert seen.header("user-agent") == [JETBRAINS["user-agent"]]
    assert seen.header("x-custom") == ["kept"]
    assert seen.header("accept") == ["text/event-stream"]
    assert seen.header("content-length") == [str(len(body))]
    assert seen.header("host") == [proxy_url.removeprefix("http://")]  # the client's: the proxy's rules hold
    assert seen.header("x-per-hop") == []
    assert seen.header("te") == []


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_every_method_and_path_is_forwarded(upstream, method):
    recorder, url = upstream
    with serve_interceptor(url) as proxy_url, httpx.Client(base_url=proxy_url) as http:
        answer = http.request(
            method, "/created/x%2Fy", content=b"payload" if method in ("PUT", "PATCH") else None
        )
        health_readiness = http.get("/health/readiness")
    assert answer.status_code == 201
    assert recorder.seen[0].method == method
    assert recorder.seen[0].path == "/created/x%2Fy"  # the raw path, its escapes untouched
    assert recorder.seen[0].body == (b"payload" if method in ("PUT", "PATCH") else b"")
    assert health_readiness.status_code == 200  # only /health itself is the interceptor's
    assert recorder.seen[1].path == "/health/readiness"


def test_a_chunked_request_body_is_streamed_through_whole(upstream):
    recorder, url = upstream
    parts = [b"x" * 70_000, b"y" * 70_000, b"z"]
    with serve_interceptor(url) as proxy_url, httpx.Client(base_url=proxy_url) as http:
        answer = http.post("/v1/chat/completions", content=iter(parts))
    assert answer.status_code == 200
    assert recorder.seen[0].body == b"".join(parts)


def test_a_client_that_hangs_up_mid_upload_ends_the_upstream_request(upstream):
    """The memory proxy is not left waiting for the rest of a body that will never come."""
    recorder, url = upstream
    with serve_interceptor(url) as proxy_url:
        port = int(proxy_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1000\r\n\r\n"
            )
            raw.sendall(b"0123456789")
        assert recorder.arrived.wait(10), "the upstream request never ended"
    assert len(recorder.seen[0].body) <= 10


def test_a_compressed_answer_passes_through_as_sent(upstream):
    _, url = upstream
    with serve_interceptor(url) as proxy_url, httpx.Client(base_url=proxy_url) as http:
        answer = http.get("/gzip")
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.json() == {"compressed": True}


def test_answers_stream_through_chunk_by_chunk(upstream):
    """The first chunk reaches the client while the upstream is still holding the second back."""
    recorder, url = upstream
    with (
        serve_interceptor(url) as proxy_url,
        httpx.Client(base_url=proxy_url, timeout=10) as http,
        http.stream("GET", "/stream") as response,
    ):
        chunks = response.iter_raw()
        assert next(chunks) == b"one|"
        recorder.release.set()
        assert b"".join(chunks) == b"two"


def test_a_client_that_hangs_up_closes_the_upstream_response(upstream):
    recorder, url = upstream
    with serve_interceptor(url) as proxy_url:
        with httpx.Client(base_url=proxy_url, timeout=10) as http, http.stream("GET", "/hang") as response:
            assert next(response.iter_raw()) == b"first"
        assert recorder.disconnected.wait(10), "the upstream never saw the client go away"


def test_one_persistent_client_reuses_its_upstream_connection(upstream):
    """Two IDE connections, one after the other, reach the memory proxy over the same connection."""
    recorder, url = upstream
    with serve_interceptor(url) as proxy_url:
        for _ in range(2):
            with httpx.Client(base_url=proxy_url) as http:
                assert http.get("/v1/models").status_code == 200
    assert recorder.seen[0].client == recorder.seen[1].client


def test_health_is_answered_by_the_interceptor_itself(upstream, tmp_path):
    recorder, url = upstream
    with (
        serve_interceptor(url, project_dir=str(tmp_path)) as proxy_url,
        httpx.Client(base_url=proxy_url) as http,
    ):
        health = http.get("/health")
        head = http.head("/health")
    assert health.json() == {"status": "ok", "project": PROJECT, "project_dir": str(tmp_path), "target": url}
    assert head.status_code == 200
    assert head.content == b""
    assert recorder.seen == []


def test_an_unreachable_memory_proxy_is_a_502_in_the_openai_envelope(unreachable_url):
    with serve_interceptor(unreachable_url) as proxy_url, httpx.Client(base_url=proxy_url) as http:
        answer = http.post("/v1/chat/completions", json=chat_body("hi"))
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "api_connection_error",
        "upstream_unreachable",
        None,
    )
    assert unreachable_url in error["message"]
    assert set(answer.json()) == {"error"}


def test_the_client_exists_only_between_startup_and_shutdown():
    interceptor = Interceptor("http://127.0.0.1:9", PROJECT)
    with pytest.raises(RuntimeError, match="not open"):
        _ = interceptor.client

    async def lifecycle() -> None:
        await interceptor.start()
        client = interceptor.client
        await interceptor.start()
        assert interceptor.client is client  # started once, whatever calls start
        await interceptor.close()
        assert client.is_closed

    anyio.run(lifecycle)


# -- per-project memory, end to end ----------------------------------------------------------------

# Facts of a project (what a person says about themselves would be theirs in every project).
TEAL = "the theme colour of this app is teal"
CRIMSON = "the theme colour of this app is crimson"
QUESTION = "what is the theme colour of this app?"


@contextmanager
def project_interceptors(target: str, *projects: Path) -> Iterator[list[str]]:
    """One interceptor per project directory, as ``interceptor run`` builds it, in front of ``target``."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                LoopbackServer(Interceptor(target, project_id(p), project_dir=str(p)), lifespan="on")
            ).url
            for p in projects
        ]


def _sent_text(proxy: Any) -> str:
    return "\n".join(str(message.get("content")) for message in last_call(proxy.provider).json["messages"])


def test_two_projects_behind_one_memory_proxy_keep_their_own_memories(open_proxy, tmp_path):
    """The same question from the same IDE reaches the provider with each project's memory, and only it."""
    alpha, beta = tmp_path / "work" / "alpha", tmp_path / "work" / "beta"
    alpha.mkdir(parents=True)
    beta.mkdir()
    memory = {
        "context_retrieval": {
            "enabled": True,
            "provider": "local",
            "local_store_path": str(tmp_path / "m.sqlite3"),
        }
    }
    with open_proxy(**memory) as proxy, project_interceptors(proxy.url, alpha, beta) as (via_alpha, via_beta):
        for url, fact in ((via_alpha, TEAL), (via_beta, CRIMSON)):
            with httpx.Client(base_url=url, headers=JETBRAINS, timeout=30) as http:
                told = http.post("/v1/chat/completions", json=chat_body(fact))
                assert told.status_code == 200, told.text
    # The memory proxy has shut down: its pending write-backs are flushed. Ask again after a restart.
    with open_proxy(**memory) as proxy, project_interceptors(proxy.url, alpha, beta) as (via_alpha, via_beta):
        for url, project, mine, theirs in (
            (via_alpha, alpha, "teal", "crimson"),
            (via_beta, beta, "crimson", "teal"),
        ):
            headers = {**JETBRAINS, "x-memory-user-id": "pycharm-ai"}  # even an explicit id is dropped
            with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
                info = http.get("/memory-routing/info").json()
                asked = http.post("/v1/chat/completions", json=chat_body(QUESTION))
            assert (info["user_id"], info["custom_header_present"]) == ("pycharm-ai", False)
            assert (info["namespace"], info["project"]) == (project_id(project), project_id(project))
            assert info["project_from"] == "x-memory-project"
            assert asked.status_code == 200, asked.text
            assert asked.headers["x-memory-project"] == project_id(project)
            assert asked.headers["x-memory-status"] == "used"
            sent = _sent_text(proxy)
            assert mine in sent
            assert theirs not in sent
            assert last_call(proxy.provider).json["messages"][-1] == {"role": "user", "content": QUESTION}


def test_streams_from_the_memory_proxy_pass_through_and_stop_when_the_ide_does(
    proxy, fake_provider, tmp_path
):
    with project_interceptors(proxy.url, tmp_path) as (url,), httpx.Client(base_url=url, timeout=30) as http:
        text = unique("stream me")
        with http.stream("POST", "/v1/chat/completions", json=chat_body(text, stream=True)) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert content_of(read_sse(response)) == echo_reply(text)
        slow = chat_body(unique(fake_directive("slow_stream", delay=0.1, chunks=100)), stream=True)
        with http.stream("POST", "/v1/chat/completions", json=slow) as response:
            next(iter_sse(response))
    fake_provider.wait_for(lambda: last_call(fake_provider).stream_cancelled, timeout=10)
    assert not last_call(fake_provider).stream_completed


# -- the command line ------------------------------------------------------------------------------

runner = CliRunner()


def invoke(registry_file: Path, *args: str, low: int = 26700, high: int = 26709, input: str = "") -> Any:
    options = ["--registry", str(registry_file), "--port-min", str(low), "--port-max", str(high)]
    return runner.invoke(cli, ["interceptor", *options, *args], input=input)


def test_allocate_show_list_remove_and_reset(tmp_path, monkeypatch):
    registry_file = tmp_path / "ports.json"
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    alpha.mkdir()
    beta.mkdir()
    monkeypatch.chdir(alpha)

    missing = invoke(registry_file, "show")
    assert missing.exit_code == 1
    assert "has no port yet" in missing.output

    allocated = invoke(registry_file, "allocate")
    assert allocated.exit_code == 0, allocated.output
    port = PortRegistry(registry_file=registry_file).get_port(alpha)
    assert port is not None
    assert base_url(port) in allocated.output
    assert project_id(alpha) in allocated.output
    assert invoke(registry_file, "allocate").output == allocated.output  # stable

    shown = invoke(registry_file, "show", "--project", str(alpha))
    assert shown.exit_code == 0
    assert f"port {port}" in shown.output
    assert invoke(registry_file, "allocate", "-p", str(beta)).exit_code == 0

    listed = invoke(registry_file, "list")
    assert str(alpha) in listed.output and str(beta) in listed.output
    assert project_id(beta) in listed.output

    removed = invoke(registry_file, "remove")
    assert removed.exit_code == 0
    assert f"port {port}" in removed.output
    assert invoke(registry_file, "remove").exit_code == 1

    refused = invoke(registry_file, "reset", input="n\n")
    assert refused.exit_code == 1
    assert PortRegistry(registry_file=registry_file).list_mappings() != {}
    reset = invoke(registry_file, "reset", "--yes")
    assert reset.exit_code == 0
    assert "removed 1 project" in reset.output
    assert "no projects" in invoke(registry_file, "list").output
    assert "no projects" in invoke(registry_file, "check").output


def test_cli_errors_are_one_clear_line(tmp_path):
    registry_file = tmp_path / "ports.json"
    bad_range = invoke(registry_file, "list", low=10, high=5)
    assert bad_range.exit_code == 2
    assert "invalid port range" in bad_range.output
    not_a_dir = invoke(registry_file, "allocate", "-p", str(tmp_path / "nope"))
    assert not_a_dir.exit_code == 2
    assert "is not a directory" in not_a_dir.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        full = invoke(registry_file, "allocate", "-p", str(tmp_path), low=port, high=port)
        assert full.exit_code == 1
        assert "no free port" in full.output


def test_check_tells_a_free_port_from_a_taken_one(tmp_path):
    registry_file = tmp_path / "ports.json"
    registry = PortRegistry(26720, 26729, registry_file)
    free_project, taken_project = tmp_path / "free", tmp_path / "taken"
    free_port_ = registry.get_or_allocate_port(free_project)
    taken_port = registry.get_or_allocate_port(taken_project)
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", taken_port))
        taken.listen()
        checked = invoke(registry_file, "check")
    assert f"{free_port_}  {free_project}: free" in checked.output
    assert f"{taken_port}  {taken_project}: in use by another program" in checked.output


def test_default_target_reaches_a_wildcard_address_on_loopback():
    assert default_target("0.0.0.0", 8764) == "http://127.0.0.1:8764"
    assert default_target("::", 8764) == "http://[::1]:8764"
    assert default_target("localhost", 1) == "http://localhost:1"


def _memory_proxy_cli(registry_file: Path, port: int, *args: str) -> list[str]:
    options = ["--registry", str(registry_file), "--port-min", str(port), "--port-max", str(port)]
    return [sys.executable, "-c", "from proxy.cli import main; main()", "interceptor", *options, *args]


def _child_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("MEMORY_PROXY_", "OPENAI_", "ANTHROPIC_"))
    }


def test_run_serves_the_project_on_its_port_in_front_of_the_configured_proxy(upstream, tmp_path):
    """``interceptor run`` with no --target forwards to the config's memory proxy, naming the project; a
    client's own custom header (the config's) is dropped."""
    recorder, url = upstream
    project = tmp_path / "My App"
    project.mkdir()
    config = tmp_path / "config.yaml"
    upstream_port = int(url.rsplit(":", 1)[1])
    config.write_text(
        f"memory_proxy: {{port: {upstream_port}}}\nuser_id_mappings: {{custom_header: x-project}}\n"
    )
    port, registry_file = free_port(), tmp_path / "ports.json"
    command = _memory_proxy_cli(
        registry_file, port, "run", "--project", str(project), "--config", str(config)
    )
    with ManagedProcess(command, env=_child_env(), cwd=tmp_path) as process:
        printed = process.wait_for_line(r"base URL for the IDE: (\S+)", timeout=60).group(1)
        assert printed == base_url(port)
        with httpx.Client(base_url=printed.removesuffix("/v1"), headers=JETBRAINS) as http:
            assert http.get("/v1/models", headers={"x-project": "spoofed"}).status_code == 200
        checked = invoke(registry_file, "check", low=port, high=port)
        assert f"interceptor running (project {project_id(project)})" in checked.output
    assert "does not answer" not in process.tail()
    [seen] = [s for s in recorder.seen if s.path == "/v1/models"]
    assert seen.header("x-memory-project") == [project_id(project)]
    assert seen.header("x-project") == []
    assert PortRegistry(registry_file=registry_file).get_port(project) == port


def test_run_warns_when_the_memory_proxy_is_down_and_refuses_a_second_copy(
    tmp_path, unreachable_url, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    port, registry_file = free_port(), tmp_path / "ports.json"
    command = _memory_proxy_cli(registry_file, port, "run", "--target", unreachable_url, "--user-id", "my-ns")
    with ManagedProcess(command, env=_child_env(), cwd=tmp_path) as first:
        first.wait_for_line(r"base URL for the IDE", timeout=60)
        first.wait_for_line(r"does not answer yet", timeout=30)
        assert "memory namespace (user_id): my-ns" in first.tail()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.post("/v1/chat/completions", json=chat_body("hi")).status_code == 502
            assert http.get("/health").json()["project"] == "my-ns"
        with ManagedProcess(command, env=_child_env(), cwd=tmp_path) as second:
            assert second.process.wait(60) == 1
            second.wait_for_line(r"already in use", timeout=10)
    bad = runner.invoke(cli, ["interceptor", "--registry", str(registry_file), "run", "--user-id", "bad id"])
    assert bad.exit_code == 2
    assert "Invalid --user-id" in bad.output
    bad_target = runner.invoke(
        cli, ["interceptor", "--registry", str(registry_file), "run", "--target", "ftp://x"]
    )
    assert bad_target.exit_code == 2


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (httpx.ConnectTimeout("connect timed out"), 502, "upstream_unreachable"),
        (httpx.ReadTimeout("read timed out"), 504, "request_timeout"),
        (httpx.RemoteProtocolError("not HTTP"), 502, "upstream_unreachable"),
        (ValueError("a bug"), 500, "internal_error"),
    ],
    ids=["connect-timeout", "read-timeout", "not-http", "bug"],
)
def test_every_failure_before_the_answer_is_one_openai_envelope(raised, status, code):
    def fail(request: httpx.Request) -> httpx.Response:
        raise raised

    target = "http://memory-proxy.test"
    with (
        serve_interceptor(target, transport=httpx.MockTransport(fail)) as proxy_url,
        httpx.Client(base_url=proxy_url) as http,
    ):
        answer = http.post("/v1/chat/completions", json=chat_body("hi"))
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert "a bug" not in answer.text  # an internal error's details stay in the log


class _BreaksOff(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"data: {}\n\n"
        raise httpx.ReadError("connection reset by peer")


def test_an_answer_that_breaks_off_ends_the_response_early_not_cleanly():
    """Once the status is sent, a truncated upstream answer must not look complete to the IDE."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_BreaksOff())

    with (
        serve_interceptor("http://memory-proxy.test", transport=httpx.MockTransport(answer)) as proxy_url,
        httpx.Client(base_url=proxy_url) as http,
        http.stream("POST", "/v1/chat/completions", json=chat_body("hi", stream=True)) as response,
    ):
        assert response.status_code == 200
        chunks = response.iter_raw()
        assert next(chunks) == b"data: {}\n\n"
        with pytest.raises(httpx.RemoteProtocolError):
            list(chunks)
