"""Memory parity: each client recalls its own memories, never another's, on every backend and store.

A "store" here is what ``context_retrieval.provider`` names: the embedded local store (SQLite in the
test's folder), Supermemory (the kit's fake on loopback) or PostgreSQL (a fresh database on a real server,
see :mod:`conformance.postgres`). A test that needs the write-back of an exchange to have happened closes
the proxy first: shutdown flushes pending writes, so no test waits on a timer, and the next proxy on the
same store shows that memory survives a restart.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance import resources
from conformance.capabilities import Capability
from conformance.fakes import FakeSupermemory, echo_reply, fake_directive
from conformance.suites.responses import responses_text
from conformance.suites.support import chat_body, content_of, last_call, model_calls, read_sse, unique

__all__ = ["MemoryFailureSuite", "MemorySuite", "MemoryUnderTest", "local_store_contents"]

TEAL = "my favourite colour is teal"
QUESTION = "what is my favourite colour?"
CLIENT_A = {"x-memory-user-id": "client-a"}
CLIENT_B = {"x-memory-user-id": "client-b"}
RESPONSES = pytest.param("responses", marks=pytest.mark.requires(Capability.RESPONSES_API))


@dataclass
class MemoryUnderTest:
    """A memory store as the suite sees it: the config that selects it, and a backdoor to its contents."""

    name: str
    settings: dict[str, Any]
    contents: Callable[[str], list[str]]
    extra: dict[str, Any] = field(default_factory=dict)

    def config(self, **context_retrieval: Any) -> dict[str, Any]:
        return {"context_retrieval": {"enabled": True, **self.settings, **context_retrieval}}


def local_store_contents(path: str) -> Callable[[str], list[str]]:
    """A reader of the local store at ``path``: a namespace's memories (their text), newest first."""

    def contents(user_id: str) -> list[str]:
        from proxy.memory.stores.local.store import LocalMemoryStore

        async def read() -> list[str]:
            store = LocalMemoryStore(path)
            try:
                return [record.content for record in await store.list(user_id)]
            finally:
                await store.close()

        return asyncio.run(read())

    return contents


def _postgres_contents(dsn: str) -> Callable[[str], list[str]]:
    def contents(user_id: str) -> list[str]:
        import psycopg

        from proxy.memory.stores.postgres.schema import MEMORIES

        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                f"SELECT content FROM {MEMORIES} WHERE user_id = %s ORDER BY created_at DESC, seq DESC",
                (user_id,),
            ).fetchall()
        return [content for (content,) in rows]

    return contents


def _ask(proxy: Any, text: str, headers: dict[str, str], **fields: Any) -> Any:
    with proxy.client(headers=headers) as http:
        return http.post("/v1/chat/completions", json=chat_body(text, **fields))


TOOLS = {
    "chat": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    "messages": [{"name": "lookup", "input_schema": {"type": "object"}}],
    "responses": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
}
CODEX_REQUEST = "codex-0.171.0-exec-request.json"
"""Codex CLI's real first request, captured (a resource of the kit)."""
CODEX_TOOL_LOOP = "codex-0.171.0-tool-loop.json"
"""Codex CLI's two requests of a shell tool loop, captured (a resource of the kit)."""


def _converse(http: Any, api: str, history: list[dict[str, Any]], *, stream: bool) -> Any:
    """One turn of a conversation, as a client with tools and a system prompt of its own sends it (a
    Responses client re-sends the whole conversation, as Codex does with ``store: false``)."""
    if api == "chat":
        body = {"model": "gpt-fake", "messages": [{"role": "system", "content": "Be brief."}, *history]}
        path = "/v1/chat/completions"
    elif api == "responses":
        body = {"model": "gpt-fake", "instructions": "Be brief.", "input": list(history), "store": False}
        path = "/v1/responses"
    else:
        system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
        body = {"model": "claude-fake", "max_tokens": 200, "system": system, "messages": list(history)}
        path = "/v1/messages"
    return http.post(path, json={**body, "tools": TOOLS[api], "stream": stream})


def _reply_text(api: str, response: Any) -> str:
    if "text/event-stream" not in response.headers.get("content-type", ""):
        body = response.json()
        if api == "chat":
            return body["choices"][0]["message"]["content"]
        if api == "responses":
            return responses_text(body)
        return "".join(block.get("text", "") for block in body["content"])
    events = read_sse(response)
    if api == "chat":
        return content_of(events)
    if api == "responses":
        return "".join(e.data["delta"] for e in events if e.event == "response.output_text.delta")
    return "".join(
        event.data["delta"].get("text", "") for event in events if event.event == "content_block_delta"
    )


def _prefix(api: str, body: dict[str, Any]) -> list[Any]:
    """What a provider caches a prompt by, in order: for chat the messages, for Messages the system blocks
    and then the messages."""
    if api == "chat":
        return list(body["messages"])
    if api == "responses":
        return [body.get("instructions"), *body["input"]]
    system = body.get("system")
    return [*(system if isinstance(system, list) else [system]), *body["messages"]]


def _claude_code() -> dict[str, Any]:
    """Claude Code's real first request, captured (a resource of the kit)."""
    captured: dict[str, Any] = resources.read_json("claude-code-2.1.197-request.json")
    return captured


def _claude_code_asking(prompt: str) -> dict[str, Any]:
    """The captured request with another prompt in its last text part (its reminders kept)."""
    body = _claude_code()["body"]
    first = body["messages"][0]["content"]
    first[-1] = {**first[-1], "text": prompt}
    return body


def _codex() -> dict[str, Any]:
    """Codex CLI's real first request, captured (a resource of the kit)."""
    captured: dict[str, Any] = resources.read_json(CODEX_REQUEST)["requests"][0]
    return captured


def _codex_asking(prompt: str) -> dict[str, Any]:
    """The captured request with another prompt as its last item (its AGENTS.md and environment kept)."""
    body = _codex()["body"]
    body["input"][-1]["content"] = [{"type": "input_text", "text": prompt}]
    return {**body, "model": "gpt-fake"}


def _tool_loop_request(api: str, history: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    if api == "chat":
        return "/v1/chat/completions", {"model": "gpt-fake", "messages": history, "tools": TOOLS["chat"]}
    if api == "responses":
        return "/v1/responses", {"model": "gpt-fake", "input": history, "tools": TOOLS["responses"]}
    body = {"model": "claude-fake", "max_tokens": 200, "messages": history, "tools": TOOLS["messages"]}
    return "/v1/messages", body


def _continue_tool_loop(api: str, answer: dict[str, Any], history: list[dict[str, Any]]) -> bool:
    """Append the answer and, if it called a tool, the tool's result, as an agent would; False at the end."""
    if api == "responses":
        calls = [item for item in answer["output"] if item["type"] == "function_call"]
        history.extend(answer["output"])
        history.extend(
            {"type": "function_call_output", "call_id": c["call_id"], "output": "TOOL OUTPUT: notes"}
            for c in calls
        )
        return bool(calls)
    if api == "chat":
        message = answer["choices"][0]["message"]
        history.append({k: v for k, v in message.items() if v is not None or k == "content"})
        for call in message.get("tool_calls") or ():
            history.append({"role": "tool", "tool_call_id": call["id"], "content": "TOOL OUTPUT: notes"})
        return bool(message.get("tool_calls"))
    history.append({"role": "assistant", "content": answer["content"]})
    uses = [block for block in answer["content"] if block.get("type") == "tool_use"]
    if uses:
        results = [
            {"type": "tool_result", "tool_use_id": u["id"], "content": "TOOL OUTPUT: notes"} for u in uses
        ]
        history.append({"role": "user", "content": results})
    return bool(uses)


def _sent_text(proxy: Any) -> str:
    return "\n".join(str(message.get("content")) for message in last_call(proxy.provider).json["messages"])


@pytest.mark.parity
@pytest.mark.requires(Capability.MEMORY)
class MemorySuite:
    @pytest.fixture(params=["local", "supermemory", "postgres"])
    def memory(self, request: pytest.FixtureRequest, tmp_path: Any) -> MemoryUnderTest:
        """Each store in turn (a fixture of the suite, so a one-line subclass carries it along)."""
        if request.param == "local":
            path = str(tmp_path / "memory.sqlite3")
            return MemoryUnderTest(
                "local", {"provider": "local", "local_store_path": path}, local_store_contents(path)
            )
        if request.param == "postgres":
            dsn: str = request.getfixturevalue("postgres_database")
            return MemoryUnderTest("postgres", {"provider": "postgres", "dsn": dsn}, _postgres_contents(dsn))
        supermemory: FakeSupermemory = request.getfixturevalue("fake_supermemory")
        return MemoryUnderTest(
            "supermemory",
            {"provider": "supermemory", "api_key": supermemory.api_key},
            lambda user_id: [document.content for document in supermemory.documents(user_id)],
            {"fake": supermemory},
        )

    def test_a_client_recalls_only_its_own_memories(self, open_proxy, memory):
        """What client A told the proxy reaches the provider in A's later requests, and never in B's."""
        with open_proxy(**memory.config()) as proxy:
            told = _ask(proxy, TEAL, CLIENT_A)
            assert told.status_code == 200
        assert any("teal" in item for item in memory.contents("client-a"))
        assert memory.contents("client-b") == []
        with open_proxy(**memory.config()) as proxy:  # a restart: the memory is still there
            asked = _ask(proxy, QUESTION, CLIENT_A)
            assert asked.status_code == 200
            assert asked.headers["x-memory-status"] == "used"
            assert "teal" in _sent_text(proxy)
            other = _ask(proxy, QUESTION, CLIENT_B)
            assert other.status_code == 200
            assert other.headers["x-memory-status"] == "skipped"
            assert "teal" not in _sent_text(proxy)

    def test_recalled_memory_is_a_system_message_before_the_question(self, open_proxy, memory):
        """With injection 'system', recalled memory arrives as a system message; the question is unchanged."""
        with open_proxy(**memory.config()) as proxy:
            _ask(proxy, TEAL, CLIENT_A)
        with open_proxy(**memory.config(injection_strategy="system")) as proxy:
            _ask(proxy, QUESTION, CLIENT_A)
            sent = last_call(proxy.provider).json["messages"]
        assert sent[0]["role"] == "system"
        assert "teal" in sent[0]["content"]
        assert sent[-1] == {"role": "user", "content": QUESTION}

    def test_streamed_answers_are_remembered_after_the_last_chunk(self, open_proxy, memory):
        """A streamed exchange is stored too, with the whole answer, once the stream has ended."""
        text = unique("I keep bees in Lisbon")
        with (
            open_proxy(**memory.config()) as proxy,
            proxy.client(headers=CLIENT_A) as http,
            http.stream("POST", "/v1/chat/completions", json=chat_body(text, stream=True)) as response,
        ):
            assert content_of(read_sse(response)) == echo_reply(text)
        [stored] = memory.contents("client-a")
        assert text in stored
        assert echo_reply(text) in stored

    @pytest.mark.parametrize("api", ["chat", "messages", RESPONSES])
    def test_a_conversation_reaches_the_provider_as_a_growing_prefix(self, open_proxy, memory, api):
        """Each turn of a conversation reaches the provider as the previous turn's tools, system and
        messages byte for byte, then the new ones: memory recalled on turn 1 stays where it was, so the
        provider's prompt cache keeps hitting, streaming or not."""
        with open_proxy(**memory.config()) as proxy:
            assert _ask(proxy, TEAL, CLIENT_A).status_code == 200
        questions = [QUESTION, "and the colour of the sky?", "what about the sea?", "thanks, that is all"]
        history: list[dict[str, Any]] = []
        with open_proxy(**memory.config()) as proxy, proxy.client(headers=CLIENT_A) as http:
            for number, question in enumerate(questions):
                history.append({"role": "user", "content": question})
                answer = _converse(http, api, history, stream=number % 2 == 1)
                assert answer.status_code == 200, answer.text
                if number == 0:
                    assert answer.headers["x-memory-status"] == "used"
                history.append({"role": "assistant", "content": _reply_text(api, answer)})
            sent = [record.json for record in model_calls(proxy.provider)][1:]  # after the first proxy's
        assert len(sent) == len(questions)
        assert "teal" in json.dumps(_prefix(api, sent[0]))
        for earlier, later in itertools.pairwise(sent):
            assert _prefix(api, later)[: len(_prefix(api, earlier))] == _prefix(api, earlier)
            assert {k: later.get(k) for k in ("tools", "system", "instructions")} == {
                k: earlier.get(k) for k in ("tools", "system", "instructions")
            }

    @pytest.mark.parametrize("api", ["chat", "messages", RESPONSES])
    def test_a_tool_loop_is_remembered_once_as_the_prompt_and_its_final_answer(self, open_proxy, memory, api):
        """Three tool_use/tool_result rounds store one memory: the person's prompt (without the client's
        <system-reminder>) and the final answer; no tool output, no intermediate step."""
        prompt = f"Summarise my notes file {fake_directive('tool_call', rounds=3, say='Let_me_read_it.')}"
        part = "input_text" if api == "responses" else "text"
        first = [{"type": part, "text": "<system-reminder>Today is Monday.</system-reminder>"},
                 {"type": part, "text": prompt}]  # fmt: skip
        history: list[dict[str, Any]] = [{"role": "user", "content": first}]
        with open_proxy(**memory.config()) as proxy, proxy.client(headers=CLIENT_A) as http:
            for _ in range(5):
                path, body = _tool_loop_request(api, history)
                response = http.post(path, json=body)
                assert response.status_code == 200, response.text
                if not _continue_tool_loop(api, response.json(), history):
                    break
            assert len(model_calls(proxy.provider)) == 4
        [stored] = memory.contents("client-a")
        assert stored.startswith(f"user: {prompt}\nassistant:")
        assert "TOOL OUTPUT" not in stored
        assert "Let me read it." not in stored
        assert "system-reminder" not in stored.split("\nassistant:")[0]  # (the fake's echo may quote it)

    def test_claude_codes_captured_request_is_remembered_bare_and_recalled_after_its_system(
        self, open_proxy, memory
    ):
        """Claude Code's real request (captured from 2.1.197): the memory is the person's prompt without the
        CLI's <system-reminder>, and the next session gets it after the CLI's own system blocks, which reach
        the provider unchanged with their cache breakpoints (at most 4 in all)."""
        captured = _claude_code()
        headers = {
            key: captured["headers"][key] for key in ("user-agent", "anthropic-beta", "anthropic-version")
        }
        telling = _claude_code_asking("My favourite editor is Helix.")
        with (
            open_proxy(**memory.config()) as proxy,
            proxy.client(headers=headers) as http,
            http.stream("POST", captured["path"], json=telling) as told,
        ):
            assert told.status_code == 200
            read_sse(told)
        [stored] = memory.contents("claude-code")
        assert stored.startswith("user: My favourite editor is Helix.\nassistant:")
        assert "system-reminder" not in stored.split("\nassistant:")[0]
        asking = _claude_code_asking("Which editor do I like?")
        with (
            open_proxy(**memory.config()) as proxy,
            proxy.client(headers=headers) as http,
            http.stream("POST", captured["path"], json=asking) as asked,
        ):
            assert asked.headers["x-memory-status"] == "used"
            read_sse(asked)
            sent = last_call(proxy.provider).json
        system = sent["system"]
        assert system[: len(captured["body"]["system"])] == captured["body"]["system"]
        assert "Helix" in system[-1]["text"]
        assert json.dumps(sent).count('"cache_control"') <= 4

    @pytest.mark.requires(Capability.RESPONSES_API, Capability.IDENTIFICATION)
    def test_codexs_captured_request_is_remembered_bare_in_its_project_and_recalled_there(
        self, open_proxy, memory
    ):
        """Codex's real request (captured from 0.171): the memory is the person's prompt without the CLI's
        AGENTS.md and environment context, kept in the project of its working directory; the next run in
        that directory gets it after the CLI's own developer messages, which reach the provider unchanged."""
        captured = _codex()
        headers = {key: captured["headers"][key] for key in ("user-agent", "originator")}
        with (
            open_proxy(**memory.config()) as proxy,
            proxy.client(headers=headers) as http,
            http.stream("POST", captured["path"], json=_codex_asking("Our CI runs on Buildkite.")) as told,
        ):
            assert told.status_code == 200
            project = told.headers["x-memory-project"]
            read_sse(told)
        [stored] = memory.contents(project)
        assert stored.startswith("user: Our CI runs on Buildkite.\nassistant:")
        assert "environment_context" not in stored and "AGENTS.md" not in stored
        asking = _codex_asking("Which CI do we use?")
        with (
            open_proxy(**memory.config()) as proxy,
            proxy.client(headers=headers) as http,
            http.stream("POST", captured["path"], json=asking) as asked,
        ):
            assert asked.headers["x-memory-status"] == "used"
            assert asked.headers["x-memory-project"] == project
            read_sse(asked)
            sent = last_call(proxy.provider).json
        original = captured["body"]["input"]
        assert sent["input"][:2] == original[:2]  # the developer messages, Codex's cached prefix
        assert "Buildkite" in json.dumps(sent["input"][2:])
        assert sent["tools"] == captured["body"]["tools"]

    @pytest.mark.requires(Capability.RESPONSES_API, Capability.IDENTIFICATION)
    def test_codexs_captured_tool_loop_is_remembered_once_without_the_tools_output(self, open_proxy, memory):
        """Codex's real shell tool loop (captured from 0.171): the request handing back the command's output
        recalls nothing new, and the exchange is stored once, the prompt with the final answer, never the
        command's output."""
        captured = resources.read_json(CODEX_TOOL_LOOP)["requests"]
        headers = {key: captured[0]["headers"][key] for key in ("user-agent", "originator")}
        reasons = []
        with open_proxy(**memory.config()) as proxy, proxy.client(headers=headers) as http:
            for request in captured:
                body = {**request["body"], "model": "gpt-fake"}
                with http.stream("POST", request["path"], json=body) as response:
                    assert response.status_code == 200
                    reasons.append(response.headers["x-memory-status-reason"])
                    project = response.headers["x-memory-project"]
                    read_sse(response)
        assert "only hands back tool results" in reasons[1]
        prompt = captured[0]["body"]["input"][-1]["content"][0]["text"]
        output = captured[1]["body"]["input"][-1]["output"]
        [stored] = memory.contents(project)
        assert stored.startswith(f"user: {prompt}\nassistant: echo: multiply for me")
        assert output not in stored and "Process exited" not in stored

    @pytest.mark.requires(Capability.RESPONSES_API)
    @pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
    def test_a_conversation_by_previous_response_id_places_each_memory_once(self, open_proxy, memory, stream):
        """A Responses conversation that continues by previous_response_id (the provider keeps the earlier
        turns) is one conversation, whether its first answer was streamed or not: memory recalled on turn 1
        is not placed again on turn 2, and the turn's input reaches the provider as the client sent it."""
        with open_proxy(**memory.config()) as proxy:
            assert _ask(proxy, TEAL, CLIENT_A).status_code == 200
        first_turn = {"model": "gpt-fake", "input": QUESTION, "stream": stream}
        with open_proxy(**memory.config()) as proxy, proxy.client(headers=CLIENT_A) as http:
            with http.stream("POST", "/v1/responses", json=first_turn) as first:
                assert first.headers["x-memory-status"] == "used"
                events = read_sse(first) if stream else None
                body = events[-1].data["response"] if events else json.loads(first.read())
            assert "teal" in json.dumps(last_call(proxy.provider).json["input"])
            follow_up = {"model": "gpt-fake", "input": "and what is my colour again?"}
            second = http.post("/v1/responses", json={**follow_up, "previous_response_id": body["id"]})
            assert second.status_code == 200, second.text
            sent = last_call(proxy.provider).json
        assert "kept from earlier turns" in second.headers["x-memory-status-reason"]
        assert sent["input"] == follow_up["input"]
        assert sent["previous_response_id"]

    def test_store_conversations_off_stores_nothing(self, open_proxy, memory):
        """With store_conversations: false, answers are not written back."""
        with open_proxy(**memory.config(store_conversations=False)) as proxy:
            assert _ask(proxy, TEAL, CLIENT_A).status_code == 200
        assert memory.contents("client-a") == []

    def test_failed_completions_are_not_remembered(self, open_proxy, memory):
        """Only a successful completion is stored: a provider error leaves the memory untouched."""
        with open_proxy(**memory.config()) as proxy:
            assert _ask(proxy, f"{TEAL} {fake_directive('server_error')}", CLIENT_A).status_code == 500
        assert memory.contents("client-a") == []

    def test_model_filters_switch_memory_off(self, open_proxy, memory):
        """disabled_for_models skips recall and write-back for that model, and says so."""
        with open_proxy(**memory.config(disabled_for_models=["gpt-fake"])) as proxy:
            answer = _ask(proxy, TEAL, CLIENT_A)
        assert answer.headers["x-memory-status"] == "skipped"
        assert "gpt-fake" in answer.headers["x-memory-status-reason"]
        assert memory.contents("client-a") == []


@pytest.mark.parity
@pytest.mark.requires(Capability.MEMORY)
class MemoryFailureSuite:
    """Supermemory failing in each documented way: the request always succeeds, the header says why."""

    @pytest.mark.parametrize(
        ("fault", "reason"),
        [
            ({"fail_with": 500}, "Supermemory answered 500"),
            ({"fail_with": 401}, "Supermemory answered 401"),
            ({"fail_with": 429}, "Supermemory answered 429"),
            ({"garbage": True}, "not JSON"),
            ({"delay": 3.0}, "timed out after 0.5s"),
        ],
        ids=["500", "401", "429", "garbage", "slow"],
    )
    def test_memory_failure_never_fails_the_request(self, open_proxy, fake_supermemory, fault, reason):
        """Recall that fails or is slower than its timeout leaves the request to proceed without context."""
        settings = {
            "enabled": True,
            "provider": "supermemory",
            "api_key": fake_supermemory.api_key,
            "timeout": 0.5,
        }
        for name, value in fault.items():
            setattr(fake_supermemory, name, value)
        with open_proxy(context_retrieval=settings) as proxy:
            text = unique(QUESTION)
            answer = _ask(proxy, text, CLIENT_A)
            assert answer.status_code == 200
            assert answer.json()["choices"][0]["message"]["content"] == echo_reply(text)
            assert answer.headers["x-memory-status"] == "error"
            assert reason in answer.headers["x-memory-status-reason"]
            assert float(answer.headers["x-memory-proxy-recall-ms"]) < 3000  # time-boxed, not waited out
            fake_supermemory.delay = 0.0  # let the write-back through quickly at shutdown

    def test_memory_router_model_gets_the_headers_and_no_injection(self, open_proxy, fake_supermemory):
        """A Memory Router model reaches the provider through Supermemory with x-sm-user-id, uninjected,
        and the proxy stores nothing of it (the Router does: storing it too would double every memory)."""
        settings = {"enabled": True, "provider": "supermemory", "api_key": fake_supermemory.api_key}
        fake_supermemory.add_document(TEAL, "client-a")
        with open_proxy(context_retrieval=settings) as proxy:
            text = unique(QUESTION)
            answer = _ask(proxy, text, CLIENT_A, model="gpt-via-memory-router")
            assert answer.status_code == 200, answer.text
            assert answer.json()["choices"][0]["message"]["content"] == echo_reply(text)
            assert answer.headers["x-memory-status"] == "skipped"
            # Only the completion: the LiteLLM proxy may also ask the Router for /v1/models on its own.
            [routed] = [r for r in fake_supermemory.router_records() if r.path.endswith("/chat/completions")]
            assert routed.sm_user_id == "client-a"
            assert routed.sm_api_key == fake_supermemory.api_key
            assert last_call(proxy.provider).json["messages"] == [{"role": "user", "content": text}]
            assert "x-sm-user-id" not in last_call(proxy.provider).headers
            assert len(model_calls(proxy.provider)) == 1
        # The proxy has stopped, so any write-back it queued has been flushed to /v3/documents.
        assert [document.content for document in fake_supermemory.documents("client-a")] == [TEAL]
