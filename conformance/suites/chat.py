"""Chat completion parity: what the client sends reaches the provider; what it answers reaches the client."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from conformance.capabilities import Capability
from conformance.fakes import echo_reply, fake_directive
from conformance.suites.support import chat_body, last_call, model_calls, unique

__all__ = ["ChatSuite"]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look something up.",
            "parameters": {"type": "object", "properties": {"echo": {"type": "string"}}},
        },
    }
]


@pytest.mark.parity
class ChatSuite:
    @pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions"])
    def test_completion_is_the_providers_answer(self, proxy, fake_provider, path):
        """A chat completion returns the provider's answer, after exactly one provider call."""
        text = unique()
        with proxy.client() as http:
            response = http.post(path, json=chat_body(text))
        assert response.status_code == 200
        body = response.json()
        assert body["object"] == "chat.completion"
        message = body["choices"][0]["message"]
        assert (message["role"], message["content"]) == ("assistant", echo_reply(text))
        assert body["choices"][0]["finish_reason"] == "stop"
        assert body["usage"]["total_tokens"] > 0
        [upstream] = model_calls(fake_provider)
        assert upstream.endpoint == "/chat/completions"
        assert upstream.json["model"] == "gpt-4o-mini"
        assert upstream.json["messages"] == [{"role": "user", "content": text}]

    def test_client_parameters_reach_the_provider(self, proxy, fake_provider):
        """Sampling parameters, tools, response_format, seed and user reach the provider unchanged."""
        fields = {
            "temperature": 0.25,
            "top_p": 0.5,
            "max_tokens": 33,
            "stop": ["END"],
            "seed": 42,
            "user": "end-user-7",
            "response_format": {"type": "json_object"},
            "tools": TOOLS,
            "tool_choice": "auto",
        }
        with proxy.client() as http:
            response = http.post("/v1/chat/completions", json=chat_body(unique("json please"), **fields))
        assert response.status_code == 200
        sent = last_call(fake_provider).json
        for key, value in fields.items():
            assert sent[key] == value, key

    def test_provider_gets_the_configured_key_not_the_clients(self, proxy, fake_provider):
        """The provider sees the key from the config; the client's own Authorization never goes upstream."""
        with proxy.client(headers={"authorization": "Bearer client-secret-key-123"}) as http:
            assert http.post("/v1/chat/completions", json=chat_body(unique())).status_code == 200
        upstream = last_call(fake_provider)
        assert upstream.headers["authorization"] == "Bearer sk-fake-provider-key-0123456789"
        assert "client-secret-key-123" not in str(upstream.headers)

    def test_client_cannot_redirect_the_provider_call(self, proxy, fake_provider, unreachable_url):
        """Fields that steer LiteLLM (api_base, api_key, mock_response) are not taken from the client."""
        text = unique()
        body = chat_body(text, api_base=f"{unreachable_url}/v1", api_key="sk-attacker", mock_response="pwned")
        with proxy.client() as http:
            response = http.post("/v1/chat/completions", json=body)
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == echo_reply(text)
        assert last_call(fake_provider).headers["authorization"] == "Bearer sk-fake-provider-key-0123456789"

    @pytest.mark.requires(Capability.TRANSLATION)
    def test_anthropic_format_model_is_called_natively(self, proxy, fake_provider):
        """A chat completion for an anthropic/ model reaches the provider as Anthropic Messages."""
        text = unique()
        with proxy.client() as http:
            response = http.post(
                "/v1/chat/completions", json=chat_body(text, model="claude-fake", max_tokens=50)
            )
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == echo_reply(text)
        upstream = last_call(fake_provider)
        assert upstream.endpoint == "/messages"
        assert upstream.headers["x-api-key"] == "sk-ant-fake-provider-key-0123456789"

    @pytest.mark.parametrize(
        ("model", "endpoint", "upstream_model"),
        [
            ("gpt-alias", "/chat/completions", "gpt-4o-mini"),
            ("claude-any/claude-sonnet-4-6", "/messages", "claude-sonnet-4-6"),
        ],
        ids=["alias", "wildcard"],
    )
    @pytest.mark.requires(Capability.ROUTING, Capability.TRANSLATION)
    def test_aliases_and_wildcards_reach_their_deployment(
        self, proxy, fake_provider, model, endpoint, upstream_model
    ):
        """A model_group_alias, and a name a wildcard model_name matches, are served by that deployment."""
        text = unique()
        with proxy.client() as http:
            response = http.post("/v1/chat/completions", json=chat_body(text, model=model, max_tokens=50))
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == echo_reply(text)
        [upstream] = model_calls(fake_provider)
        assert (upstream.endpoint, upstream.json["model"]) == (endpoint, upstream_model)

    def test_openai_sdk_parses_a_completion(self, proxy):
        """The openai SDK gets a parsed ChatCompletion."""
        text = unique()
        completion = proxy.openai().chat.completions.create(
            model="gpt-fake", messages=[{"role": "user", "content": text}]
        )
        assert completion.choices[0].message.content == echo_reply(text)

    @pytest.mark.requires(Capability.IDENTIFICATION)
    def test_openai_sdk_routes_to_its_own_namespace(self, proxy):
        """The openai SDK's real User-Agent routes to openai-python."""
        raw = proxy.openai().chat.completions.with_raw_response.create(
            model="gpt-fake", messages=[{"role": "user", "content": unique()}]
        )
        assert raw.headers["x-memory-user-id"] == "openai-python"

    def test_tool_call_round_trip(self, proxy, fake_provider):
        """A tool call comes back parsed, and the tool result is sent back to the provider."""
        client = proxy.openai()
        text = unique(f"find it {fake_directive('tool_call')}")
        messages = [{"role": "user", "content": text}]
        first = client.chat.completions.create(model="gpt-fake", messages=messages, tools=TOOLS)
        [call] = first.choices[0].message.tool_calls
        assert call.function.name == "lookup"
        assert json.loads(call.function.arguments) == {"echo": text}
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "found"},
        ]
        second = client.chat.completions.create(model="gpt-fake", messages=messages, tools=TOOLS)
        assert second.choices[0].finish_reason == "tool_calls"  # the directive is still in the history
        sent = last_call(fake_provider).json["messages"]
        assert sent[-1] == {"role": "tool", "tool_call_id": call.id, "content": "found"}

    def test_tool_call_answer_keeps_null_content(self, proxy):
        """A tool-call answer carries message.content null, as OpenAI sends it (strict clients need it)."""
        body = chat_body(unique(fake_directive("tool_call")), tools=TOOLS)
        with proxy.client() as http:
            message = http.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]
        assert "content" in message
        assert message["content"] is None
        assert message["tool_calls"][0]["function"]["name"] == "lookup"

    def test_concurrent_requests_each_get_their_own_answer(self, proxy):
        """Sixteen concurrent requests are each answered with their own prompt's reply."""
        texts = [unique(f"q{i}") for i in range(16)]
        with proxy.client() as http, ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda t: http.post("/v1/chat/completions", json=chat_body(t)), texts))
        for text, response in zip(texts, responses, strict=True):
            assert response.json()["choices"][0]["message"]["content"] == echo_reply(text)

    @pytest.mark.requires(Capability.COOKIE_JAR)
    @pytest.mark.parametrize(
        "model", ["gpt-fake", pytest.param("claude-fake", marks=pytest.mark.requires(Capability.TRANSLATION))]
    )
    def test_cloudflare_cookie_is_sent_on_every_later_call(self, proxy, fake_provider, model):
        """A cf_clearance cookie set by the provider is sent back on later calls, concurrent ones too."""
        challenge = fake_directive("cookie_challenge")
        with proxy.client() as http:
            first = http.post(
                "/v1/chat/completions", json=chat_body(unique(challenge), model=model, max_tokens=20)
            )
            assert first.status_code == 200
            with ThreadPoolExecutor(max_workers=4) as pool:
                later = list(
                    pool.map(
                        lambda i: http.post(
                            "/v1/chat/completions",
                            json=chat_body(unique(f"{i} {challenge}"), model=model, max_tokens=20),
                        ),
                        range(6),
                    )
                )
        assert [r.status_code for r in later] == [200] * 6
        assert "cf_clearance" not in model_calls(fake_provider)[0].headers.get("cookie", "")
        for record in model_calls(fake_provider)[1:]:
            assert f"cf_clearance={fake_provider.cookie_value}" in record.headers["cookie"]
