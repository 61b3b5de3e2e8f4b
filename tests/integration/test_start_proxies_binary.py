"""start-proxies with the binary backend: the whole stack from one command, stopped by one Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import openai
import pytest
import yaml

from conformance.fakes import echo_reply
from conformance.harness import conformance_raw_config
from conformance.suites.support import unique
from proxy.launcher import port_problem
from proxy.processes import ManagedProcess, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.stack]


def binary_stack(config, port: int, litellm_port: int) -> list[str]:
    """The start-proxies command line for the binary stack on these ports."""
    return [
        *(sys.executable, "-m", "proxy.launcher", "--config", str(config), "--backend", "binary"),
        *("--port", str(port), "--litellm-port", str(litellm_port)),
    ]


def launcher_env() -> dict[str, str]:
    drop = ("MEMORY_PROXY_", "OPENAI_", "ANTHROPIC_", "LITELLM_MASTER_KEY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


@pytest.mark.parametrize(
    ("stop_signal", "exit_codes"), [(signal.SIGINT, {0, 130}), (signal.SIGTERM, {0, 143})]
)
def test_binary_stack_serves_the_openai_sdk_and_stops_on_a_signal(
    tmp_path, fake_provider, fake_provider_url, unreachable_url, stop_signal, exit_codes
):
    """The stack answers and streams for the openai SDK; Ctrl-C or SIGTERM stops both processes."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(conformance_raw_config(fake_provider_url, unreachable_url)))
    port, litellm_port = free_port(), free_port()
    command = binary_stack(config, port, litellm_port)
    with ManagedProcess(command, env=launcher_env(), cwd=tmp_path) as stack:
        stack.wait_for_line(r"memory proxy ready", timeout=180)
        assert f"LiteLLM proxy at http://127.0.0.1:{litellm_port}" in stack.tail()
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        text = unique()
        answer = client.chat.completions.create(
            model="gpt-fake", messages=[{"role": "user", "content": text}]
        )
        assert answer.choices[0].message.content == echo_reply(text)
        stream = client.chat.completions.create(
            model="gpt-fake", messages=[{"role": "user", "content": text}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == echo_reply(text)
        # The provider was reached through the LiteLLM proxy (its user agent), with the configured key.
        assert all(
            r.headers["authorization"].endswith("0123456789")
            for r in fake_provider.records
            if r.method == "POST"
        )
        os.killpg(stack.process.pid, stop_signal)  # SIGINT is what Ctrl-C in a terminal sends
        assert stack.process.wait(timeout=20) in exit_codes
    assert port_problem("127.0.0.1", port) is None
    assert port_problem("127.0.0.1", litellm_port) is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{litellm_port}/health/liveliness", timeout=2)


def test_a_litellm_proxy_that_cannot_start_is_reported_with_its_last_lines(tmp_path):
    """A LiteLLM proxy that exits at start ends start-proxies with exit 1 and the proxy's own last lines."""
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "k"}}
                ],
                "litellm_settings": {"callbacks": "no_such_module.handler"},
            }
        )
    )
    result = subprocess.run(
        binary_stack(config, free_port(), free_port()),
        env=launcher_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 1
    # At start, or (if it answered liveliness first) right after: either way, with its own last lines.
    assert "the LiteLLM proxy exited" in result.stderr
    assert "its last lines:" in result.stderr
    assert "no_such_module" in result.stderr


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc), to reach the LiteLLM proxy start-proxies started."""
    children: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as listing:
            children += [int(child) for child in listing.read().split()]
    return children


def test_a_litellm_proxy_that_dies_while_serving_stops_the_stack(
    tmp_path, fake_provider_url, unreachable_url
):
    """When the LiteLLM proxy dies under a running stack, start-proxies exits 1 and shows its last lines."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(conformance_raw_config(fake_provider_url, unreachable_url)))
    command = binary_stack(config, free_port(), free_port())
    with ManagedProcess(command, env=launcher_env(), cwd=tmp_path) as stack:
        stack.wait_for_line(r"memory proxy ready", timeout=180)
        [litellm] = child_pids(stack.process.pid)
        os.kill(litellm, signal.SIGKILL)
        assert stack.process.wait(timeout=30) == 1
        stack.wait_for_line(r"the LiteLLM proxy exited; its last lines:", timeout=10)


def descendants(pid: int) -> list[int]:
    """The children of ``pid``, theirs, and so on."""
    return [found for child in child_pids(pid) for found in (child, *descendants(child))]


def exited(pid: int) -> bool:
    """Whether ``pid`` is gone; a zombie counts, since a container's PID 1 may never reap orphans."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_stack_killed_outright_leaves_no_litellm_proxy_behind(tmp_path, fake_provider_url, unreachable_url):
    """SIGKILL gives start-proxies no chance to stop the LiteLLM proxy: its parent-death signal stops it, so
    the next start does not find the port in use."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(conformance_raw_config(fake_provider_url, unreachable_url)))
    litellm_port = free_port()
    command = binary_stack(config, free_port(), litellm_port)
    with ManagedProcess(command, env=launcher_env(), cwd=tmp_path) as stack:
        stack.wait_for_line(r"memory proxy ready", timeout=180)
        [litellm] = child_pids(stack.process.pid)
        family = [litellm, *descendants(litellm)]  # LiteLLM's own children too, should it start any
        os.kill(stack.process.pid, signal.SIGKILL)
        assert stack.process.wait(timeout=10) == -signal.SIGKILL
        try:
            deadline = time.monotonic() + 15
            while not all(exited(pid) for pid in family) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [pid for pid in family if not exited(pid)] == []
        finally:
            for pid in family:
                if not exited(pid):
                    os.kill(pid, signal.SIGKILL)
    assert port_problem("127.0.0.1", litellm_port) is None
