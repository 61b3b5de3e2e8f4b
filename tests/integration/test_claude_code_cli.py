"""The real Claude Code CLI against the proxy, offline: `claude -p` through each backend.

The CLI comes from npm at the version locks/clients pins (./RUN_TESTS.sh installs it; the ``claude_cli``
fixture in tests/conftest.py finds it).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conformance.fakes import fake_directive
from conformance.suites.memory import local_store_contents
from conformance.suites.support import last_call, model_calls
from proxy.interceptor.port_registry import project_id
from proxy.processes import ManagedProcess, free_port
from proxy.scopes import person_namespace

PERSON = person_namespace(None)  # this machine's user: every client here is one person

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def claude(
    cli: Path,
    prompt: str,
    base_url: str,
    workdir: Path,
    *,
    nonessential: bool,
    credential: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> str:
    """One `claude -p` session against ``base_url``, offline, in a throwaway HOME; returns its output.
    ``credential`` is how the CLI authenticates (an API key unless given); ``args`` go to the CLI."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        **(credential or {"ANTHROPIC_API_KEY": "sk-ant-not-a-real-key"}),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_SMALL_FAST_MODEL": "claude-fake",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-fake",
        "DISABLE_AUTOUPDATER": "1",
    }
    if not nonessential:
        env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1"
    result = subprocess.run(
        [str(cli), "-p", prompt, "--model", "claude-fake", *args],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_claude_print_mode_answers_through_the_proxy(open_proxy, fake_provider, claude_cli, tmp_path):
    """`claude -p` with ANTHROPIC_BASE_URL at the proxy prints the provider's answer, and the exchange is
    remembered in the memory of the project it ran in: the CLI's own request named its directory."""
    store = tmp_path / "memory.sqlite3"
    memories = local_store_contents(str(store))
    with open_proxy(context_retrieval={"enabled": True, "local_store_path": str(store)}) as proxy:
        output = claude(claude_cli, "hello from claude code", proxy.url, tmp_path, nonessential=False)
    assert "echo:" in output
    assert "hello from claude code" in output
    upstream = last_call(fake_provider)
    assert upstream.endpoint == "/messages"
    assert upstream.json["stream"] is True
    assert "claude-code-20250219" in upstream.headers.get("anthropic-beta", "")
    stored = memories(project_id(tmp_path))
    assert any("hello from claude code" in item for item in stored)


def test_claude_on_a_subscription_token_uses_it_and_keeps_it_nowhere(
    open_proxy, fake_provider, claude_cli, tmp_path, caplog
):
    """`claude -p` on a subscription-style token (ANTHROPIC_AUTH_TOKEN), memory on, with its model set to
    use the caller's credentials: every provider call carries exactly that token as its Bearer (with
    Anthropic's OAuth beta) and no configured key, the answer arrives and is remembered, and no file the
    proxy wrote nor any line it logged holds the token."""
    token = f"sk-ant-oat01-fake-subscription-{uuid.uuid4().hex}"
    store = tmp_path / "memory.sqlite3"
    memories = local_store_contents(str(store))
    settings = {
        "context_retrieval": {"enabled": True, "local_store_path": str(store)},
        "memory_proxy": {"client_credentials": ["claude-fake"]},
    }
    with caplog.at_level(logging.DEBUG), open_proxy(**settings) as proxy:
        output = claude(
            claude_cli,
            "hello on my subscription",
            proxy.url,
            tmp_path,
            nonessential=True,
            credential={"ANTHROPIC_AUTH_TOKEN": token},
        )
    assert "echo:" in output
    calls = model_calls(fake_provider)
    assert calls
    for call in calls:
        assert call.headers["authorization"] == f"Bearer {token}"
        assert "oauth-2025-04-20" in call.headers.get("anthropic-beta", "")
        assert "x-api-key" not in call.headers
    assert any("hello on my subscription" in m for m in memories(project_id(tmp_path)))
    home = tmp_path / "home"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and home not in p.parents]
    assert written, "the proxy wrote no file: the check below would prove nothing"
    assert not [p for p in written if token.encode() in p.read_bytes()]
    assert token not in caplog.text


def test_three_sessions_remember_a_fact_across_an_unrelated_task(
    open_proxy, fake_provider, claude_cli, tmp_path
):
    """A fact, an unrelated task and a question, in three separate `claude -p` sessions with its
    non-essential traffic on (its title requests too): the question reaches the provider with the fact,
    and what is stored is the person's words: no <system-reminder>, no session title."""
    store = tmp_path / "memory.sqlite3"
    memories = local_store_contents(str(store))
    prompts = ["My favourite editor is Helix.", "Write a haiku about autumn.", "Which editor do I like?"]
    with open_proxy(context_retrieval={"enabled": True, "local_store_path": str(store)}) as proxy:
        for prompt in prompts:
            claude(claude_cli, prompt, proxy.url, tmp_path, nonessential=True)
    sessions = [c for c in model_calls(fake_provider) if c.json.get("tools")]
    titles = [c for c in model_calls(fake_provider) if not c.json.get("tools")]
    assert len(sessions) == 3
    assert titles, "Claude Code sent no title request: the side-request rule went untested"
    injected = sessions[-1].json["system"][-1]["text"]  # after Claude Code's own blocks
    assert "Helix" in injected
    # A preference is the person's, in every project; the rest is the project's.
    stored = memories(PERSON) + memories(project_id(tmp_path))
    assert sorted(item.split("\nassistant:")[0] for item in stored) == sorted(f"user: {p}" for p in prompts)
    assert not any("system-reminder" in item.split("\nassistant:")[0] for item in stored)


def test_two_projects_keep_their_own_memory_and_share_the_persons(
    open_proxy, fake_provider, claude_cli, tmp_path
):
    """Claude Code in two directories, with no setting: what is said about one project is never shown in
    the other, what the person says about themselves is shown in both, and a JetBrains interceptor of the
    first directory (which names its project with x-memory-project) reads the first project's memory."""
    store = tmp_path / "memory.sqlite3"
    memories = local_store_contents(str(store))
    first, second = tmp_path / "billing-api", tmp_path / "web"
    first.mkdir()
    second.mkdir()
    with open_proxy(context_retrieval={"enabled": True, "local_store_path": str(store)}) as proxy:
        claude(
            claude_cli,
            "Remember: the build tool in this project is bazel",
            proxy.url,
            first,
            nonessential=False,
        )
        claude(claude_cli, "I prefer tabs over spaces", proxy.url, first, nonessential=False)
        claude(
            claude_cli,
            "Which build tool is used here, and tabs or spaces?",
            proxy.url,
            second,
            nonessential=False,
        )
        asked_in_second = last_call(fake_provider).json["system"][-1]["text"]
        with proxy.client() as http:
            through_interceptor = http.post(
                "/v1/chat/completions",
                headers={
                    "user-agent": "OpenAIClientImpl/Java unknown",
                    "x-memory-project": project_id(first),
                },
                json={
                    "model": "gpt-fake",
                    "messages": [{"role": "user", "content": "which build tool, tabs or spaces?"}],
                },
            )
    assert "tabs over spaces" in asked_in_second
    assert "bazel" not in asked_in_second
    assert through_interceptor.status_code == 200
    assert through_interceptor.headers["x-memory-project"] == project_id(first)
    recalled = str(last_call(fake_provider).json["messages"])
    assert "the build tool in this project is bazel" in recalled and "tabs over spaces" in recalled
    in_first = [m.split("\n")[0] for m in memories(project_id(first))]
    assert "user: Remember: the build tool in this project is bazel" in in_first
    assert not any("tabs" in m and "prefer" in m for m in in_first)
    assert [m.split("\n")[0] for m in memories(PERSON)] == ["user: I prefer tabs over spaces"]


def test_claude_code_works_against_the_demo_with_no_flags(claude_cli, tmp_path):
    """The README's first run, as written: `./start-proxies` with no config, then `claude -p` with only
    ANTHROPIC_BASE_URL and a placeholder key. Claude Code asks for its own default model with thinking
    settings; the demo answers any model name and drops what an echo cannot take. A fact told in one
    session is recalled in the next, and the demo keeps it in its own store, not the user's default one."""
    port = free_port()
    data = tmp_path / "data"
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("MEMORY_PROXY_", "OPENAI_", "ANTHROPIC_"))
    }
    with ManagedProcess(
        [sys.executable, "-m", "proxy.launcher", "--port", str(port)],
        env={**environment, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "XDG_DATA_HOME": str(data)},
        cwd=tmp_path,
    ) as launcher:
        launcher.wait_for_line(r"memory proxy ready", timeout=90)
        advertised = launcher.wait_for_line(r"Claude Code: (.*)$").group(1)
        assert advertised.startswith(
            f"ANTHROPIC_BASE_URL=http://127.0.0.1:{port} ANTHROPIC_API_KEY=any claude -p"
        )
        home = tmp_path / "home"
        home.mkdir()
        readme_env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",
            "ANTHROPIC_API_KEY": "any",
        }
        answers = []
        for prompt, expect_recall in (("hi, I am Sam and I write Rust", False), ("what do I write?", True)):
            for _ in range(50):  # write-back is off the request path: the second session may come early
                result = subprocess.run(
                    [str(claude_cli), "-p", prompt],
                    env=readme_env,
                    cwd=tmp_path,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
                if not expect_recall or "I write Rust" in result.stdout.split("Relevant memories", 1)[-1]:
                    break
                time.sleep(0.2)
            answers.append(result.stdout)
    assert answers[0].startswith("[demo model, no provider called]")
    assert "Relevant memories" in answers[1] and "I am Sam and I write Rust" in answers[1]
    assert (data / "litellm-memory-proxy" / "demo-memory.sqlite3").exists()
    assert not (data / "litellm-memory-proxy" / "memory.sqlite3").exists()


def test_claude_uses_the_proxys_mcp_memory_and_it_is_the_memory_requests_use(
    open_proxy, fake_provider, claude_cli, tmp_path
):
    """`claude -p --mcp-config` with the proxy's /mcp: the model calls the memory's `remember` tool, and a
    later plain session in that directory has the note injected (the MCP session worked in the directory's
    project, named by Claude Code's roots); the reverse: what a plain session said, the `recall` tool finds,
    and the tool's answer reaches the model."""
    store = tmp_path / "memory.sqlite3"
    memories = local_store_contents(str(store))
    project = tmp_path / "billing-api"
    project.mkdir()
    with open_proxy(context_retrieval={"enabled": True, "local_store_path": str(store)}) as proxy:
        mcp = json.dumps({"mcpServers": {"memory": {"type": "http", "url": f"{proxy.url}/mcp"}}})
        with_mcp = ("--mcp-config", mcp, "--allowedTools", "mcp__memory__remember,mcp__memory__recall")
        remember = fake_directive(
            "tool_call", rounds=1, tool="mcp__memory__remember", arg_note="the_deploy_key_rotates_on_Fridays"
        )
        claude(claude_cli, f"keep this {remember}", proxy.url, project, nonessential=False, args=with_mcp)
        handed_back = str(last_call(fake_provider).json["messages"][-1])
        claude(claude_cli, "When does the deploy key rotate?", proxy.url, project, nonessential=False)
        asked = last_call(fake_provider).json["system"][-1]["text"]

        claude(claude_cli, "Our staging database is called pelican.", proxy.url, project, nonessential=False)
        recall = fake_directive(
            "tool_call", rounds=1, tool="mcp__memory__recall", arg_query="staging_database"
        )
        claude(claude_cli, f"look it up {recall}", proxy.url, project, nonessential=False, args=with_mcp)
        tool_answer = str(last_call(fake_provider).json["messages"][-1])
    assert "tool_result" in handed_back and project_id(project) in handed_back  # the tool's answer
    assert "the deploy key rotates on Fridays" in memories(project_id(project))
    assert "the deploy key rotates on Fridays" in asked
    assert "pelican" in tool_answer
