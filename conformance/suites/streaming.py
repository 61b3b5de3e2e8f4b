"""Streaming parity: SSE relayed as it is produced, once, and ended cleanly or with one error event."""

from __future__ import annotations

import pytest

from conformance.capabilities import Capability
from conformance.fakes import echo_reply, fake_directive
from conformance.suites.support import (
    chat_body,
    content_of,
    iter_sse,
    last_call,
    model_calls,
    read_sse,
    unique,
)

__all__ = ["StreamingSuite"]


@pytest.mark.parity
class StreamingSuite:
    @pytest.mark.parametrize(
        "model", ["gpt-fake", pytest.param("claude-fake", marks=pytest.mark.requires(Capability.TRANSLATION))]
    )
    def test_stream_relays_the_answer_then_done(self, proxy, fake_provider, model):
        """A stream carries the provider's text as chat.completion.chunk events, then [DONE]; one call."""
        text = unique("tell me a story")
        with (
            proxy.client() as http,
            http.stream(
                "POST", "/v1/chat/completions", json=chat_body(text, model=model, stream=True, max_tokens=50)
            ) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = read_sse(response)
        assert events[-1].raw == "[DONE]"
        chunks = [e.data for e in events[:-1]]
        assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
        assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) >= 2
        assert content_of(events) == echo_reply(text)
        assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
        [upstream] = model_calls(fake_provider)  # exactly one upstream request per stream
        assert upstream.json["stream"] is True

    def test_first_chunk_arrives_before_the_provider_finishes(self, proxy, fake_provider):
        """The first content chunk reaches the client while the provider is still streaming."""
        body = chat_body(unique(fake_directive("slow_stream", delay=0.05, chunks=30)), stream=True)
        with proxy.client() as http, http.stream("POST", "/v1/chat/completions", json=body) as response:
            events = iter_sse(response)
            for event in events:
                if isinstance(event.data, dict) and content_of([event]):
                    break
            assert not last_call(fake_provider).stream_completed, (
                "the first chunk reached the client only once the provider had sent its last: the proxy "
                "buffers the stream instead of relaying it as it comes"
            )
            rest = list(events)
        assert rest[-1].raw == "[DONE]"
        assert last_call(fake_provider).stream_completed

    @pytest.mark.requires(Capability.ERROR_NORMALISATION)
    def test_mid_stream_failure_is_one_error_event_then_the_end(self, proxy, fake_provider):
        """A provider dying mid-stream yields its chunks, one error event in the envelope, then EOF."""
        text = unique(fake_directive("cut", after=3))
        body = chat_body(text, stream=True)
        with proxy.client() as http, http.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            events = read_sse(response)
        relayed = content_of(events)  # all three words sent before the cut, none lost in a buffer
        assert echo_reply(text).startswith(relayed)
        assert len(relayed.split()) == 3
        errors = [e for e in events if isinstance(e.data, dict) and "error" in e.data]
        assert len(errors) == 1
        assert errors[0] is events[-1]
        assert set(errors[0].data["error"]) == {"message", "type", "param", "code"}
        assert all(e.raw != "[DONE]" for e in events)

    def test_client_disconnect_stops_the_upstream_request(self, proxy, fake_provider):
        """A client that goes away mid-stream makes the proxy close its request to the provider."""
        body = chat_body(unique(fake_directive("slow_stream", delay=0.1, chunks=100)), stream=True)
        with proxy.client() as http, http.stream("POST", "/v1/chat/completions", json=body) as response:
            next(iter_sse(response))
        fake_provider.wait_for(
            lambda: last_call(fake_provider).stream_cancelled,
            timeout=5,
            expected="the proxy to close its upstream stream when the client disconnected",
        )
        assert not last_call(fake_provider).stream_completed

    def test_include_usage_adds_a_usage_chunk(self, proxy, fake_provider):
        """stream_options.include_usage reaches the provider and its usage chunk reaches the client."""
        body = chat_body(unique(), stream=True, stream_options={"include_usage": True})
        with proxy.client() as http, http.stream("POST", "/v1/chat/completions", json=body) as response:
            events = read_sse(response)
        assert last_call(fake_provider).json["stream_options"] == {"include_usage": True}
        usage = [e.data["usage"] for e in events[:-1] if e.data.get("usage")]
        assert usage
        assert usage[-1]["total_tokens"] > 0

    def test_error_before_the_first_chunk_is_a_plain_json_error(self, proxy):
        """A provider that refuses a stream up front gives the client an ordinary status and JSON error."""
        body = chat_body(fake_directive("rate_limit", retry_after=5), stream=True)
        with proxy.client() as http:
            response = http.post("/v1/chat/completions", json=body)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "5"
        assert response.json()["error"]["code"] == "rate_limit_exceeded"

    def test_openai_sdk_reads_the_stream(self, proxy):
        """The official openai SDK iterates the stream to the end and gets the whole text."""
        text = unique()
        stream = proxy.openai().chat.completions.create(
            model="gpt-fake", messages=[{"role": "user", "content": text}], stream=True
        )
        assert "".join(
            chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices
        ) == echo_reply(text)
