"""Anthropic Messages parity: the anthropic SDK and Claude Code get Anthropic's API from every backend."""

from __future__ import annotations

import json

import anthropic
import pytest

from conformance import resources
from conformance.capabilities import Capability
from conformance.fakes import echo_reply, fake_directive
from conformance.suites.support import anthropic_error, iter_sse, last_call, model_calls, unique

__all__ = ["MessagesSuite"]

TOOLS = [
    {
        "name": "lookup",
        "description": "Look something up.",
        "input_schema": {"type": "object", "properties": {"echo": {"type": "string"}}},
    }
]
CLAUDE_CODE_REQUEST = "claude-code-2.1.197-request.json"
"""Claude Code's real first request, captured (a resource of the kit)."""
TRANSLATED = pytest.mark.requires(Capability.TRANSLATION)


@pytest.mark.parity
@pytest.mark.requires(Capability.ANTHROPIC_MESSAGES)
class MessagesSuite:
    @pytest.mark.parametrize(
        ("model", "endpoint"),
        [("claude-fake", "/messages"), pytest.param("gpt-fake", "/responses", marks=TRANSLATED)],
    )
    def test_anthropic_sdk_gets_a_message(self, proxy, model, endpoint):
        """The anthropic SDK gets a parsed Message: natively for anthropic/ models, translated for others."""
        text = unique()
        message = proxy.anthropic().messages.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": text}]
        )
        assert message.content[0].text == echo_reply(text)
        assert message.role == "assistant"
        assert last_call(proxy.provider).endpoint == endpoint

    @pytest.mark.requires(Capability.IDENTIFICATION)
    def test_anthropic_sdk_routes_to_its_own_namespace(self, proxy):
        """The anthropic SDK's real User-Agent routes to anthropic-python."""
        raw = proxy.anthropic().messages.with_raw_response.create(
            model="claude-fake", max_tokens=20, messages=[{"role": "user", "content": unique()}]
        )
        assert raw.headers["x-memory-user-id"] == "anthropic-python"

    @pytest.mark.parametrize("model", ["claude-fake", pytest.param("gpt-fake", marks=TRANSLATED)])
    def test_stream_is_read_to_the_end(self, proxy, model):
        """The anthropic SDK reads the whole stream and gets the whole text."""
        text = unique("tell me more")
        with proxy.anthropic().messages.stream(
            model=model, max_tokens=50, messages=[{"role": "user", "content": text}]
        ) as stream:
            assert "".join(stream.text_stream) == echo_reply(text)
            final = stream.get_final_message()
        assert final.stop_reason == "end_turn"

    def test_native_stream_is_event_for_event_the_providers(self, proxy):
        """An Anthropic-format stream reaches the client with the provider's events, in order, same text."""
        body = {
            "model": "claude-fake",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": unique("hello there friend")}],
        }
        with proxy.client() as http, http.stream("POST", "/v1/messages", json=body) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [(event.event, event.data) for event in iter_sse(response)]
        names = [name for name, _ in events]
        assert names[0] == "message_start"
        assert names[-1] == "message_stop"
        assert {"content_block_start", "content_block_delta", "content_block_stop", "message_delta"} <= set(
            names
        )
        assert all(data["type"] == name for name, data in events)
        text = "".join(
            data["delta"].get("text", "") for name, data in events if name == "content_block_delta"
        )
        assert text == echo_reply(body["messages"][0]["content"])
        assert len(model_calls(proxy.provider)) == 1

    @pytest.mark.parametrize("model", ["claude-fake", "gpt-fake"], ids=["native", "translated"])
    def test_mid_stream_failure_is_one_error_event_then_the_end(self, proxy, model):
        """A provider dying mid-stream: the text sent before the cut, one Anthropic error event, no stop."""
        text = unique(fake_directive("cut", after=3))
        messages = [{"role": "user", "content": text}]
        body = {"model": model, "max_tokens": 50, "stream": True, "messages": messages}
        with proxy.client() as http, http.stream("POST", "/v1/messages", json=body) as response:
            assert response.status_code == 200
            events = [(event.event, event.data) for event in iter_sse(response)]
        relayed = "".join(
            data["delta"].get("text", "") for name, data in events if name == "content_block_delta"
        )
        assert echo_reply(text).startswith(relayed)
        assert len(relayed.split()) == 3  # every word sent before the cut, none lost in a buffer
        errors = [data for name, data in events if name == "error"]
        assert len(errors) == 1
        assert events[-1] == ("error", errors[0])
        assert set(errors[0]) == {"type", "error"} and set(errors[0]["error"]) == {"type", "message"}
        assert "message_stop" not in [name for name, _ in events]

    @pytest.mark.requires(Capability.COOKIE_JAR)
    def test_cloudflare_cookie_is_sent_on_every_later_call(self, proxy):
        """Claude Code's traffic shares the session's cookie jar: a cf_clearance set on one call goes back,
        on answers and on streams."""
        challenge = fake_directive("cookie_challenge")
        client = proxy.anthropic()
        for index in range(2):
            messages = [{"role": "user", "content": unique(f"{index} {challenge}")}]
            client.messages.create(model="claude-fake", max_tokens=20, messages=messages)
        messages = [{"role": "user", "content": unique(f"streamed {challenge}")}]
        with client.messages.stream(model="claude-fake", max_tokens=20, messages=messages) as stream:
            stream.until_done()
        first, *later = model_calls(proxy.provider)
        assert "cf_clearance" not in first.headers.get("cookie", "")
        assert len(later) == 2
        for record in later:
            assert f"cf_clearance={proxy.provider.cookie_value}" in record.headers["cookie"]

    def test_tool_use_round_trip(self, proxy):
        """tool_use comes back parsed; the tool_result goes back to the provider."""
        client = proxy.anthropic()
        text = unique(f"find it {fake_directive('tool_call')}")
        messages = [{"role": "user", "content": text}]
        first = client.messages.create(model="claude-fake", max_tokens=50, messages=messages, tools=TOOLS)
        [use] = [block for block in first.content if block.type == "tool_use"]
        assert use.name == "lookup"
        assert use.input == {"echo": text}
        assert first.stop_reason == "tool_use"
        messages += [
            {
                "role": "assistant",
                "content": [block.model_dump(exclude_none=True) for block in first.content],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "found"}]},
        ]
        client.messages.create(model="claude-fake", max_tokens=50, messages=messages, tools=TOOLS)
        sent = last_call(proxy.provider).json["messages"][-1]["content"][0]
        assert (sent["type"], sent["tool_use_id"]) == ("tool_result", use.id)

    @pytest.mark.parametrize(
        ("directive", "exception", "status"),
        [
            (fake_directive("rate_limit", retry_after=6), anthropic.RateLimitError, 429),
            (fake_directive("context_length"), anthropic.BadRequestError, 400),
            (fake_directive("auth"), anthropic.AuthenticationError, 401),
            (fake_directive("server_error"), anthropic.InternalServerError, 500),
            pytest.param(
                fake_directive("overloaded", retry_after=2),
                anthropic.APIStatusError,
                503,
                marks=pytest.mark.requires(Capability.ERROR_NORMALISATION),  # Anthropic's 529 becomes a 503
            ),
        ],
        ids=["rate_limit", "context_length", "auth", "server_error", "overloaded"],
    )
    def test_sdk_exceptions_match_the_fault(self, proxy, directive, exception, status):
        """Each provider fault raises the anthropic SDK's matching exception, with Anthropic's envelope."""
        with pytest.raises(exception) as caught:
            proxy.anthropic().messages.create(
                model="claude-fake", max_tokens=20, messages=[{"role": "user", "content": unique(directive)}]
            )
        assert caught.value.status_code == status
        assert caught.value.body["type"] == "error"

    def test_rate_limit_carries_the_providers_retry_after(self, proxy):
        """A provider 429 on /v1/messages reaches the client with the provider's Retry-After."""
        with pytest.raises(anthropic.RateLimitError) as caught:
            proxy.anthropic().messages.create(
                model="claude-fake",
                max_tokens=20,
                messages=[{"role": "user", "content": unique(fake_directive("rate_limit", retry_after=6))}],
            )
        assert caught.value.response.headers["retry-after"] == "6"

    @pytest.mark.requires(Capability.MODELS_FROM_CONFIG)
    def test_unknown_model_is_not_found_in_anthropics_envelope(self, proxy):
        """An unknown model is a 404 not_found_error, as Anthropic answers it."""
        with pytest.raises(anthropic.NotFoundError) as caught:
            proxy.anthropic().messages.create(
                model="no-such-model", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
            )
        assert caught.value.body["error"]["type"] == "not_found_error"

    @pytest.mark.parametrize(
        "body",
        [
            {"model": "claude-fake", "messages": [{"role": "user", "content": "hi"}]},
            {"model": "claude-fake", "max_tokens": 10, "messages": []},
            {"model": "claude-fake", "max_tokens": 10, "messages": "hi"},
            {"model": "claude-fake", "max_tokens": 10, "messages": [{"role": "user", "content": 5}]},
            {"model": "claude-fake", "max_tokens": "ten", "messages": [{"role": "user", "content": "hi"}]},
            [1, 2],
        ],
        ids=["no-max_tokens", "empty-messages", "messages-str", "content-int", "max_tokens-str", "array"],
    )
    @pytest.mark.requires(Capability.INPUT_VALIDATION)
    def test_malformed_bodies_are_400_in_anthropics_envelope(self, proxy, body):
        """Malformed Messages bodies are a 400 invalid_request_error in Anthropic's envelope, never 500."""
        with proxy.client() as http:
            response = http.post("/v1/messages", json=body)
        anthropic_error(response, 400, "invalid_request_error")
        assert model_calls(proxy.provider) == []

    @pytest.mark.requires(Capability.TOKEN_COUNTING)
    def test_anthropic_sdk_counts_tokens_through_the_provider(self, proxy):
        """``messages.count_tokens`` reaches an Anthropic-format provider's counting API with the config's
        key, and its count comes back as it was."""
        counted = proxy.anthropic().messages.count_tokens(
            model="claude-fake", system="Be brief.", messages=[{"role": "user", "content": "hello there you"}]
        )
        assert counted.input_tokens == 5  # the fake counts words: two of the system prompt, three said
        upstream = last_call(proxy.provider)
        assert upstream.endpoint == "/messages/count_tokens"
        assert upstream.headers["x-api-key"] == "sk-ant-fake-provider-key-0123456789"

    @pytest.mark.requires(Capability.TOKEN_COUNTING)
    def test_claude_codes_request_can_be_counted(self, proxy):
        """Claude Code's real request (system blocks, 24 tools, thinking) counted: a 200 with its tokens."""
        request = resources.read_json(CLAUDE_CODE_REQUEST)
        body = {key: value for key, value in request["body"].items() if key != "stream"}
        with proxy.client(headers=request["headers"]) as http:
            response = http.post("/v1/messages/count_tokens", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["input_tokens"] > 0

    @pytest.mark.requires(Capability.TOKEN_COUNTING, Capability.INPUT_VALIDATION)
    @pytest.mark.parametrize(
        "body",
        [
            {"model": "claude-fake", "messages": []},
            {"model": "claude-fake"},
            {"messages": [{"role": "user"}]},
        ],
        ids=["no-messages", "messages-missing", "no-model"],
    )
    def test_count_tokens_refuses_a_bad_body_in_anthropics_envelope(self, proxy, body):
        """A count_tokens body without a model or messages is a 400 in Anthropic's envelope, before any
        provider call."""
        with proxy.client() as http:
            response = http.post("/v1/messages/count_tokens", json=body)
        anthropic_error(response, 400, "invalid_request_error")
        assert model_calls(proxy.provider) == []

    @pytest.mark.requires(Capability.TOKEN_COUNTING, Capability.ERROR_NORMALISATION)
    def test_count_tokens_for_an_unknown_model_is_a_404(self, proxy):
        """Counting for a model the proxy does not serve is a 404 not_found_error in Anthropic's envelope."""
        body = {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}
        with proxy.client() as http:
            response = http.post("/v1/messages/count_tokens", json=body)
        error = anthropic_error(response, 404, "not_found_error")
        assert "no-such-model" in error["message"]
        assert model_calls(proxy.provider) == []

    def test_claude_code_request_replays_completely(self, proxy):
        """Claude Code's real request (HEAD / first) streams to the end, and every field, system block, tool
        and beta reaches the provider (and, for a proxy that identifies clients, it is claude-code)."""
        request = resources.read_json(CLAUDE_CODE_REQUEST)
        with proxy.client(headers=request["headers"]) as http:
            assert http.head("/").status_code == 200
            with http.stream("POST", request["path"], json=request["body"]) as response:
                assert response.status_code == 200, response.read()
                if proxy.backend.has(Capability.IDENTIFICATION):
                    assert response.headers["x-memory-user-id"] == "claude-code"
                names = [event.event for event in iter_sse(response)]
        assert names[0] == "message_start"
        assert names[-1] == "message_stop"
        upstream = last_call(proxy.provider)
        sent = upstream.json
        for key in ("system", "tools", "thinking", "context_management", "output_config", "metadata"):
            assert sent.get(key) == request["body"][key], key
        assert [m["role"] for m in sent["messages"]] == [m["role"] for m in request["body"]["messages"]]
        assert len(sent["tools"]) == 24
        betas = set(upstream.headers.get("anthropic-beta", "").split(","))
        assert set(request["headers"]["anthropic-beta"].split(",")) <= betas

    @pytest.mark.requires(Capability.MEMORY)
    def test_memory_is_recalled_into_the_system_prompt(self, open_proxy, tmp_path):
        """As for chat completions: the exchange is stored, and recalled into Anthropic's system field."""
        memory = {"context_retrieval": {"enabled": True, "local_store_path": str(tmp_path / "m.sqlite3")}}
        with (
            open_proxy(**memory) as proxy,
            proxy.anthropic().messages.stream(
                model="claude-fake",
                max_tokens=50,
                messages=[{"role": "user", "content": "I keep bees in Lisbon"}],
            ) as stream,
        ):
            stream.until_done()
        with open_proxy(**memory) as proxy:
            raw = proxy.anthropic().messages.with_raw_response.create(
                model="claude-fake",
                max_tokens=50,
                system="Be brief.",
                messages=[{"role": "user", "content": "where do I keep bees?"}],
            )
            sent = last_call(proxy.provider).json
        assert raw.headers["x-memory-status"] == "used"
        system = sent["system"] if isinstance(sent["system"], str) else json.dumps(sent["system"])
        assert system.startswith("Be brief.")
        assert "Lisbon" in system
        assert sent["messages"] == [{"role": "user", "content": "where do I keep bees?"}]
