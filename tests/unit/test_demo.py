"""The built-in demo: no key, no network, and it shows exactly what reached the model."""

from __future__ import annotations

from conformance.harness import app_client
from conformance.suites.support import content_of, read_sse
from proxy.app import create_app
from proxy.backends.sdk import SdkBackend
from proxy.config import demo_config
from proxy.demo import echo_text

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
    assert [m["id"] for m in models.json()["data"]] == ["demo"]


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
