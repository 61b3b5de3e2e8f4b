"""Seed group 5: every end-to-end test of the earlier sdk proxy got a 500, because its mocks could not
stand in for LiteLLM's HTTP calls.

The same twelve checks, now end to end: the official openai SDK against the proxy served on loopback,
LiteLLM (in process, or the LiteLLM proxy process) calling the fake provider over real HTTP, on every
registered backend.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from conformance.capabilities import Capability
from conformance.fakes import echo_reply, fake_directive
from conformance.suites.support import chat_body, last_call, model_calls, unique

PYCHARM = "OpenAIClientImpl/Java unknown"


def ask(client: openai.OpenAI, text: str, model: str = "gpt-fake", **fields):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **fields)


def test_anthropic_format_call(proxy):
    text = unique()
    answer = ask(proxy.openai(), text, model="claude-fake", max_tokens=50)
    assert answer.choices[0].message.content == echo_reply(text)
    assert last_call(proxy.provider).endpoint == "/messages"


def test_openai_format_call(proxy):
    text = unique()
    answer = ask(proxy.openai(), text)
    assert answer.choices[0].message.content == echo_reply(text)
    assert last_call(proxy.provider).endpoint == "/chat/completions"


def test_streaming_real_call(proxy):
    text = unique()
    stream = ask(proxy.openai(), text, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == echo_reply(
        text
    )
    assert len(model_calls(proxy.provider)) == 1


@pytest.mark.requires(Capability.COOKIE_JAR)
def test_cookies_persist_across_requests(proxy):
    client = proxy.openai()
    challenge = fake_directive("cookie_challenge")
    for _ in range(3):
        ask(client, unique(challenge))
    cookies = [call.headers.get("cookie", "") for call in model_calls(proxy.provider)]
    assert cookies[0] == ""
    assert all(f"cf_clearance={proxy.provider.cookie_value}" in cookie for cookie in cookies[1:])


@pytest.mark.requires(Capability.COOKIE_JAR)
def test_session_keeps_cookies(proxy):
    """The cookie survives calls to other models and formats in between."""
    client = proxy.openai()
    challenge = fake_directive("cookie_challenge")
    ask(client, unique(challenge))
    ask(client, unique(), model="claude-fake", max_tokens=20)
    ask(client, unique(challenge))
    assert f"cf_clearance={proxy.provider.cookie_value}" in last_call(proxy.provider).headers["cookie"]


def test_user_id_routing_for_pycharm(proxy):
    with proxy.client(headers={"user-agent": PYCHARM}) as http:
        response = http.post("/v1/chat/completions", json=chat_body(unique()))
    assert response.status_code == 200
    assert response.headers["x-memory-user-id"] == "pycharm-ai"


def test_custom_user_id(proxy):
    client = proxy.openai(default_headers={"x-memory-user-id": "my-project"})
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": unique()}]
    )
    assert raw.headers["x-memory-user-id"] == "my-project"


def test_sequential_requests(proxy):
    client = proxy.openai()
    texts = [unique(f"turn {i}") for i in range(5)]
    assert [ask(client, text).choices[0].message.content for text in texts] == [echo_reply(t) for t in texts]


def test_concurrent_requests(proxy):
    client = proxy.openai()
    texts = [unique(f"parallel {i}") for i in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda text: ask(client, text).choices[0].message.content, texts))
    assert answers == [echo_reply(t) for t in texts]


def test_context_length_error(proxy):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(proxy.openai(), fake_directive("context_length"))
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"response_format": "json"}, "response_format"),
        ({"messages": [{"role": "user", "content": 3}]}, None),
    ],
    ids=["response_format", "content"],
)
def test_invalid_parameter(proxy, fields, param):
    with proxy.client() as http:
        response = http.post("/v1/chat/completions", json={**chat_body(unique()), **fields})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == (param or "messages.0.content")
    assert model_calls(proxy.provider) == []


def test_proxy_reports_its_added_time(proxy):
    """No timed assertion here (the benchmark measures latency): every answer reports the proxy's own time
    before the provider call and the time spent upstream, so a user can see what the proxy adds."""
    raw = proxy.openai().chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": unique(fake_directive("slow", seconds=0.3))}]
    )
    overhead = float(raw.headers["x-memory-proxy-overhead-ms"])
    upstream = float(raw.headers["x-memory-proxy-upstream-ms"])
    assert 0 <= overhead < upstream
    assert upstream >= 300  # the provider's scripted delay is counted upstream, not as overhead
