"""MCP parity: ``/mcp`` serves the proxy's memory as tools, over the official MCP SDK's own client.

One memory, whichever way an agent reaches for it: a note the ``remember`` tool stores is injected into a
later plain request of the same project, what a request stored the ``recall`` tool finds, and a session
only ever sees and forgets its own project's and person's memories. The session's project comes from the
client's roots (an agent started in a directory declares it), as Claude Code's does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx2
import mcp_types
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from conformance.capabilities import Capability
from conformance.suites.support import last_call, model_calls, unique

__all__ = ["McpSuite", "mcp_session", "tool_error", "tool_result"]

_T = TypeVar("_T")

PROJECT = "x-memory-project"
"""The header a request names its project with (the interceptor's, or any client's)."""


@asynccontextmanager
async def mcp_session(
    url: str,
    *,
    roots: list[str] | None = None,
    headers: dict[str, str] | None = None,
    asked: list[str] | None = None,
) -> AsyncIterator[ClientSession]:
    """An initialised MCP session at ``url`` (the proxy's ``/mcp``); ``roots`` are the client's directories,
    as an agent started in one declares it (None: the client declares no roots); each time the server asks
    for them, ``asked`` (if given) gets an entry."""

    async def list_roots(_: Any) -> mcp_types.ListRootsResult:
        if asked is not None:
            asked.append("roots/list")
        return mcp_types.ListRootsResult(roots=[mcp_types.Root(uri=f"file://{path}") for path in roots or []])

    async with (
        httpx2.AsyncClient(headers=headers or {}, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write, *_),
        ClientSession(read, write, list_roots_callback=list_roots if roots is not None else None) as session,
    ):
        await session.initialize()
        yield session


def tool_result(result: mcp_types.CallToolResult) -> Any:
    """A tool call's structured answer (a list tool's list), failing on a tool error."""
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content.get("result", result.structured_content)


def tool_error(result: mcp_types.CallToolResult) -> str:
    """A failed tool call's message."""
    assert result.is_error, result.structured_content
    return " ".join(part.text for part in result.content if isinstance(part, mcp_types.TextContent))


def _run(work: Callable[[], Awaitable[_T]]) -> _T:
    return asyncio.run(work())  # type: ignore[arg-type]


def _memory_on(tmp_path: Any) -> dict[str, Any]:
    return {"context_retrieval": {"enabled": True, "local_store_path": str(tmp_path / "memory.sqlite3")}}


@pytest.mark.parity
@pytest.mark.requires(Capability.MCP)
class McpSuite:
    def test_the_memory_tools_are_served(self, open_proxy, tmp_path):
        """``/mcp`` answers an MCP session with the tools remember, recall, forget and list_recent."""

        async def listed() -> set[str]:
            async with mcp_session(f"{proxy.url}/mcp") as session:
                return {tool.name for tool in (await session.list_tools()).tools}

        with open_proxy(**_memory_on(tmp_path)) as proxy:
            assert {"remember", "recall", "forget", "list_recent"} <= _run(listed)

    def test_a_remembered_note_is_injected_into_a_request_of_the_same_project(self, open_proxy, tmp_path):
        """A note the ``remember`` tool stored in a session rooted in a project reaches the provider with a
        later chat request naming that project, and not with one naming another."""
        note = unique("the staging database is called pelican")
        project = str(tmp_path / "billing-api")

        async def remember() -> Any:
            async with mcp_session(f"{proxy.url}/mcp", roots=[project]) as session:
                return tool_result(await session.call_tool("remember", {"note": note}))

        with open_proxy(**_memory_on(tmp_path)) as proxy, proxy.client() as http:
            stored = _run(remember)
            question = {"model": "gpt-fake", "messages": [{"role": "user", "content": "which staging db?"}]}
            here = http.post("/v1/chat/completions", json=question, headers={PROJECT: project})
            here_sent = str(last_call(proxy.provider).json["messages"])
            other = http.post("/v1/chat/completions", json=question, headers={PROJECT: "/elsewhere"})
            other_sent = str(last_call(proxy.provider).json["messages"])
        assert stored["kind"] == "project"
        assert here.status_code == 200 and here.headers["x-memory-status"] == "used"
        assert note in here_sent
        assert other.status_code == 200 and note not in other_sent

    def test_recall_finds_what_a_request_stored_and_forget_takes_only_the_sessions_own(
        self, open_proxy, tmp_path, fake_provider
    ):
        """What a chat request of a project stored, a session rooted there recalls (with its id), forgets
        by that id, and a session of another project can neither find nor forget."""
        fact = unique("our linter is ruff")
        project = str(tmp_path / "web")

        async def recall_then_forget() -> tuple[Any, Any, str, Any]:
            async with mcp_session(f"{proxy.url}/mcp", roots=["/somewhere/else"]) as other:
                elsewhere = tool_result(await other.call_tool("recall", {"query": "which linter?"}))
            async with mcp_session(f"{proxy.url}/mcp", roots=[project]) as session:
                found = tool_result(await session.call_tool("recall", {"query": "which linter?"}))
                async with mcp_session(f"{proxy.url}/mcp", roots=["/somewhere/else"]) as other:
                    cross = tool_error(await other.call_tool("forget", {"id": found[0]["id"]}))
                forgot = await session.call_tool("forget", {"id": found[0]["id"]})
                left = tool_result(await session.call_tool("recall", {"query": "which linter?"}))
            return found, elsewhere, cross, (forgot, left)

        with open_proxy(**_memory_on(tmp_path)) as proxy, proxy.client() as http:
            said = {"model": "gpt-fake", "messages": [{"role": "user", "content": fact}]}
            told = http.post("/v1/chat/completions", json=said, headers={PROJECT: project})
            stored = len(model_calls(fake_provider))
            for _ in range(200):  # write-back runs after the answer
                if http.get("/memory/status").json()["write_back"]["stored"] >= 1:
                    break
            found, elsewhere, cross, (forgot, left) = _run(recall_then_forget)
        assert told.status_code == 200 and stored == 1
        assert [item["content"].startswith(f"user: {fact}") for item in found] == [True]
        assert elsewhere == []
        assert "No memory" in cross
        assert not forgot.is_error and left == []
