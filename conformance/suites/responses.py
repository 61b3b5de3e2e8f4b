"""OpenAI Responses parity: Codex CLI, the openai SDK's ``responses`` and the Agents SDK get the Responses
API from every backend, JSON and event stream, with what they send reaching the provider."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from conformance.capabilities import Capability
from conformance.fakes import echo_reply, fake_directive
from conformance.suites.support import iter_sse, last_call, model_calls, read_sse, unique

__all__ = ["ResponsesSuite", "responses_body", "responses_text"]

TOOLS = [
    {
        "type": "function",
        "name": "lookup",
        "description": "Look something up.",
        "parameters": {"type": "object", "properties": {"echo": {"type": "string"}}},
    }
]


def responses_body(text: str, model: str = "gpt-fake", **fields: Any) -> dict[str, Any]:
    """A Responses request whose input is one user message of ``text``, as Codex and the SDKs send it."""
    message = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return {"model": model, "input": [message], **fields}


def responses_text(body: dict[str, Any]) -> str:
    """The text of a ``response`` object's message items."""
    return "".join(
        part.get("text", "")
        for item in body["output"]
        if item.get("type") == "message"
        for part in item.get("content") or ()
        if part.get("type") == "output_text"
    )


@pytest.mark.parity
@pytest.mark.requires(Capability.RESPONSES_API)
class ResponsesSuite:
    @pytest.mark.parametrize("path", ["/v1/responses", "/responses"])
    def test_response_is_the_providers_answer(self, proxy, fake_provider, path):
        """A Responses request returns the provider's response object, after exactly one provider call
        that got the client's input as it was sent."""
        text = unique()
        body = responses_body(text)
        with proxy.client() as http:
            response = http.post(path, json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["object"] == "response"
        assert answer["status"] == "completed"
        assert responses_text(answer) == echo_reply(text)
        assert answer["usage"]["total_tokens"] > 0
        [upstream] = model_calls(fake_provider)
        assert upstream.endpoint == "/responses"
        assert upstream.json["model"] == "gpt-4o-mini"
        assert upstream.json["input"] == body["input"]

    def test_openai_sdk_creates_and_streams(self, proxy):
        """The openai SDK's ``responses.create`` and ``responses.stream`` get the answer's text, and the
        stream's final response has usage."""
        client = proxy.openai()
        text = unique()
        created = client.responses.create(model="gpt-fake", input=text, instructions="Be brief.")
        assert created.output_text == echo_reply(text)
        asked = unique("tell me more")
        with client.responses.stream(model="gpt-fake", input=asked) as stream:
            deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
            final = stream.get_final_response()
        assert "".join(deltas) == echo_reply(asked)
        assert len(deltas) > 1
        assert final.output_text == echo_reply(asked)
        assert final.usage is not None and final.usage.output_tokens > 0

    def test_client_fields_reach_the_provider(self, proxy, fake_provider):
        """instructions, tools, tool_choice, include, store, prompt_cache_key, max_output_tokens, metadata,
        text.format, an input_image part and earlier tool-loop items (encrypted reasoning included) reach the
        provider unchanged."""
        image = {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}
        reasoning = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-opaque"}
        call = {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"echo":"x"}'}
        output = {"type": "function_call_output", "call_id": "call_1", "output": "TOOL OUTPUT"}
        body = responses_body(unique("go on"))
        body["input"][0]["content"].append(image)
        body["input"] = [*body["input"], reasoning, call, output]
        fields = {
            "instructions": "You are a careful assistant.",
            "tools": TOOLS,
            "tool_choice": "auto",
            "parallel_tool_calls": False,
            "include": ["reasoning.encrypted_content"],
            "store": False,
            "prompt_cache_key": "conversation-1234",
            "max_output_tokens": 321,
            "metadata": {"ticket": "T-1"},
            "text": {"format": {"type": "text"}},
        }
        with proxy.client() as http:
            response = http.post("/v1/responses", json={**body, **fields})
        assert response.status_code == 200, response.text
        sent = last_call(fake_provider).json
        for key, value in fields.items():
            assert sent[key] == value, key
        assert sent["input"] == body["input"]

    def test_a_function_tool_round_trip(self, proxy):
        """The model's function_call reaches the SDK; the client's function_call_output goes back and the
        final answer follows."""
        client = proxy.openai()
        prompt = f"look it up {fake_directive('tool_call', rounds=1)}"
        first = client.responses.create(model="gpt-fake", input=prompt, tools=TOOLS)
        [call] = [item for item in first.output if item.type == "function_call"]
        assert call.name == "lookup"
        assert json.loads(call.arguments) == {"echo": prompt}
        history: list[Any] = [
            {"role": "user", "content": prompt},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "found it"},
        ]
        second = client.responses.create(model="gpt-fake", input=history, tools=TOOLS)
        assert second.output_text == echo_reply(prompt)

    def test_stream_is_event_for_event_the_providers(self, proxy):
        """A stream reaches the client as the provider's typed events, in order: response.created first,
        response.completed (with usage) last, deltas that make the text, sequence numbers rising."""
        text = unique("hello there friend")
        body = {**responses_body(text), "stream": True}
        with proxy.client() as http, http.stream("POST", "/v1/responses", json=body) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = read_sse(response)
        names = [event.event for event in events]
        assert names[0] == "response.created"
        assert names[-1] == "response.completed"
        assert [event.data["type"] for event in events] == names
        deltas = [event.data["delta"] for event in events if event.event == "response.output_text.delta"]
        assert "".join(deltas) == echo_reply(text)
        numbers = [event.data["sequence_number"] for event in events]
        assert numbers == sorted(numbers)
        assert events[-1].data["response"]["usage"]["output_tokens"] > 0

    def test_the_first_event_arrives_before_the_provider_finishes(self, proxy, fake_provider):
        """The first text delta reaches the client while the provider is still streaming (never buffered)."""
        prompt = unique(fake_directive("slow_stream", delay=0.05, chunks=30))
        body = {**responses_body(prompt), "stream": True}
        with proxy.client() as http, http.stream("POST", "/v1/responses", json=body) as response:
            events = iter_sse(response)
            for event in events:
                if event.event == "response.output_text.delta":
                    break
            assert not last_call(fake_provider).stream_completed, (
                "the first delta reached the client only once the provider had sent its last: the proxy "
                "buffers the stream instead of relaying it as it comes"
            )
            rest = list(events)
        assert rest[-1].event == "response.completed"

    def test_a_client_that_goes_away_stops_the_upstream_request(self, proxy, fake_provider):
        """A client that disconnects mid-stream makes the proxy close its request to the provider."""
        body = {
            **responses_body(unique(fake_directive("slow_stream", delay=0.1, chunks=100))),
            "stream": True,
        }
        with proxy.client() as http, http.stream("POST", "/v1/responses", json=body) as response:
            next(iter_sse(response))
        fake_provider.wait_for(
            lambda: last_call(fake_provider).stream_cancelled,
            timeout=5,
            expected="the proxy to close its upstream stream when the client disconnected",
        )
        assert not last_call(fake_provider).stream_completed

    def test_a_streamed_tool_call_arrives_as_its_events(self, proxy):
        """A streamed function call arrives as output_item.added, arguments deltas and their done event."""
        prompt = f"call it {fake_directive('tool_call')}"
        body = {**responses_body(prompt), "tools": TOOLS, "stream": True}
        with proxy.client() as http, http.stream("POST", "/v1/responses", json=body) as response:
            events = read_sse(response)
        added = [e.data["item"] for e in events if e.event == "response.output_item.added"]
        assert added[0]["type"] == "function_call"
        arguments = "".join(
            e.data["delta"] for e in events if e.event == "response.function_call_arguments.delta"
        )
        assert json.loads(arguments) == {"echo": prompt}
        assert events[-1].event == "response.completed"

    @pytest.mark.requires(Capability.ERROR_NORMALISATION)
    def test_a_provider_429_keeps_its_status_and_retry_after(self, proxy):
        """A provider 429 reaches the client as rate_limit_error in the OpenAI envelope with Retry-After."""
        body = responses_body(f"hi {fake_directive('rate_limit', retry_after=9)}")
        with proxy.client() as http:
            response = http.post("/v1/responses", json=body)
        assert response.status_code == 429, response.text
        assert response.json()["error"]["type"] == "rate_limit_error"
        assert response.headers["retry-after"] == "9"

    @pytest.mark.requires(Capability.ERROR_NORMALISATION)
    def test_a_provider_error_before_the_stream_is_a_json_error(self, proxy):
        """A stream request the provider refuses up front gets the provider's status as a JSON error."""
        body = {**responses_body(f"hi {fake_directive('server_error')}"), "stream": True}
        with proxy.client() as http:
            response = http.post("/v1/responses", json=body)
        assert response.status_code == 500, response.text
        assert set(response.json()["error"]) >= {"message", "type", "code"}

    def test_a_stream_cut_short_ends_with_one_error_event(self, proxy):
        """A provider that drops the connection mid-stream gives the client one error event, then the end."""
        body = {**responses_body(f"cut me {fake_directive('cut', after=2)}"), "stream": True}
        with proxy.client() as http, http.stream("POST", "/v1/responses", json=body) as response:
            assert response.status_code == 200
            events = list(iter_sse(response))
        assert events[-1].event == "error"
        assert events[-1].data["type"] == "error"
        assert events[-1].data["message"]
        assert [e.event for e in events].count("error") == 1
        assert "response.completed" not in [e.event for e in events]

    @pytest.mark.requires(Capability.INPUT_VALIDATION)
    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({"model": "gpt-fake"}, "input"),
            ({"model": "gpt-fake", "input": 7}, "input"),
            ({"model": "gpt-fake", "input": [{"content": "no role"}]}, "input.0"),
            ({"model": "gpt-fake", "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
             "input.0"),
            ({"model": "gpt-fake", "input": "hi", "tools": [{"type": "function"}]}, "tools.0"),
            ({"model": "gpt-fake", "input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
            ({"model": "gpt-fake", "input": "hi", "stream": "yes"}, "stream"),
        ],
        ids=["no-input", "input-number", "item-without-role", "text-part-without-text", "unnamed-function",
             "zero-max-output-tokens", "stream-not-bool"],
    )  # fmt: skip
    def test_bad_bodies_are_refused_before_the_provider(self, proxy, fake_provider, body, param):
        """A body the Responses API would refuse gets a 400 in the OpenAI envelope naming the parameter, and
        never reaches the provider."""
        with proxy.client() as http:
            response = http.post("/v1/responses", json=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert (error["param"] or "").startswith(param)
        assert model_calls(fake_provider) == []

    @pytest.mark.requires(Capability.ERROR_NORMALISATION)
    def test_an_unknown_model_is_a_404_in_the_openai_envelope(self, proxy, fake_provider):
        """A model the proxy does not serve is a 404 model_not_found before any provider call."""
        with proxy.client() as http:
            response = http.post("/v1/responses", json=responses_body("hi", model="no-such-model"))
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "model_not_found"
        assert model_calls(fake_provider) == []

    @pytest.mark.requires(Capability.TRANSLATION)
    def test_an_anthropic_format_model_answers_through_messages(self, proxy, fake_provider):
        """A Responses request for an anthropic/ model reaches the provider as Anthropic Messages and comes
        back as a response object, streaming or not."""
        text = unique()
        client = proxy.openai()
        created = client.responses.create(model="claude-fake", input=text, max_output_tokens=50)
        assert created.output_text == echo_reply(text)
        assert last_call(fake_provider).endpoint == "/messages"
        with client.responses.stream(model="claude-fake", input=text, max_output_tokens=50) as stream:
            final = stream.get_final_response()
        assert final.output_text == echo_reply(text)

    def test_previous_response_id_reaches_a_provider_that_keeps_responses(self, proxy, fake_provider):
        """A request continuing a stored response by previous_response_id reaches an OpenAI-format provider
        with that id (LiteLLM's encoding of it undone) and only its new input."""
        client = proxy.openai()
        first = client.responses.create(model="gpt-fake", input=unique())
        second = client.responses.create(model="gpt-fake", input="and then?", previous_response_id=first.id)
        assert second.output_text == echo_reply("and then?")
        sent = last_call(fake_provider).json
        assert sent["input"] == "and then?"
        # LiteLLM hands out the provider's id wrapped with its deployment's (encrypted by the LiteLLM
        # proxy), and unwraps it for the provider.
        assert sent["previous_response_id"].startswith("resp_")
        assert sent["previous_response_id"] != first.id

    @pytest.mark.requires(Capability.INPUT_VALIDATION, Capability.TRANSLATION)
    def test_previous_response_id_is_refused_for_a_provider_that_keeps_none(self, proxy, fake_provider):
        """previous_response_id for a model whose provider keeps no responses (Anthropic) is a 400 naming
        the parameter, never a silent answer without the earlier turns."""
        with proxy.client() as http:
            response = http.post(
                "/v1/responses",
                json={"model": "claude-fake", "input": "and then?", "previous_response_id": "resp_123"},
            )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "previous_response_id"
        assert model_calls(fake_provider) == []

    def test_the_sdk_raises_on_a_provider_error(self, proxy):
        """The openai SDK raises its typed error for a provider 401 on the Responses route."""
        with pytest.raises(openai.AuthenticationError):
            proxy.openai().responses.create(model="gpt-fake", input=f"hi {fake_directive('auth')}")
