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
