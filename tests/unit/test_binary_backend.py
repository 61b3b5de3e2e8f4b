"""The binary backend's own hop: retries only where nothing was sent, and LiteLLM's errors read back."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from conformance.backends import binary_backend
from conformance.fakes import echo_reply, fake_directive
from conformance.harness import (
    app_client,
    conformance_raw_config,
    deep_merge,
    serve_proxy,
)
from proxy.app import create_app
from proxy.backends.binary import CONNECT_ATTEMPTS, BinaryBackend, typed_responses_events
from proxy.config import parse_config
from proxy.litellm_errors import error_from_event, error_from_response
from proxy.session import SessionManager


def binary_config(base_url: str):
    return parse_config(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/gpt-4o-mini"}}],
            "memory_proxy": {"litellm_base_url": base_url},
            "general_settings": {"master_key": "sk-master-for-tests-123"},
        },
        source="test",
    )


BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def post_failing_with(error: type[httpx.TransportError]) -> tuple[httpx.Response, list[httpx.Request]]:
    """A chat completion through the binary backend, every attempt at LiteLLM failing with ``error``."""
    attempts: list[httpx.Request] = []

    def fail(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise error("the LiteLLM proxy failed", request=request)

    config = binary_config("http://litellm.test")
    backend = BinaryBackend(config, session=SessionManager(transport=httpx.MockTransport(fail)))
    async with app_client(create_app(config, backend)) as client:
        response = await client.post("/v1/chat/completions", json=BODY)
    return response, attempts


async def test_connect_errors_are_retried_a_bounded_number_of_times_then_502():
    response, attempts = await post_failing_with(httpx.ConnectError)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"
    assert len(attempts) == CONNECT_ATTEMPTS
    assert attempts[0].headers["authorization"] == "Bearer sk-master-for-tests-123"


async def test_a_request_that_reached_litellm_is_never_retried():
    response, attempts = await post_failing_with(httpx.RemoteProtocolError)
    assert response.status_code == 502
    assert len(attempts) == 1


def test_litellm_dying_mid_stream_is_one_502_error_event(fake_provider, fake_provider_url):
    """Pointed straight at an OpenAI-compatible server that drops the stream, the client gets a 502 event."""
    config = deep_merge(
        conformance_raw_config(fake_provider_url, "http://127.0.0.1:9"),
        {"memory_proxy": {"litellm_base_url": fake_provider_url}},
    )
    with serve_proxy(binary_backend, config, fake_provider) as proxy, proxy.client() as http:
        body = {
            "model": "gpt-fake",
            "stream": True,
            "messages": [{"role": "user", "content": fake_directive("cut")}],
        }
        with http.stream("POST", "/v1/chat/completions", json=body) as response:
            text = response.read().decode()
        ok = http.post(
            "/v1/chat/completions",
            json={**body, "stream": False, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code == 200
    assert text.rstrip().splitlines()[-1].startswith('data: {"error"')
    assert "upstream_unreachable" in text.rstrip().splitlines()[-1]
    assert ok.json()["choices"][0]["message"]["content"] == echo_reply("hi")


async def test_readiness_follows_the_litellm_proxys_liveliness():
    alive = {"ok": True}

    def liveliness(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200 if alive["ok"] else 503, json="I'm alive!")

    config = binary_config("http://litellm.test")
    backend = BinaryBackend(config, session=SessionManager(transport=httpx.MockTransport(liveliness)))
    async with app_client(create_app(config, backend)) as client:
        assert (await client.get("/health/readiness")).status_code == 200
        alive["ok"] = False
        assert (await client.get("/health/readiness")).status_code == 503


@pytest.mark.parametrize(
    ("status", "message", "headers", "expected"),
    [
        (
            400,
            "litellm.ContextWindowExceededError: litellm.BadRequestError: too long",
            {},
            (400, "context_length_exceeded"),
        ),
        (408, "litellm.Timeout: APITimeoutError - Request timed out.", {}, (504, "request_timeout")),
        (
            500,
            "litellm.InternalServerError: OpenAIException - Connection error.",
            {},
            (502, "upstream_unreachable"),
        ),
        (
            500,
            "litellm.InternalServerError: Expecting value: line 1 column 1 (char 0)",
            {},
            (502, "upstream_unreachable"),
        ),
        (
            500,
            'litellm.InternalServerError: AnthropicError - {"type": "overloaded_error"}',
            {"llm_provider-retry-after": "2"},
            (503, "service_unavailable"),
        ),
        (
            429,
            "litellm.RateLimitError: slow down",
            {"llm_provider-retry-after": "7"},
            (429, "rate_limit_exceeded"),
        ),
        (500, "litellm.InternalServerError: boom", {}, (500, "upstream_error")),
        (401, "Authentication Error, invalid master key", {}, (401, "invalid_api_key")),
    ],
)
def test_litellm_proxy_errors_read_back(status, message, headers, expected):
    error = error_from_response(
        status, json.dumps({"error": {"message": message}}).encode(), httpx.Headers(headers)
    )
    assert (error.status, error.code) == expected
    if "llm_provider-retry-after" in headers:
        assert error.retry_after == headers["llm_provider-retry-after"]
    assert "litellm." not in error.message


UNREACHABLE_TRAILER = "\n\nLiteLLM: model group 'm' failed with the error above. No fallback was attempted."


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "litellm.InternalServerError: InternalServerError: OpenAIException - "
                              "Connection error." + UNREACHABLE_TRAILER, "code": "500"}},
        {"type": "error", "error": {"type": "api_error", "message": "litellm.InternalServerError: "
         "InternalServerError: OpenAIException - All connection attempts failed" + UNREACHABLE_TRAILER}},
        {"type": "error", "error": {"type": "api_error", "message": "litellm.InternalServerError: "
         "AnthropicException - All connection attempts failed. Handle with `litellm.InternalServerError`."
         + UNREACHABLE_TRAILER}},
        {"error": {"message": "litellm.InternalServerError: InternalServerError: OpenAIException - Cannot "
                              "connect to host 127.0.0.1:9 ssl:<ssl.SSLContext object at 0x7f1dfd3b05f0> "
                              "[Connect call failed ('127.0.0.1', 9)]", "code": "500"}},
    ],
    ids=["chat-openai", "messages-openai", "anthropic", "aiohttp"],
)  # fmt: skip
def test_an_unreachable_provider_behind_litellm_is_a_clean_502(body):
    """The LiteLLM proxy answers a refused connection with a 500 (1.108.7, captured from a real one: the
    openai SDK's, httpx's or aiohttp's text); read back, it is the sdk backend's 502, without object reprs
    or LiteLLM's advice."""
    error = error_from_response(500, json.dumps(body).encode(), httpx.Headers())
    assert (error.status, error.code) == (502, "upstream_unreachable")
    assert not re.search(r"<|object at|0x|litellm", error.message), error.message


def test_non_json_error_body_and_stream_error_event():
    assert error_from_response(502, b"<html>bad gateway</html>", httpx.Headers()).status == 502
    event = {
        "error": {"message": "litellm.APIConnectionError: OpenAIException - Connection error.", "code": "500"}
    }
    assert error_from_event(event).code == "upstream_unreachable"
    assert error_from_event({"error": {"message": "litellm.RateLimitError: x", "code": "429"}}).status == 429


async def test_an_older_litellm_proxys_responses_stream_gets_its_event_names_and_loses_done():
    """LiteLLM proxies before 1.110 send Responses events as bare data lines ending in [DONE]: the client
    gets each with its event name, no [DONE], and a frame that has its name, a comment, untouched."""
    sent = [
        b'data: {"type":"response.created","sequence_number":0}\n\n',
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"hi"}\n\n',
        b": keep-alive\n\n",
        b'data: {"type":"response.completed","sequence_number":2}\n\n',
        b"data: [DONE]\n\n",
    ]

    async def frames():
        for frame in sent:
            yield frame

    got = [frame async for frame in typed_responses_events(frames())]
    assert got == [
        b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n',
        sent[1],
        sent[2],
        b'event: response.completed\ndata: {"type":"response.completed","sequence_number":2}\n\n',
    ]
