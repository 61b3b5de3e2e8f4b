"""The real Codex CLI against the proxy, offline: `codex exec` through each backend, over the Responses API.

The CLI comes from npm at the version locks/clients pins (./RUN_TESTS.sh installs it; the ``codex_cli``
fixture in tests/conftest.py finds it). Each run has a throwaway HOME and CODEX_HOME whose config.toml
names the proxy as its model provider, as the README tells a user to write it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conformance.fakes import fake_directive
from conformance.suites.memory import local_store_contents
from conformance.suites.support import model_calls
from proxy.interceptor.port_registry import project_id
from proxy.scopes import person_namespace

PERSON = person_namespace(None)  # this machine's user: every client here is one person

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIG = """\
model = "gpt-fake"
model_provider = "memory-proxy"

[model_providers.memory-proxy]
name = "litellm-memory-proxy"
base_url = "{base_url}/v1"
wire_api = "responses"
"""


def codex(cli: Path, prompt: str, base_url: str, workdir: Path, home: Path) -> str:
    """One `codex exec` run against ``base_url`` in ``workdir``, offline; returns its output."""
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(CONFIG.format(base_url=base_url))
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CODEX_HOME": str(codex_home), "NO_COLOR": "1"}
    result = subprocess.run(
        [str(cli), "exec", "--skip-git-repo-check", prompt],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_codex_exec_runs_a_tool_loop_through_the_proxy(open_proxy, fake_provider, codex_cli, tmp_path):
    """`codex exec` with the proxy as its model provider gets a shell tool call, runs it, sends its output
    back and prints the final answer; the exchange is remembered once, in the project it ran in, as the
    person's prompt and the final answer: no tool output, no AGENTS.md, no environment context."""
    store = tmp_path / "memory.sqlite3"
    memories = local_store_contents(str(store))
    project = tmp_path / "project"
    project.mkdir()
    (project / "AGENTS.md").write_text("Use tabs in this repository.\n")
    prompt = f"multiply for me {fake_directive('tool_call', rounds=1, cmd='echo_$((6*7))')}"
    with open_proxy(context_retrieval={"enabled": True, "local_store_path": str(store)}) as proxy:
        output = codex(codex_cli, prompt, proxy.url, project, tmp_path / "home")
    first, second = model_calls(fake_provider)
    assert (first.endpoint, first.json["stream"], first.json["store"]) == ("/responses", True, False)
    [call] = [item for item in second.json["input"] if item.get("type") == "function_call"]
    assert json.loads(call["arguments"]) == {"cmd": "echo $((6*7))"}
    [result] = [item for item in second.json["input"] if item.get("type") == "function_call_output"]
    assert "42" in str(result["output"])
    assert "echo: multiply for me" in output
    [stored] = memories(project_id(project))
    assert stored.startswith(f"user: {prompt}\nassistant: echo: multiply for me")
    assert str(result["output"]) not in stored
    assert "environment_context" not in stored and "AGENTS.md" not in stored


def test_codex_runs_remember_per_project_and_the_persons_everywhere(
    open_proxy, fake_provider, codex_cli, tmp_path
):
    """Codex in two directories, with no setting: a fact told in one `codex exec` run is recalled in the
    next run in that directory and never in the other; what the person says about themselves is recalled
    in both."""
    store = tmp_path / "memory.sqlite3"
    memories = local_store_contents(str(store))
    first, second = tmp_path / "billing-api", tmp_path / "web"
    first.mkdir()
    second.mkdir()
    home = tmp_path / "home"
    question = "Which build tool is used here, and tabs or spaces?"
    with open_proxy(context_retrieval={"enabled": True, "local_store_path": str(store)}) as proxy:
        codex(codex_cli, "Remember: the build tool in this project is bazel", proxy.url, first, home)
        codex(codex_cli, "I prefer tabs over spaces", proxy.url, first, home)
        codex(codex_cli, question, proxy.url, first, home)
        asked_in_first = json.dumps(model_calls(fake_provider)[-1].json["input"])
        codex(codex_cli, question, proxy.url, second, home)
        asked_in_second = json.dumps(model_calls(fake_provider)[-1].json["input"])
    assert "the build tool in this project is bazel" in asked_in_first
    assert "tabs over spaces" in asked_in_first
    assert "tabs over spaces" in asked_in_second
    assert "bazel" not in asked_in_second.replace(question, "")
    in_first = [m.split("\n")[0] for m in memories(project_id(first))]
    assert "user: Remember: the build tool in this project is bazel" in in_first
    assert [m.split("\n")[0] for m in memories(PERSON)] == ["user: I prefer tabs over spaces"]
