"""Seed group 2: context retrieval existed but was never wired into the proxy's request path (and used
one containerTag for everyone).

End to end through the app on every backend, against the fake Supermemory: the client's identity picks
the containerTag of the recall call, the recalled text reaches the provider inside the message list, the
answer is 200, and the new exchange is stored under the same user_id. Failures degrade gracefully.
"""

from __future__ import annotations

import pytest

from conformance.fakes import echo_reply
from conformance.suites.support import chat_body, last_call, unique

PYCHARM = {"user-agent": "OpenAIClientImpl/Java unknown"}


def settings(supermemory, **extra):
    return {
        "context_retrieval": {
            "enabled": True,
            "provider": "supermemory",
            "api_key": supermemory.api_key,
            **extra,
        }
    }


def test_context_retrieval_e2e(open_proxy, fake_supermemory):
    fake_supermemory.add_document("user: I moved to Lisbon.\nassistant: Noted.", "pycharm-ai")
    fake_supermemory.add_document("user: I live in Oslo.\nassistant: Noted.", "someone-else")
    text = unique("where do I live?")
    with open_proxy(**settings(fake_supermemory)) as proxy, proxy.client(headers=PYCHARM) as http:
        response = http.post("/v1/chat/completions", json=chat_body(text))
        sent = last_call(proxy.provider).json["messages"]
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == echo_reply(text)
    [recall] = fake_supermemory.requests_to("/v4/profile")
    assert recall.json["containerTag"] == "pycharm-ai"
    assert recall.json["q"] == text
    context = "\n".join(str(message["content"]) for message in sent)
    assert "Lisbon" in context
    assert "Oslo" not in context
    [stored] = fake_supermemory.requests_to("/v3/documents", method="POST")
    assert stored.json["containerTag"] == "pycharm-ai"
    assert text in stored.json["content"]
    assert echo_reply(text) in stored.json["content"]


@pytest.mark.parametrize("fault", [{"fail_with": 500}, {"delay": 2.0}], ids=["api-error", "timeout"])
def test_retrieve_context_api_error(open_proxy, fake_supermemory, fault):
    for name, value in fault.items():
        setattr(fake_supermemory, name, value)
    text = unique("where do I live?")
    with (
        open_proxy(**settings(fake_supermemory, timeout=0.3)) as proxy,
        proxy.client(headers=PYCHARM) as http,
    ):
        response = http.post("/v1/chat/completions", json=chat_body(text))
        sent = last_call(proxy.provider).json["messages"]
        fake_supermemory.fail_with, fake_supermemory.delay = None, 0.0
    assert response.status_code == 200
    assert response.headers["x-memory-status"] == "error"
    assert sent == [{"role": "user", "content": text}]
