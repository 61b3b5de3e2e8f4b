"""``/mcp`` with the official MCP SDK's own client: the memory as tools, scoped as requests are.

The proxy is served on loopback (the SDK's client speaks real HTTP, and MCP sessions need the app's
lifespan), with a canned backend and a local store; each test opens one or more MCP sessions as an agent
would, and checks the tools' answers and what the store holds after.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.fakes.loopback import LoopbackServer
from conformance.suites.mcp import mcp_session, tool_error, tool_result
from proxy.app import create_app
from proxy.config import parse_config
from proxy.memory.stores.local.store import LocalMemoryStore
from proxy.scopes import person_namespace, project_id
from tests.doubles import CannedBackend

PERSON = person_namespace("sam")
PROJECT_DIR = "/home/sam/billing-api"
PROJECT = project_id(PROJECT_DIR)


def proxy_config(store: Path, **memory_proxy: Any) -> Any:
    return parse_config(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": "sk-x"}}],
            "context_retrieval": {"local_store_path": str(store), "semantic": False},
            "user_id_mappings": {"person": "sam"},
            "memory_proxy": memory_proxy,
        },
        source="test",
    )


@pytest.fixture
def canned() -> CannedBackend:
    return CannedBackend()


@pytest.fixture
def proxy(tmp_path: Path, canned: CannedBackend) -> Iterator[LoopbackServer]:
    app = create_app(proxy_config(tmp_path / "memory.sqlite3"), canned)
    with LoopbackServer(app, lifespan="on") as server:
        yield server


async def contents(path: Path, namespace: str) -> list[str]:
    """What the store at ``path`` holds for ``namespace``, newest first (read beside the proxy, as a second
    process on the file would)."""
    store = LocalMemoryStore(path)
    try:
        return [record.content for record in await store.list(namespace)]
    finally:
        await store.close()


async def test_the_tools_are_listed_with_their_arguments(proxy: LoopbackServer) -> None:
    async with mcp_session(f"{proxy.url}/mcp") as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == {"remember", "recall", "forget", "list_recent"}
    assert tools["remember"].input_schema["required"] == ["note"]
    assert tools["recall"].input_schema["required"] == ["query"]


async def test_a_session_in_a_project_remembers_recalls_and_forgets_there(
    proxy: LoopbackServer, tmp_path: Path
):
    """The client's root names the project: a project fact goes to the project, what the person says of
    themselves to the person; recall finds both, labelled, with ids that forget takes."""
    async with mcp_session(f"{proxy.url}/mcp", roots=[PROJECT_DIR]) as session:
        fact = tool_result(await session.call_tool("remember", {"note": "the deploy key rotates on Fridays"}))
        mine = tool_result(await session.call_tool("remember", {"note": "I prefer tabs over spaces"}))
        found = tool_result(await session.call_tool("recall", {"query": "when does the deploy key rotate?"}))
        recent = tool_result(await session.call_tool("list_recent", {"limit": 5}))
        forgot = await session.call_tool("forget", {"id": fact["id"]})
        again = await session.call_tool("forget", {"id": fact["id"]})
    assert (fact["namespace"], fact["kind"]) == (PROJECT, "project")
    assert (mine["namespace"], mine["kind"]) == (PERSON, "person")
    assert [(item["content"], item["kind"], item["signal"]) for item in found] == [
        ("the deploy key rotates on Fridays", "project", "words")
    ]
    assert found[0]["id"] == fact["id"] and found[0]["created_at"].endswith("+00:00")
    assert [item["content"] for item in recent] == [
        "I prefer tabs over spaces",
        "the deploy key rotates on Fridays",
    ]
    assert not forgot.is_error
    assert "No memory" in tool_error(again)
    assert await contents(tmp_path / "memory.sqlite3", PROJECT) == []
    assert await contents(tmp_path / "memory.sqlite3", PERSON) == ["I prefer tabs over spaces"]


async def test_a_root_of_any_name_is_its_project(proxy: LoopbackServer) -> None:
    """A directory named in any script is a project like any other (its id goes in no header as a path)."""
    root = "/home/Юля/приложение"
    async with mcp_session(f"{proxy.url}/mcp", roots=[root]) as session:
        stored = tool_result(await session.call_tool("remember", {"note": "the linter is ruff"}))
    assert (stored["namespace"], stored["kind"]) == (project_id(root), "project")


async def test_the_clients_roots_are_asked_once_per_session(proxy: LoopbackServer) -> None:
    asked: list[str] = []
    async with mcp_session(f"{proxy.url}/mcp", roots=[PROJECT_DIR], asked=asked) as session:
        for _ in range(3):
            assert tool_result(await session.call_tool("list_recent", {})) == []
    async with mcp_session(f"{proxy.url}/mcp", roots=[PROJECT_DIR], asked=asked) as session:
        await session.call_tool("list_recent", {})
    assert asked == ["roots/list", "roots/list"]  # one per session


async def test_a_note_remembered_by_the_tool_is_recalled_into_a_plain_request_and_the_reverse(
    proxy: LoopbackServer, canned: CannedBackend
) -> None:
    """One memory, whichever way the agent reaches for it: the request names the same project (here by
    its header, as the interceptor sends it) and gets the tool's note injected; what the request stored
    is what the tool then recalls."""
    async with mcp_session(f"{proxy.url}/mcp", roots=[PROJECT_DIR]) as session:
        await session.call_tool("remember", {"note": "the staging database is called pelican"})
        async with httpx.AsyncClient(base_url=proxy.url, timeout=30) as client:
            body = {
                "model": "m",
                "messages": [{"role": "user", "content": "which staging database do we use?"}],
            }
            answer = await client.post(
                "/v1/chat/completions", json=body, headers={"x-memory-project": PROJECT_DIR}
            )
            said = {
                "model": "m",
                "messages": [{"role": "user", "content": "our linter is ruff, remember it"}],
            }
            await client.post("/v1/chat/completions", json=said, headers={"x-memory-project": PROJECT_DIR})
            for _ in range(100):  # write-back runs after the answer
                if (await client.get("/memory/status")).json()["write_back"]["stored"] >= 2:
                    break
        found = tool_result(await session.call_tool("recall", {"query": "which linter?"}))
    assert answer.headers["x-memory-status"] == "used"
    assert "pelican" in str(canned.calls[0].payload["messages"])  # what the provider was sent
    assert any("our linter is ruff" in item["content"] for item in found)


async def test_projects_and_clients_never_see_each_others_memories(proxy: LoopbackServer) -> None:
    async with mcp_session(f"{proxy.url}/mcp", roots=[PROJECT_DIR]) as billing:
        await billing.call_tool("remember", {"note": "the build tool in this project is bazel"})
    async with mcp_session(f"{proxy.url}/mcp", roots=["/home/sam/other"]) as other:
        elsewhere = tool_result(await other.call_tool("recall", {"query": "which build tool?"}))
        other_id = tool_result(await other.call_tool("remember", {"note": "the build tool here is make"}))[
            "id"
        ]
    async with mcp_session(f"{proxy.url}/mcp") as plain:  # no roots: the client's own namespace
        nowhere = tool_result(await plain.call_tool("recall", {"query": "which build tool?"}))
        cross = await plain.call_tool("forget", {"id": other_id})
    assert elsewhere == [] and nowhere == []
    assert "No memory" in tool_error(cross)


async def test_a_header_names_the_namespace_as_it_does_for_requests(proxy: LoopbackServer) -> None:
    named = {"x-memory-user-id": "team-notes"}
    async with mcp_session(f"{proxy.url}/mcp", roots=[PROJECT_DIR], headers=named) as s:
        stored = tool_result(await s.call_tool("remember", {"note": "standup is at ten"}))
    async with mcp_session(f"{proxy.url}/mcp", headers={"x-memory-user-id": "bad id!"}) as s:
        refused = await s.call_tool("recall", {"query": "standup"})
    assert (stored["namespace"], stored["kind"]) == ("team-notes", "client")
    assert "x-memory-user-id" in tool_error(refused)


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        ("remember", {}, "note"),
        ("remember", {"note": ""}, "note"),
        ("remember", {"note": "x", "where": "everywhere"}, "where"),
        ("remember", {"note": "x", "where": "person"}, "no project"),
        ("recall", {"query": "x", "limit": 0}, "limit"),
        ("recall", {"query": 7}, "query"),
        ("forget", {"id": ""}, "id"),
        ("no_such_tool", {}, "Unknown tool"),
    ],
)
async def test_bad_arguments_are_tool_errors_naming_what_is_wrong_without_a_traceback(
    proxy: LoopbackServer, tool: str, arguments: dict[str, Any], named: str
) -> None:
    async with mcp_session(f"{proxy.url}/mcp") as session:
        result = await session.call_tool(tool, arguments)
    text = tool_error(result)
    assert named in text
    assert "Traceback" not in text and 'File "' not in text


async def test_with_a_key_mcp_needs_it(tmp_path: Path) -> None:
    app = create_app(proxy_config(tmp_path / "memory.sqlite3", auth_key="mcp-key-4f9a1c77"), CannedBackend())
    with LoopbackServer(app, lifespan="on") as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            refused = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        key = {"authorization": "Bearer mcp-key-4f9a1c77"}
        async with mcp_session(f"{server.url}/mcp", headers=key) as session:
            tools = (await session.list_tools()).tools
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"
    assert "mcp-key-4f9a1c77" not in refused.text
    assert len(tools) == 4


async def test_mcp_can_be_turned_off(tmp_path: Path) -> None:
    app = create_app(proxy_config(tmp_path / "memory.sqlite3", mcp=False), CannedBackend())
    with LoopbackServer(app, lifespan="on") as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            answer = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert answer.status_code == 404


async def test_an_app_started_twice_serves_mcp_each_time_and_never_before_it_starts(tmp_path: Path) -> None:
    """The MCP sessions live with the app's lifespan: a second start gets a session manager of its own (one
    runs only once), and a request outside the lifespan is a 503 in the envelope, not a crash."""
    app = create_app(proxy_config(tmp_path / "memory.sqlite3"), CannedBackend())
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as client:
        before = await client.post("/mcp", json=body)
    for _ in range(2):
        with LoopbackServer(app, lifespan="on") as server:
            async with mcp_session(f"{server.url}/mcp") as session:
                assert len((await session.list_tools()).tools) == 4
    assert before.status_code == 503
    assert before.json()["error"]["type"] == "service_unavailable"


def test_serving_mcp_leaves_the_applications_logging_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's server sets the root logger up (a rich handler at INFO) when it is made, unless something
    did before; under uvicorn nothing had, and the proxy's terminal showed every request httpx made."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # as a process starts (pytest's own capture set aside)
    monkeypatch.setattr(root, "level", logging.WARNING)
    create_app(proxy_config(tmp_path / "memory.sqlite3"), CannedBackend())
    assert (root.handlers, root.level) == ([], logging.WARNING)
