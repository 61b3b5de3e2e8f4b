"""Body reading and chat request validation: every bad input is a 4xx with the parameter named."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from proxy.call import Api
from proxy.errors import InvalidRequest, RequestTooLarge
from proxy.requests import ChatCompletionShape, parse_call, read_json_object


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
    ],
)
async def test_bad_bodies_are_400(body, message):
    with pytest.raises(InvalidRequest, match=message):
        await read_json_object(make_request(body), max_bytes=100)


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
    ],
)
def test_chat_shape_errors_name_the_parameter(body, param, code):
    with pytest.raises(InvalidRequest) as caught:
        parse_call(body, api=Api.CHAT, shape=ChatCompletionShape)
    assert (caught.value.param, caught.value.code) == (param, code)


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
