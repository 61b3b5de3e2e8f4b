"""Body reading and chat request validation: every bad input is a 4xx with the parameter named."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from starlette.requests import Request

from proxy.call import Api
from proxy.errors import ClientTooSlow, InvalidRequest, RequestTooLarge
from proxy.requests import (
    USER_PART_TYPES,
    AnthropicMessagesShape,
    ChatCompletionShape,
    parse_call,
    read_json_object,
)

HELLO = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
ANTHROPIC_HELLO = {**HELLO, "max_tokens": 10}
USER_INT_TEXT = {"role": "user", "content": [{"type": "text", "text": 5}]}


def make_request(body: bytes, headers: dict[str, str] | None = None) -> Request:
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)] or [b""]
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]

    async def receive() -> dict:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw_headers}, receive)


async def test_reads_a_json_object():
    assert await read_json_object(make_request(b'{"a": [1, 2]}'), max_bytes=100) == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON list"),
        (b'"text"', "not a JSON str"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"temperature": NaN}', "NaN, Infinity and unpaired surrogates are not JSON"),
        (b'{"temperature": Infinity}', "not valid JSON"),
        (b'{"temperature": 1e400}', "not valid JSON"),
        (b'{"content": "\\ud800"}', "not valid JSON"),
        (b'{"content": "\xed\xa0\x80"}', "not valid JSON"),  # the same surrogate, raw
        (b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}", "not valid JSON"),
    ],
    ids=["empty", "text", "list", "string", "not-utf8", "nan", "infinity", "overflow", "surrogate",
         "raw-surrogate", "deep"],
)  # fmt: skip
async def test_bad_bodies_are_400(body, message):
    with pytest.raises(InvalidRequest, match=message):
        await read_json_object(make_request(body), max_bytes=10_000)


def test_a_paired_surrogate_is_one_character():
    assert orjson.loads(b'"\\ud83d\\ude00"') == "\U0001f600"


def test_user_part_types_are_the_ones_litellm_accepts():
    """LiteLLM's list may grow in a release: this fails then, so the proxy never refuses what it accepts."""
    from litellm.types.llms.openai import ValidUserMessageContentTypes

    assert set(ValidUserMessageContentTypes) == USER_PART_TYPES


async def test_limit_applies_to_declared_and_streamed_length():
    with pytest.raises(RequestTooLarge):
        await read_json_object(make_request(b"{}", {"content-length": "101"}), max_bytes=100)
    with pytest.raises(RequestTooLarge) as caught:
        await read_json_object(make_request(b'{"a": "' + b"x" * 200 + b'"}'), max_bytes=100)
    assert caught.value.status == 413


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model", "missing_parameter"),
        ({"model": "m"}, "messages", "missing_parameter"),
        ({"model": 3, "messages": [{"role": "user"}]}, "model", "invalid_request"),
        ({"model": "", "messages": [{"role": "user"}]}, "model", "invalid_request"),
        ({"model": "m", "messages": []}, "messages", "invalid_request"),
        ({"model": "m", "messages": "hi"}, "messages", "invalid_request"),
        ({"model": "m", "messages": [{"content": "x"}]}, "messages.0.role", "missing_parameter"),
        ({"model": "m", "messages": ["hi"]}, "messages.0", "invalid_request"),
        ({"model": "m", "messages": [{"role": "user"}], "stream": "yes"}, "stream", "invalid_request"),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages.0", "invalid_request"),
        ({"model": "m", "messages": [USER_INT_TEXT]}, "messages.0.content.0", "invalid_request"),
        ({"model": "m", "messages": [{"role": "user", "content": [{"text": "x"}]}]},
         "messages.0.content.0.type", "missing_parameter"),
        ({"model": "m", "messages": [{"role": "user", "content": [{"type": "tool_use"}]}]},
         "messages.0", "invalid_request"),
        ({**HELLO, "metadata": "x"}, "metadata", "invalid_request"),
        ({**HELLO, "timeout": "10"}, "timeout", "invalid_request"),
        ({**HELLO, "timeout": -1}, "timeout", "invalid_request"),
        ({**HELLO, "tools": "x"}, "tools", "invalid_request"),
        ({**HELLO, "tools": [{"type": "x"}]}, "tools.0.type", "invalid_request"),
        ({**HELLO, "tools": [{"type": "function"}]}, "tools.0", "invalid_request"),
        ({**HELLO, "stop": [{"a": 1}]}, "stop.0", "invalid_request"),
        ({**HELLO, "max_tokens": "5"}, "max_tokens", "invalid_request"),
    ],
)  # fmt: skip
def test_chat_shape_errors_name_the_parameter(body, param, code):
    with pytest.raises(InvalidRequest) as caught:
        parse_call(body, api=Api.CHAT, shape=ChatCompletionShape)
    assert (caught.value.param, caught.value.code) == (param, code)


def test_tools_of_openai_and_of_providers_pass():
    tools = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
        {"type": "custom", "custom": {"name": "grammar"}},
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    assert (
        parse_call({**HELLO, "tools": tools}, api=Api.CHAT, shape=ChatCompletionShape).payload["tools"]
        == tools
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**ANTHROPIC_HELLO, "metadata": {"user_id": 5}}, "metadata.user_id"),
        ({**ANTHROPIC_HELLO, "tools": "x"}, "tools"),
        ({**ANTHROPIC_HELLO, "timeout": "str"}, "timeout"),
        ({**ANTHROPIC_HELLO, "stop_sequences": "x"}, "stop_sequences"),
        ({**ANTHROPIC_HELLO, "messages": [USER_INT_TEXT]}, "messages.0.content.0"),
    ],
)
def test_messages_shape_errors_name_the_parameter(body, param):
    with pytest.raises(InvalidRequest) as caught:
        parse_call(body, api=Api.MESSAGES, shape=AnthropicMessagesShape)
    assert caught.value.param == param


def test_everything_else_is_kept_for_the_provider():
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "x", "name": "n"}],
        "stream": True,
        "temperature": 0.2,
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "some_future_field": {"x": 1},
    }
    call = parse_call(body, api=Api.CHAT, shape=ChatCompletionShape)
    assert call.stream is True
    assert call.payload == {k: v for k, v in body.items() if k != "stream"}


async def test_a_client_gone_mid_body_is_a_bad_request_not_a_proxy_failure():
    async def receive() -> dict:
        return {"type": "http.disconnect"}

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)
    with pytest.raises(InvalidRequest, match="went away"):
        await read_json_object(request, max_bytes=100)


async def test_a_body_that_stops_coming_is_a_408():
    async def receive() -> dict:
        await asyncio.Event().wait()  # never
        return {}

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)
    with pytest.raises(ClientTooSlow, match=r"within 0\.05 s"):
        await read_json_object(request, max_bytes=100, max_seconds=0.05)
