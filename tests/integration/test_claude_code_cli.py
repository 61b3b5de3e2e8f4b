"""The real Claude Code CLI against the proxy, offline: `claude -p` through each backend.

The CLI installs from npm (its package carries the native binary); where npm or the registry is not
available, the test skips saying so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.suites.support import last_call, model_calls

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLAUDE_CODE_VERSION = "2.1.197"  # the version whose request fixtures/claude-code-2.1.197-request.json holds


@pytest.fixture(scope="session")
def claude_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the Claude Code CLI comes from npm")
    prefix = tmp_path_factory.mktemp("claude-code")
    result = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(prefix),
            f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    cli = prefix / "node_modules" / ".bin" / "claude"
    if result.returncode != 0 or not cli.exists():
        pytest.skip(f"could not install Claude Code from npm: {result.stderr.strip()[-300:]}")
    return cli


def claude(cli: Path, prompt: str, base_url: str, workdir: Path, *, nonessential: bool) -> str:
    """One `claude -p` session against ``base_url``, offline, in a throwaway HOME; returns its output."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_API_KEY": "sk-ant-not-a-real-key",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_SMALL_FAST_MODEL": "claude-fake",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-fake",
        "DISABLE_AUTOUPDATER": "1",
    }
    if not nonessential:
        env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1"
    result = subprocess.run(
        [str(cli), "-p", prompt, "--model", "claude-fake"],
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
    remembered under claude-code: the CLI's own User-Agent routed it."""
    store = tmp_path / "memory.sqlite3"
    with open_proxy(context_retrieval={"enabled": True, "local_store_path": str(store)}) as proxy:
        output = claude(claude_cli, "hello from claude code", proxy.url, tmp_path, nonessential=False)
    assert "echo:" in output
    assert "hello from claude code" in output
    upstream = last_call(fake_provider)
    assert upstream.endpoint == "/messages"
    assert upstream.json["stream"] is True
    assert "claude-code-20250219" in upstream.headers.get("anthropic-beta", "")
    stored = asyncio.run(_contents(store, "claude-code"))
    assert any("hello from claude code" in item for item in stored)


def test_three_sessions_remember_a_fact_across_an_unrelated_task(
    open_proxy, fake_provider, claude_cli, tmp_path
):
    """A fact, an unrelated task and a question, in three separate `claude -p` sessions with its
    non-essential traffic on (its title requests too): the question reaches the provider with the fact,
    and what is stored is the person's words: no <system-reminder>, no session title."""
    store = tmp_path / "memory.sqlite3"
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
    stored = asyncio.run(_contents(store, "claude-code"))
    assert sorted(item.split("\nassistant:")[0] for item in stored) == sorted(f"user: {p}" for p in prompts)
    assert not any("system-reminder" in item.split("\nassistant:")[0] for item in stored)


async def _contents(path: Path, user_id: str) -> list[str]:
    from proxy.memory.local_store import LocalMemoryStore

    store = LocalMemoryStore(path)
    try:
        return [record.content for record in await store.list(user_id)]
    finally:
        await store.close()
