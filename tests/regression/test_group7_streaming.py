"""Seed group 7: streams were mocked with sync iterators and the proxy got ``NoneType is not async
iterable`` or an unformatted stream.

A real litellm ``CustomStreamWrapper`` over an async generator goes through the Router and the app and
comes out as SSE ``data:`` events ending in ``[DONE]``, or in one error event when it fails mid-way.
"""

from __future__ import annotations

from conformance.harness import app_client, conformance_config
from conformance.mocks import MOCK_PROVIDER_URL
from proxy.app import create_app
from proxy.backends.sdk import SdkBackend

BODY = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def sse_data(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


async def test_mock_streaming_response_is_a_real_async_stream(mock_streaming_response):
    from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

    stream = await mock_streaming_response(["Hello", " World"])
    assert isinstance(stream, CustomStreamWrapper)
    texts = [chunk.choices[0].delta.content async for chunk in stream]
    assert "".join(t or "" for t in texts) == "Hello World"


async def test_streaming_response_format(mock_litellm_completion):
    mock_litellm_completion.reply = "one two three"
    config = conformance_config(MOCK_PROVIDER_URL, "http://127.0.0.1:9")
    app = create_app(config, SdkBackend(config))
    async with app_client(app) as client:
        response = await client.post("/v1/chat/completions", json=BODY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    data = sse_data(response.text)
    assert data[-1] == "[DONE]"
    assert mock_litellm_completion.await_args.kwargs["stream"] is True
    assert '"content":"one "' in data[0] or '"content":"one"' in data[0]


async def test_stream_failure_after_first_chunk_is_an_error_event(monkeypatch, mock_streaming_response):
    import litellm

    async def failing(**kwargs):
        return await mock_streaming_response(["a ", "b ", "c"], fail_after=2)

    monkeypatch.setattr(litellm, "acompletion", failing)
    config = conformance_config(MOCK_PROVIDER_URL, "http://127.0.0.1:9")
    app = create_app(config, SdkBackend(config))
    async with app_client(app) as client:
        response = await client.post("/v1/chat/completions", json=BODY)
    data = sse_data(response.text)
    assert response.status_code == 200
    assert '"error"' in data[-1]
    assert "upstream_unreachable" in data[-1]
    assert "[DONE]" not in data
