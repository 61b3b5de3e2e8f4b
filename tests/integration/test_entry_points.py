"""The README's entry points, run as a user runs them: real processes, real sockets, loopback only."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from conformance.fakes import echo_reply
from conformance.harness import conformance_raw_config, deep_merge
from conformance.suites.routing import CLIENT_STRINGS
from conformance.suites.support import content_of, model_calls, read_sse, unique
from proxy.processes import ManagedProcess, free_port

pytestmark = pytest.mark.e2e


def child_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MEMORY_PROXY_", "OPENAI_", "ANTHROPIC_"))
    }
    return {**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **extra}


def recall_when_stored(base_url: str, body: dict, attempts: int = 50) -> str:
    """The answer to ``body`` once memory is used: write-back is off the request path, so it may lag."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for _ in range(attempts):
            response = http.post("/v1/chat/completions", json=body)
            if response.headers["x-memory-status"] == "used":
                return response.json()["choices"][0]["message"]["content"]
            time.sleep(0.1)
    raise AssertionError(f"memory was not used after {attempts} tries: {response.headers}")


def test_start_proxies_demo_answers_its_printed_curl(tmp_path):
    """With no config, start-proxies serves the echoing demo model and prints a curl that works."""
    port = free_port()
    with ManagedProcess(
        [sys.executable, "-m", "proxy.launcher", "--port", str(port)],
        env=child_env(XDG_DATA_HOME=str(tmp_path / "data")),
        cwd=tmp_path,
    ) as launcher:
        launcher.wait_for_line(r"memory proxy ready", timeout=90)
        assert "demo mode" in launcher.tail()
        assert f"local store at {tmp_path / 'data'}" in launcher.tail()  # the user's XDG_DATA_HOME
        curl = launcher.wait_for_line(r"^\s+(curl .*)$").group(1)
        result = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=30, check=True)
        answer = json.loads(result.stdout)
        content = answer["choices"][0]["message"]["content"]
        assert content.startswith("[demo model, no provider called]")
        assert "user: Hello! What do you remember?" in content
        # The second time, the first exchange comes back as memory (once its write-back has landed).
        second = recall_when_stored(f"http://127.0.0.1:{port}", json.loads(shlex.split(curl)[-1]))
        console = launcher.wait_for_line(r"console: (http://\S+/ui)").group(1)
        with httpx.Client(timeout=30) as http:
            page = http.get(console)
            overview = http.get(f"{console}/api/overview").json()
            requests = http.get(f"{console}/api/requests").json()["requests"]
    assert "system: Relevant memories" in second
    assert "assistant: [demo model" in second
    assert console == f"http://127.0.0.1:{port}/ui"
    assert page.status_code == 200 and 'id="clients"' in page.text
    [client] = overview["clients"]
    assert client["memories"] >= 1
    assert all(request["user_id"] == client["user_id"] for request in requests)
    statuses = [request["memory_status"] for request in reversed(requests)]
    assert statuses[0] == "skipped" and statuses[-1] == "used"  # the first curl, then the one that recalled


def test_start_proxies_refuses_a_busy_port_and_a_bad_config(tmp_path):
    """A taken port and an invalid config each end start-proxies at once with one clear line."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [sys.executable, "-m", "proxy.launcher", "--port", str(port)],
            env=child_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert busy.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in busy.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("memory_proxy: {portt: 1}\n")
    invalid = subprocess.run(
        [sys.executable, "-m", "proxy.launcher", "--config", str(bad)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert invalid.returncode == 2
    assert "memory_proxy.portt" in invalid.stderr
    assert "Traceback" not in invalid.stderr


def test_uvicorn_proxy_sdk_app_serves_a_config_file(
    tmp_path, fake_provider, fake_provider_url, unreachable_url
):
    """`uvicorn proxy.sdk:app` with MEMORY_PROXY_CONFIG answers, streams and routes every client string."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(conformance_raw_config(fake_provider_url, unreachable_url)))
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "proxy.sdk:app", "--host", "127.0.0.1", "--port", str(port)]
    with ManagedProcess(command, env=child_env(MEMORY_PROXY_CONFIG=str(config)), cwd=tmp_path) as server:
        server.wait_for_line("Uvicorn running on", timeout=90)  # printed once the socket listens
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            text = unique()
            body = {"model": "gpt-fake", "messages": [{"role": "user", "content": text}]}
            answer = http.post("/v1/chat/completions", json=body)
            assert answer.json()["choices"][0]["message"]["content"] == echo_reply(text)
            with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as stream:
                assert content_of(read_sse(stream)) == echo_reply(text)
            for client in CLIENT_STRINGS:
                info = http.get("/memory-routing/info", headers={"user-agent": client["user_agent"]}).json()
                assert info["user_id"] == client["user_id"], client
    assert len(model_calls(fake_provider)) == 2


def test_uvicorn_proxy_binary_app_serves_through_a_litellm_proxy(
    tmp_path, fake_provider, fake_provider_url, unreachable_url, litellm_proxy
):
    """`uvicorn proxy.binary:app` forwards to the LiteLLM proxy named in the config, JSON and stream."""
    raw = deep_merge(
        conformance_raw_config(fake_provider_url, unreachable_url), litellm_proxy.config_overrides()
    )
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "proxy.binary:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with ManagedProcess(command, env=child_env(MEMORY_PROXY_CONFIG=str(config)), cwd=tmp_path) as server:
        server.wait_for_line("Uvicorn running on", timeout=90)  # printed once the socket listens
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            text = unique()
            body = {"model": "gpt-fake", "messages": [{"role": "user", "content": text}]}
            assert http.post("/v1/chat/completions", json=body).json()["choices"][0]["message"][
                "content"
            ] == (echo_reply(text))
            with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as stream:
                assert content_of(read_sse(stream)) == echo_reply(text)
            assert http.get("/health/readiness").json()["status"] == "ready"
    assert len(model_calls(fake_provider)) == 2


def test_uvicorn_app_with_a_bad_config_exits_with_one_line(tmp_path):
    """A bad config under uvicorn is one 'invalid config' line naming the key, not an import traceback."""
    config = tmp_path / "config.yaml"
    config.write_text("memory_proxy: {prot: 1}\n")
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "proxy.sdk:app", "--port", "0"],
        env=child_env(MEMORY_PROXY_CONFIG=str(config)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "invalid config" in result.stderr
    assert "memory_proxy.prot" in result.stderr
    assert "Traceback" not in result.stderr


def _spawned_workers(parent: int) -> list[int]:
    """The pids of the worker processes uvicorn's supervisor spawned under ``parent``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat, open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                command = cmdline.read()
        except OSError:
            continue
        if ppid == parent and b"multiprocessing" in command and b"spawn_main" in command:
            found.append(int(entry))
    return found


@pytest.mark.stack
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table from /proc")
def test_start_proxies_workers_share_one_port_and_one_memory(tmp_path):
    """--workers 2 serves the demo from two processes on one port; what one stored, any recalls."""
    port = free_port()
    with ManagedProcess(
        [sys.executable, "-m", "proxy.launcher", "--port", str(port), "--workers", "2"],
        env=child_env(XDG_DATA_HOME=str(tmp_path / "data")),
        cwd=tmp_path,
    ) as launcher:
        launcher.wait_for_line(r"memory proxy \(2 workers\) at", timeout=90)
        launcher.wait_for_line(r"Application startup complete", timeout=90)  # a worker listens
        body = {"model": "demo", "messages": [{"role": "user", "content": "My cat is called Miso."}]}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            for _ in range(6):  # new connections: the kernel spreads them over the workers
                try:
                    answer = http.post("/v1/chat/completions", json=body, headers={"connection": "close"})
                except httpx.ConnectError as exc:
                    raise AssertionError(f"the workers stopped listening:\n{launcher.tail(60)}") from exc
                assert answer.is_success, answer.text
        assert len(_spawned_workers(launcher.process.pid)) == 2
        question = {"model": "demo", "messages": [{"role": "user", "content": "What is my cat called?"}]}
        assert "Miso" in recall_when_stored(f"http://127.0.0.1:{port}", question)
    assert launcher.process.returncode is not None
