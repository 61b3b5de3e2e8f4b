"""The fake provider, its loopback server and its respx router behave like the real provider APIs."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import httpx
import openai
import pytest
from respx.models import AllMockedAssertionError
from starlette.applications import Starlette

import conformance.fakes
from conformance.fakes import (
    DIRECTIVES,
    DirectiveError,
    FakeProvider,
    LoopbackServer,
    echo_reply,
    embedding_of,
    fake_directive,
    fake_provider_router,
    fake_provider_transport,
)
from conformance.fakes import loopback as loopback_module
from conformance.fakes import provider as provider_module
from conformance.fakes import respx_router as respx_module
from conformance.fakes.provider import parse_directive
from conformance.fakes.provider.answer import split

RESPX_BASE = "http://fake-provider.test"


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[FakeProvider, LoopbackServer]]:
    """One server for the module: starting uvicorn per test would dominate the run time."""
    provider = FakeProvider()
    with LoopbackServer(provider.app) as server:
        yield provider, server


@pytest.fixture
def provider(shared: tuple[FakeProvider, LoopbackServer]) -> FakeProvider:
    shared[0].reset()
    return shared[0]


@pytest.fixture
def url(shared: tuple[FakeProvider, LoopbackServer], provider: FakeProvider) -> str:
    return shared[1].url


@pytest.fixture
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=5) as client:
        yield client


@pytest.fixture
def oai(url: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=url + "/v1", api_key="sk-test", max_retries=0, default_headers={"x-sm-user-id": "user-1"}
    )


@pytest.fixture
def claude(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}], **extra}


def sse_data(lines: list[str]) -> list[Any]:
    """The JSON payloads of an SSE transcript (``[DONE]`` kept as a string)."""
    payloads = [line[len("data: ") :] for line in lines if line.startswith("data: ")]
    return [payload if payload == "[DONE]" else json.loads(payload) for payload in payloads]


WEATHER_TOOL_OPENAI = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
WEATHER_TOOL_ANTHROPIC = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}


# -- directives and helpers ----------------------------------------------------------------------------------


def test_parse_directive_takes_the_first_match_and_its_params() -> None:
    """The first directive in the text wins and its key=value params are kept as strings."""
    directive = parse_directive('{"content": "a [[fake:rate_limit retry_after=3]] b [[fake:auth]]"}')
    assert directive is not None
    assert (directive.name, dict(directive.params)) == ("rate_limit", {"retry_after": "3"})
    assert parse_directive("no directive here") is None


def test_unknown_directive_is_an_error_not_a_silent_normal_answer() -> None:
    """A typo'd directive raises, naming the known ones."""
    with pytest.raises(DirectiveError, match="rate_limit"):
        parse_directive("[[fake:rate_limt]]")
    with pytest.raises(DirectiveError):
        fake_directive("nope")
    assert fake_directive("cut", after=1) == "[[fake:cut after=1]]"


@pytest.mark.parametrize("text", ["echo: hello there  friend", "echo: ", "echo: x", "a"])
def test_split_pieces_concatenate_to_the_text(text: str) -> None:
    """Streamed deltas always rebuild the reply exactly, in at least two pieces."""
    pieces = split(text)
    assert "".join(pieces) == text
    assert len(pieces) >= 2
    assert "".join(split(text, 7)) == text
    assert len(split(text, 7)) == 7


@pytest.mark.parametrize("module", [conformance.fakes, provider_module, loopback_module, respx_module])
def test_all_is_complete(module: Any) -> None:
    """Every public name a module defines is exported, and every export exists."""
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    }
    assert defined <= set(module.__all__)
    assert all(hasattr(module, name) for name in module.__all__)
    if module is conformance.fakes:
        exported = set(provider_module.__all__) | set(loopback_module.__all__) | set(respx_module.__all__)
        missing = exported - set(module.__all__) - {"ConnectionDropped", "endpoint_path", "parse_directive"}
        assert not missing


# -- OpenAI chat completions over a real socket --------------------------------------------------------------


def test_openai_chat_completion_parses_with_the_sdk_and_is_recorded(
    oai: openai.OpenAI, provider: FakeProvider
) -> None:
    """A chat completion echoes the last user message; the record keeps headers and parsed JSON."""
    completion = oai.chat.completions.create(
        model="gpt-test",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "there"}],
            },
        ],
    )
    assert completion.choices[0].message.content == echo_reply("hello\nthere")
    assert completion.model == "gpt-test"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    record = provider.last("/chat/completions")
    assert record.path == "/v1/chat/completions"
    assert record.headers["x-sm-user-id"] == "user-1"
    assert record.headers["authorization"] == "Bearer sk-test"
    assert record.json["messages"][1]["content"] == "first"
    assert record.status == 200 and not record.streamed


def test_openai_chat_stream_deltas_rebuild_the_reply(oai: openai.OpenAI, provider: FakeProvider) -> None:
    """A streamed completion sends several deltas, a stop chunk, and usage when asked."""
    stream = oai.chat.completions.create(
        **chat("stream me please"), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(deltas) == echo_reply("stream me please")
    assert len(deltas) >= 2
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    provider.wait_for(lambda: provider.last().stream_completed, timeout=2)
    assert not provider.last().stream_cancelled


def test_openai_stream_without_include_usage_has_no_usage_chunk(http: httpx.Client) -> None:
    """Only ``stream_options.include_usage`` adds the choices-less usage chunk; [DONE] always ends."""
    with http.stream("POST", "/chat/completions", json=chat("hi", stream=True)) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_data(list(response.iter_lines()))
    assert events[-1] == "[DONE]"
    assert all(event["choices"] for event in events[:-1])


def test_openai_tool_call_json_and_stream(oai: openai.OpenAI) -> None:
    """With tools and [[fake:tool_call]], the first tool is called with {"echo": <user text>}."""
    text = "weather? [[fake:tool_call]]"
    completion = oai.chat.completions.create(**chat(text), tools=[WEATHER_TOOL_OPENAI])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"echo": text}

    chunks = list(oai.chat.completions.create(**chat(text), tools=[WEATHER_TOOL_OPENAI], stream=True))
    calls = [c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert calls[0][0].function.name == "get_weather"
    assert json.loads("".join(part[0].function.arguments or "" for part in calls)) == {"echo": text}
    assert len(calls) >= 3
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_call_directive_without_tools_answers_normally(oai: openai.OpenAI) -> None:
    """tool_call needs tools in the request; without them the fake answers with text."""
    completion = oai.chat.completions.create(**chat("x [[fake:tool_call]]"))
    assert completion.choices[0].message.content == echo_reply("x [[fake:tool_call]]")


def test_openai_rate_limit_maps_to_sdk_error_with_retry_after(oai: openai.OpenAI) -> None:
    """A 429 reaches the SDK as RateLimitError, with retry-after and OpenAI's error type/code."""
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(**chat("hi [[fake:rate_limit retry_after=3]]"))
    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "requests"


OPENAI_ERRORS = [
    ("rate_limit", 429, "rate_limit_exceeded"),
    ("bad_request", 400, None),
    ("context_length", 400, "context_length_exceeded"),
    ("auth", 401, "invalid_api_key"),
    ("permission", 403, "permission_denied"),
    ("not_found", 404, "model_not_found"),
    ("server_error", 500, None),
    ("overloaded", 503, "engine_overloaded"),
]


@pytest.mark.parametrize(("name", "status", "code"), OPENAI_ERRORS)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/responses"])
def test_openai_error_directives(
    http: httpx.Client, provider: FakeProvider, name: str, status: int, code: str | None, path: str
) -> None:
    """Each error directive gives its status in OpenAI's envelope, and is recorded first."""
    body = chat(f"hi [[fake:{name}]]") if "chat" in path else {"model": "m", "input": f"[[fake:{name}]]"}
    response = http.post(path, json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    if name in ("rate_limit", "overloaded"):
        assert response.headers["retry-after"] == "7"
    if name == "context_length":
        assert error["message"].startswith("This model's maximum context length is 8192 tokens.")
    assert provider.last().status == status
    assert provider.last().directive is not None and provider.last().directive.name == name


def test_unknown_directive_answers_400_naming_known_ones(http: httpx.Client) -> None:
    """A typo in a test's directive fails loudly instead of passing as a normal answer."""
    response = http.post("/v1/chat/completions", json=chat("[[fake:rate_limt]]"))
    assert response.status_code == 400
    assert "rate_limit" in response.json()["error"]["message"]


def test_malformed_answers_invalid_json(http: httpx.Client) -> None:
    """malformed → 200 application/json whose body does not parse."""
    response = http.post("/v1/chat/completions", json=chat("[[fake:malformed]]"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_slow_delays_the_answer_past_a_client_timeout(http: httpx.Client, provider: FakeProvider) -> None:
    """slow seconds=S holds the answer S seconds, so a shorter client timeout fires."""
    with pytest.raises(httpx.ReadTimeout):
        http.post("/v1/chat/completions", json=chat("[[fake:slow seconds=0.25]]"), timeout=0.05)
    provider.wait_for(lambda: provider.last().status == 200, timeout=2)


def test_unknown_path_and_models(http: httpx.Client) -> None:
    """/models lists fake-model with and without /v1; any other path is OpenAI's 404 envelope."""
    for path in ("/v1/models", "/models"):
        assert http.get(path).json()["data"][0]["id"] == "fake-model"
    response = http.post("/v1/images/generations", json={})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_embeddings_are_one_deterministic_vector_per_input(http: httpx.Client) -> None:
    """/v1/embeddings answers each input with its own vector, the same one every time, of the asked size."""
    answer = http.post("/v1/embeddings", json={"model": "m", "input": ["a", "b"], "dimensions": 3}).json()
    assert [item["embedding"] for item in answer["data"]] == [embedding_of("a", 3), embedding_of("b", 3)]
    assert embedding_of("a", 3) != embedding_of("b", 3)
    single = http.post("/embeddings", json={"model": "m", "input": "a"}).json()
    assert single["data"][0]["embedding"] == embedding_of("a")
    assert len(single["data"][0]["embedding"]) == 8


# -- Anthropic messages --------------------------------------------------------------------------------------


def test_anthropic_message_and_stream_parse_with_the_sdk(
    claude: anthropic.Anthropic, provider: FakeProvider
) -> None:
    """Messages JSON and SSE (message_start … message_stop) parse with the official SDK."""
    messages: Any = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "you"}]}
    ]
    message = claude.messages.create(model="claude-test", max_tokens=32, messages=messages)
    assert message.content[0].type == "text" and message.content[0].text == echo_reply("hi\nyou")
    assert message.stop_reason == "end_turn"
    headers = provider.last("/v1/messages").headers
    assert "anthropic-version" in headers
    sent_key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    assert sent_key == "sk-ant-test"

    with claude.messages.stream(model="claude-test", max_tokens=32, messages=messages) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(deltas) == echo_reply("hi\nyou") and len(deltas) >= 2
    assert final.usage.output_tokens == len(deltas)
    provider.wait_for(lambda: provider.last().stream_completed, timeout=2)


def test_anthropic_tool_use_json_and_stream(claude: anthropic.Anthropic) -> None:
    """tool_call → a tool_use block (stop_reason tool_use), streamed as input_json_delta."""
    text = "weather [[fake:tool_call]]"
    kwargs: Any = {
        "model": "claude-test",
        "max_tokens": 32,
        "tools": [WEATHER_TOOL_ANTHROPIC],
        "messages": [{"role": "user", "content": text}],
    }
    message = claude.messages.create(**kwargs)
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == {"echo": text}
    with claude.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == {"echo": text}


def test_a_tool_call_names_its_tool_and_arguments(claude: anthropic.Anthropic) -> None:
    """tool_call tool=NAME arg_X=...: that tool (not the first), with those arguments (underscores for
    spaces), as a test scripts a call of an MCP tool among a client's many."""
    remember = {"name": "mcp__memory__remember", "input_schema": {"type": "object"}}
    text = "keep it [[fake:tool_call tool=mcp__memory__remember arg_note=the_key_rotates_on_Fridays]]"
    kwargs: Any = {
        "model": "claude-test",
        "max_tokens": 32,
        "tools": [WEATHER_TOOL_ANTHROPIC, remember],
        "messages": [{"role": "user", "content": text}],
    }
    for message in (
        claude.messages.create(**kwargs),
        claude.messages.stream(**kwargs).__enter__().get_final_message(),
    ):
        block = message.content[0]
        assert block.type == "tool_use"
        assert (block.name, block.input) == ("mcp__memory__remember", {"note": "the key rotates on Fridays"})


ANTHROPIC_ERRORS = [
    ("rate_limit", 429, "rate_limit_error", anthropic.RateLimitError),
    ("bad_request", 400, "invalid_request_error", anthropic.BadRequestError),
    ("context_length", 400, "invalid_request_error", anthropic.BadRequestError),
    ("auth", 401, "authentication_error", anthropic.AuthenticationError),
    ("permission", 403, "permission_error", anthropic.PermissionDeniedError),
    ("not_found", 404, "not_found_error", anthropic.NotFoundError),
    ("server_error", 500, "api_error", anthropic.InternalServerError),
    ("overloaded", 529, "overloaded_error", anthropic.OverloadedError),
]


@pytest.mark.parametrize(("name", "status", "error_type", "sdk_error"), ANTHROPIC_ERRORS)
def test_anthropic_error_directives(
    claude: anthropic.Anthropic, name: str, status: int, error_type: str, sdk_error: type[Exception]
) -> None:
    """On /v1/messages errors use Anthropic's envelope and the SDK maps them to its own classes."""
    with pytest.raises(sdk_error) as caught:
        claude.messages.create(
            model="claude-test", max_tokens=8, messages=[{"role": "user", "content": f"[[fake:{name}]]"}]
        )
    error = caught.value
    assert isinstance(error, anthropic.APIStatusError)
    assert error.status_code == status
    assert isinstance(error.body, dict) and error.body["type"] == "error"
    assert error.body["error"]["type"] == error_type
    if name == "context_length":
        assert error.body["error"]["message"] == "prompt is too long: 210000 tokens > 200000 maximum"
    if name in ("rate_limit", "overloaded"):
        assert error.response.headers["retry-after"] == "7"


def test_count_tokens(http: httpx.Client) -> None:
    """/v1/messages/count_tokens answers a deterministic word count."""
    body = {"model": "claude-test", "messages": [{"role": "user", "content": "one two three"}]}
    assert http.post("/v1/messages/count_tokens", json=body).json() == {"input_tokens": 3}


# -- OpenAI Responses API ------------------------------------------------------------------------------------


def test_responses_create_and_stream_parse_with_the_sdk(oai: openai.OpenAI, provider: FakeProvider) -> None:
    """The Responses API object and its event stream parse with the SDK, including its accumulator."""
    response = oai.responses.create(model="gpt-test", input="what is up", instructions="be kind")
    assert response.output_text == echo_reply("what is up")
    assert response.status == "completed"
    assert response.usage is not None and response.usage.total_tokens > 0

    items: Any = [
        {"role": "user", "content": "older"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "newest words"}]},
    ]
    events = list(oai.responses.create(model="gpt-test", input=items, stream=True))
    names = [event.type for event in events]
    assert names[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert names[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == echo_reply("newest words") and len(deltas) >= 2
    assert [event.sequence_number for event in events] == list(range(len(events)))

    with oai.responses.stream(model="gpt-test", input="accumulate me") as stream:
        final = stream.get_final_response()
    assert final.output_text == echo_reply("accumulate me")
    assert provider.last("/responses").json["input"] == "accumulate me"


def test_responses_tool_call(oai: openai.OpenAI) -> None:
    """Responses API tool calls come back as a function_call item, also through the stream accumulator."""
    tools: Any = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]
    response = oai.responses.create(model="gpt-test", input="find [[fake:tool_call]]", tools=tools)
    item = response.output[0]
    assert item.type == "function_call" and item.name == "lookup"
    assert json.loads(item.arguments) == {"echo": "find [[fake:tool_call]]"}
    with oai.responses.stream(model="gpt-test", input="find [[fake:tool_call]]", tools=tools) as stream:
        final = stream.get_final_response()
    assert final.output[0].type == "function_call"


# -- connection-level behaviours -----------------------------------------------------------------------------


def test_cookie_challenge_sequence(http: httpx.Client, url: str, provider: FakeProvider) -> None:
    """First answer sets cf_clearance; without it later requests get an html 403, with it 200."""
    body = chat("hi [[fake:cookie_challenge]]")
    first = http.post("/v1/chat/completions", json=body)
    assert first.status_code == 200
    assert first.headers["set-cookie"] == f"cf_clearance={provider.cookie_value}; Path=/; HttpOnly"

    without = httpx.post(url + "/v1/chat/completions", json=body)
    assert without.status_code == 403
    assert without.headers["content-type"].startswith("text/html")
    assert "cf challenge: missing cf_clearance" in without.text

    again = http.post("/v1/chat/completions", json=body)  # the client's jar sends the cookie back
    assert again.status_code == 200
    assert provider.last().headers["cookie"] == f"cf_clearance={provider.cookie_value}"


def test_cut_stream_is_a_broken_connection_for_the_client(
    http: httpx.Client, oai: openai.OpenAI, provider: FakeProvider
) -> None:
    """cut after=K sends K content chunks and then drops the connection without [DONE]."""
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream(
            "POST", "/v1/chat/completions", json=chat("a b c d e [[fake:cut after=2]]", stream=True)
        ) as r,
    ):
        lines.extend(r.iter_lines())
    events = sse_data(lines)
    assert [e["choices"][0]["delta"].get("content") for e in events] == ["", "echo: ", "a "]
    assert provider.last().stream_aborted and not provider.last().stream_completed

    with pytest.raises(openai.APIConnectionError):
        list(oai.chat.completions.create(**chat("a b c [[fake:cut]]"), stream=True))
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(**chat("a b c [[fake:cut]]"))


def test_slow_stream_first_chunk_arrives_early_and_disconnect_is_recorded(
    http: httpx.Client, provider: FakeProvider
) -> None:
    """The first chunk reaches the client while the fake still streams; leaving sets stream_cancelled."""
    body = chat("x [[fake:slow_stream delay=0.05 chunks=40]]", stream=True)
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert json.loads(first[6:])["choices"][0]["delta"]["role"] == "assistant"
        record = provider.last()
        assert record.streamed and not record.stream_completed
    provider.wait_for(lambda: record.stream_cancelled, timeout=2)
    assert not record.stream_completed


# -- the respx router ----------------------------------------------------------------------------------------


@asynccontextmanager
async def respx_client(provider: FakeProvider, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = fake_provider_transport(provider, **kwargs)
    async with httpx.AsyncClient(transport=transport, base_url=RESPX_BASE) as client:
        yield client


async def test_respx_json_stream_and_records() -> None:
    """In process, the same provider answers JSON and streams SSE with the same shapes."""
    provider = FakeProvider()
    async with respx_client(provider) as client:
        response = await client.post(
            "/v1/chat/completions", json=chat("in process"), headers={"x-sm-user-id": "u"}
        )
        assert response.json()["choices"][0]["message"]["content"] == echo_reply("in process")
        async with client.stream("POST", "/v1/messages", json=chat("streamed", stream=True)) as streamed:
            lines = [line async for line in streamed.aiter_lines()]
    events = sse_data(lines)
    types = [e["type"] for e in events]
    assert (types[0], types[-1]) == ("message_start", "message_stop")
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == echo_reply("streamed")
    assert provider.records[0].headers["x-sm-user-id"] == "u"
    assert provider.records[1].stream_completed


async def test_respx_errors_cut_and_cancel() -> None:
    """Directives work in process: statuses, a cut as RemoteProtocolError, an early close as cancel."""
    provider = FakeProvider()
    async with respx_client(provider) as client:
        limited = await client.post("/chat/completions", json=chat("[[fake:rate_limit retry_after=2]]"))
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
        with pytest.raises(httpx.RemoteProtocolError):
            async with client.stream(
                "POST", "/v1/chat/completions", json=chat("a [[fake:cut]]", stream=True)
            ) as r:
                async for _ in r.aiter_lines():
                    pass
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/v1/responses", json={"model": "m", "input": "[[fake:cut]]"})
        body = chat("[[fake:slow_stream delay=0.01 chunks=20]]", stream=True)
        async with client.stream("POST", "/v1/chat/completions", json=body) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    break
        await provider.wait_for_async(lambda: provider.last().stream_cancelled, timeout=2)
        missing = await client.get("/v1/files")
        assert missing.status_code == 404 and "error" in missing.json()


async def test_respx_cookies_round_trip() -> None:
    """Set-Cookie from the in-process fake lands in the client's jar and is sent back."""
    provider = FakeProvider()
    body = chat("[[fake:cookie_challenge]]")
    async with respx_client(provider) as client:
        assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
        assert client.cookies["cf_clearance"] == provider.cookie_value
        assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
    async with respx_client(provider) as stranger:
        assert (await stranger.post("/v1/chat/completions", json=body)).status_code == 403


async def test_respx_router_is_strict() -> None:
    """A request to a host the router does not serve fails, listing the routes; unused routes can fail."""
    provider = FakeProvider()
    async with respx_client(provider) as client:
        with pytest.raises(AllMockedAssertionError, match="chat_completions"):
            await client.get("http://elsewhere.test/v1/models")
    with pytest.raises(AssertionError):
        async with respx_client(provider, assert_all_called=True) as client:
            await client.get("/v1/models")
    router = fake_provider_router(provider, "http://localhost:9999/openai")
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as client:
        response = await client.post(
            "http://localhost:9999/openai/v1/chat/completions", json=chat("prefixed")
        )
    assert response.json()["choices"][0]["message"]["content"] == echo_reply("prefixed")
    assert router.routes["chat_completions"].call_count == 1
    assert provider.last().path == "/v1/chat/completions"


# -- the loopback server -------------------------------------------------------------------------------------


def test_loopback_servers_run_side_by_side_and_stop() -> None:
    """Each server binds its own port before starting; both answer at once; stop frees the port."""
    first_provider, second_provider = FakeProvider(), FakeProvider()
    first, second = LoopbackServer(first_provider.app), LoopbackServer(second_provider.app)
    assert first.url != second.url and first.url.startswith("http://127.0.0.1:")
    with first, second:
        assert first.running and second.running
        httpx.get(first.url + "/v1/models").raise_for_status()
        httpx.get(second.url + "/models").raise_for_status()
    assert len(first_provider.records) == 1 and len(second_provider.records) == 1
    assert not first.running
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", first.port), timeout=1),
    ):
        pass
    with pytest.raises(RuntimeError):
        first.start()


def test_loopback_reports_a_failed_startup() -> None:
    """A lifespan that fails makes start() raise instead of hanging."""

    @asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no")
        yield

    with pytest.raises(RuntimeError, match="failed to start"):
        LoopbackServer(Starlette(lifespan=broken), lifespan="on").start()


def test_directive_table_documents_every_behaviour() -> None:
    """Every directive the brief names is known to the fake."""
    assert set(DIRECTIVES) == {
        "rate_limit",
        "bad_request",
        "context_length",
        "auth",
        "permission",
        "not_found",
        "server_error",
        "overloaded",
        "slow",
        "empty",
        "malformed",
        "cut",
        "slow_stream",
        "cookie_challenge",
        "tool_call",
    }
