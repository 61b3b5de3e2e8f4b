"""Running for good: the systemd units ``memory-proxy systemd-unit`` writes (checked by systemd's own
``systemd-analyze verify``) and the team's container setup in ``deploy/`` (its config is one the proxy
takes, its compose file wires the proxy to PostgreSQL without a secret in it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from proxy.cli import app as cli
from proxy.config import parse_config
from proxy.service_unit import UNIT_NAME

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
LITERAL_KEY = "sk-literal-provider-key-7f3a"
runner = CliRunner()


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "proxy config.yaml"  # a space: the unit must quote the path
    path.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": LITERAL_KEY}}
                ],
                "context_retrieval": {"local_store_path": str(tmp_path / "store" / "memory.sqlite3")},
                "memory_proxy": {"auth_key": "proxy-key-literal-123"},
            }
        )
    )
    return path


def unit(*args: str) -> str:
    result = runner.invoke(cli, ["systemd-unit", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def verify(path: Path, *, user: bool, tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the unit, as systemd would load it."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (systemd's own check of a unit file)")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    command = [analyze, *(["--user"] if user else []), "verify", str(path)]
    checked = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "not executable" not in checked.stderr


def test_a_users_unit_runs_this_installation_on_the_config_and_holds_no_secret(tmp_path: Path):
    config = config_file(tmp_path)
    text = unit("--config", str(config), "--workers", "2")
    [exec_start] = re.findall(r"^ExecStart=(.*)$", text, re.M)
    assert "start-proxies" in exec_start or "proxy.launcher" in exec_start
    assert f"'{config}'" in exec_start and exec_start.endswith("--workers 2")
    assert "WantedBy=default.target" in text and "Restart=on-failure" in text
    assert LITERAL_KEY not in text and "proxy-key-literal-123" not in text
    path = tmp_path / UNIT_NAME
    path.write_text(text)
    verify(path, user=True, tmp_path=tmp_path)


def test_a_machines_unit_runs_as_its_own_user_sandboxed_with_its_data_writable(tmp_path: Path):
    config = config_file(tmp_path)
    refused = runner.invoke(cli, ["systemd-unit", "--config", str(config), "--system"])
    assert refused.exit_code == 2 and "--run-as" in refused.output
    env_file = tmp_path / "proxy.env"
    text = unit(
        "--config", str(config), "--system", "--run-as", "nobody", "--environment-file", str(env_file)
    )
    assert "User=nobody" in text and "WantedBy=multi-user.target" in text
    assert "ProtectSystem=strict" in text and "NoNewPrivileges=yes" in text
    assert "StateDirectory=litellm-memory-proxy" in text
    assert f"ReadWritePaths={tmp_path / 'store'}" in text  # the local store kept elsewhere
    assert f"EnvironmentFile=-{env_file}" in text
    path = tmp_path / UNIT_NAME
    path.write_text(text)
    verify(path, user=False, tmp_path=tmp_path)


def test_written_where_systemd_looks_with_the_commands_that_start_it(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    result = runner.invoke(cli, ["systemd-unit", "--config", str(config_file(tmp_path)), "--write"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "home" / ".config" / "systemd" / "user" / UNIT_NAME
    assert written.read_text().startswith("# Written by `memory-proxy systemd-unit`")
    assert f"systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}" in result.output


def test_a_unit_for_a_config_that_cannot_start_is_refused(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("memory_proxy: {nope: 1}\n")
    result = runner.invoke(cli, ["systemd-unit", "--config", str(bad)])
    assert result.exit_code == 2 and "memory_proxy.nope" in result.output


def test_the_teams_example_config_is_one_the_proxy_takes(monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "MEMORY_DSN", "SAM_PROXY_KEY", "ALEX_PROXY_KEY"):
        monkeypatch.setenv(name, f"{name.lower()}-value-0123456789")
    config = parse_config(yaml.safe_load((DEPLOY / "config.example.yaml").read_text()), source="example")
    assert config.context_retrieval.provider == "postgres"
    assert [(k.person, k.admin) for k in config.memory_proxy.keys] == [("sam", True), ("alex", False)]
    example_env = (DEPLOY / "env.example").read_text()
    settings = "\n".join(
        line.split("#")[0] for line in (DEPLOY / "config.example.yaml").read_text().splitlines()
    )
    named = set(re.findall(r"os\.environ/(\w+)", settings))
    assert named - {"MEMORY_DSN"} <= set(re.findall(r"^(\w+)=", example_env, re.M))  # compose sets the DSN


def test_the_compose_file_wires_the_proxy_to_postgres_without_a_secret_in_it():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    postgres, proxy = compose["services"]["postgres"], compose["services"]["proxy"]
    assert "pgvector" in postgres["image"] and postgres["healthcheck"]["test"]
    assert proxy["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert proxy["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / "Dockerfile").is_file()
    assert all(port.startswith("127.0.0.1:") for port in proxy["ports"])  # a TLS proxy goes in front
    assert "@postgres:5432/" in proxy["environment"]["MEMORY_DSN"]
    for value in [*postgres["environment"].values(), *proxy["environment"].values()]:
        assert "${" in value or value == "memory_proxy"  # secrets come from .env, never from here
    assert "/health/readiness" in " ".join(proxy["healthcheck"]["test"])
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        pytest.skip("docker compose is not installed here: the file's structure is checked above")
    checked = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={**os.environ, "POSTGRES_PASSWORD": "example"},
    )
    assert checked.returncode == 0, checked.stderr
