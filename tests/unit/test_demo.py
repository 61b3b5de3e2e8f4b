"""The built-in demo: no key, no network, and it shows exactly what reached the model."""

from __future__ import annotations

from conformance.harness import app_client
from conformance.suites.support import content_of, read_sse
from proxy.app import create_app
from proxy.backends.sdk import SdkBackend
from proxy.config import demo_config
from proxy.demo import ECHO_LIMIT, echo_text
from proxy.memory.placement import CONTEXT_HEADING

MESSAGES = [
    {"role": "system", "content": "Remembered: the user likes teal."},
    {
        "role": "user",
        "content": [{"type": "text", "text": "What colour"}, {"type": "text", "text": "do I like?"}],
    },
]


def test_echo_lists_every_message_with_its_role():
    text = echo_text(MESSAGES)
    assert "I received 2 message(s)" in text
    assert "system: Remembered: the user likes teal." in text
    assert "user: What colour do I like?" in text


async def test_demo_config_answers_and_streams_in_process():
    config = demo_config()
    app = create_app(config, SdkBackend(config))
    async with app_client(app) as client:
        # Two namespaces: the demo remembers, and the second answer must not echo the first one's memory.
        answer = await client.post(
            "/v1/chat/completions",
            json={"model": "demo", "messages": MESSAGES},
            headers={"x-memory-user-id": "demo-json"},
        )
        streamed = await client.post(
            "/v1/chat/completions",
            json={"model": "demo", "messages": MESSAGES, "stream": True},
            headers={"x-memory-user-id": "demo-stream"},
        )
        models = await client.get("/v1/models")
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == echo_text(MESSAGES)
    assert content_of(read_sse(streamed)) == echo_text(MESSAGES)
    assert [m["id"] for m in models.json()["data"]] == ["demo", "*"]


async def test_demo_answers_anthropic_messages_with_usage_streaming_and_not():
    """The demo behind /v1/messages: LiteLLM translates its answer, usage included (clients read it)."""
    config = demo_config()
    app = create_app(config, SdkBackend(config))
    body = {
        "model": "demo",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "What colour do I like?"}],
    }
    async with app_client(app) as client:
        answer = await client.post("/v1/messages", json=body, headers={"x-memory-user-id": "demo-messages"})
        streamed = await client.post(
            "/v1/messages",
            json={**body, "stream": True},
            headers={"x-memory-user-id": "demo-messages-stream"},
        )
    assert answer.status_code == 200, answer.text
    message = answer.json()
    assert message["content"][0]["text"] == echo_text(body["messages"])
    assert message["usage"]["input_tokens"] > 0
    assert message["usage"]["output_tokens"] > 0
    events = read_sse(streamed)
    text = "".join(e.data["delta"].get("text", "") for e in events if e.event == "content_block_delta")
    assert text == echo_text(body["messages"])
    assert events[-1].event == "message_stop"


def test_echo_caps_long_messages_but_shows_recalled_memory_whole():
    """A coding agent's system prompt runs to pages; the echo keeps it short and the memory block whole."""
    memory = f"{CONTEXT_HEADING}\n- " + "the build tool is bazel " * 30
    system = "You are a coding agent. " * 100
    text = echo_text(
        [{"role": "system", "content": f"{system}\n\n{memory}"}, {"role": "user", "content": "hi"}]
    )
    assert memory in text
    assert system not in text and system[:ECHO_LIMIT] in text
    assert f"({len(system.strip()) - ECHO_LIMIT} more characters)" in text


def test_the_demo_keeps_its_memory_apart_from_the_default_store(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert demo_config().context_retrieval.local_store_path == str(
        tmp_path / "litellm-memory-proxy" / "demo-memory.sqlite3"
    )


async def test_the_demo_answers_any_model_name_with_the_parameters_clients_send():
    """Claude Code asks for its own Claude model with thinking settings, Codex for a GPT model with a
    reasoning effort: the demo answers both (it drops what an echo cannot take), streaming and not."""
    config = demo_config()
    app = create_app(config, SdkBackend(config))
    claude_code = {
        "model": "claude-opus-4-8",
        "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "messages": [{"role": "user", "content": "hi"}],
    }
    codex = {"model": "gpt-5.5", "reasoning_effort": "high", "messages": [{"role": "user", "content": "hi"}]}
    async with app_client(app) as client:
        answers = [  # each in a namespace of its own: the demo remembers, and would echo it back
            await client.post(path, json=body, headers={"x-memory-user-id": f"any-model-{index}"})
            for index, (path, body) in enumerate(
                [
                    ("/v1/messages", claude_code),
                    ("/v1/messages", {**claude_code, "stream": True}),
                    ("/v1/chat/completions", codex),
                    ("/v1/chat/completions", {**codex, "stream": True}),
                ]
            )
        ]
    assert [a.status_code for a in answers] == [200] * 4, [a.text[:300] for a in answers]
    assert answers[0].json()["content"][0]["text"] == echo_text(claude_code["messages"])
    assert answers[2].json()["choices"][0]["message"]["content"] == echo_text(codex["messages"])
    assert content_of(read_sse(answers[3])) == echo_text(codex["messages"])
