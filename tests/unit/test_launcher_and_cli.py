"""start-proxies' checks and memory-proxy's commands (in process; the e2e tests run them for real)."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from proxy.cli import app as cli
from proxy.config import parse_config
from proxy.launcher import curl_example, port_problem

runner = CliRunner()


def test_port_problem_reports_a_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert "already in use" in port_problem("127.0.0.1", port)
    assert port_problem("127.0.0.1", 0) is None
    assert "cannot listen" in port_problem("192.0.2.1", 0)  # not an address of this machine


def test_curl_example_uses_the_first_model_and_never_the_key():
    config = parse_config(
        {
            "model_list": [{"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o"}}],
            "memory_proxy": {"auth_key": "super-secret-proxy-key"},
        },
        source="t",
    )
    curl = curl_example(config, "http://127.0.0.1:1")
    assert '"model": "gpt"' in curl
    assert "http://127.0.0.1:1/v1/chat/completions" in curl
    assert "super-secret-proxy-key" not in curl
    assert "$MEMORY_PROXY_KEY" in curl


def test_check_config_summarises_and_rejects(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(
        "model_list: [{model_name: m, litellm_params: {model: openai/x}}]\nmemory_proxy: {port: 9}\n"
    )
    result = runner.invoke(cli, ["check-config", "--config", str(good)])
    assert result.exit_code == 0
    assert "models: m" in result.output
    assert "127.0.0.1:9" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("memory_proxy: {nope: 1}\n")
    result = runner.invoke(cli, ["check-config", "--config", str(bad)])
    assert result.exit_code == 2
    assert "memory_proxy.nope" in result.output


def test_route_command_shows_the_namespace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["route", "-H", "User-Agent: claude-cli/2.1.197 (external, cli)"])
    assert result.exit_code == 0
    assert '"user_id": "claude-code"' in result.output
    rejected = runner.invoke(cli, ["route", "-H", "x-memory-user-id: bad id"])
    assert rejected.exit_code == 1
    assert "rejected" in rejected.output
    malformed = runner.invoke(cli, ["route", "-H", "no-colon"])
    assert malformed.exit_code == 2
    (tmp_path / "config.yaml").write_text(
        "user_id_mappings: {header_patterns: [{pattern: '[', user_id: x}]}\n"
    )
    invalid = runner.invoke(cli, ["route", "-H", "User-Agent: x"])
    assert invalid.exit_code == 2
    assert "user_id_mappings.header_patterns.0.pattern" in invalid.output


def test_version():
    result = runner.invoke(cli, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == "0.1.0"
