"""Errors: a provider's fault reaches the client with its status and Retry-After (any proxy); and, for a
proxy that normalises errors (capability ``error_normalisation``), each row of this project's error table
(``PROVIDER_FAULTS`` below; docs/errors.md in the litellm-memory-proxy repository explains each), triggered
by its real cause at the fake provider."""

from __future__ import annotations

import re

import openai
import pytest

from conformance.capabilities import Capability
from conformance.fakes import fake_directive
from conformance.suites.support import anthropic_error, chat_body, model_calls, unique

__all__ = ["PROVIDER_FAULTS", "ErrorsSuite"]

# (model, directive, params) → (status, type, code, retry-after)
PROVIDER_FAULTS = [
    ("gpt-fake", "bad_request", {}, (400, "invalid_request_error", "invalid_request", None)),
    ("gpt-fake", "context_length", {}, (400, "invalid_request_error", "context_length_exceeded", None)),
    ("gpt-fake", "auth", {}, (401, "authentication_error", "invalid_api_key", None)),
    ("gpt-fake", "permission", {}, (403, "permission_error", "permission_denied", None)),
    ("gpt-fake", "not_found", {}, (404, "not_found_error", "model_not_found", None)),
    ("gpt-fake", "rate_limit", {"retry_after": 7}, (429, "rate_limit_error", "rate_limit_exceeded", "7")),
    ("gpt-fake", "server_error", {}, (500, "api_error", "upstream_error", None)),
    ("gpt-fake", "malformed", {}, (502, "api_connection_error", "upstream_unreachable", None)),
    ("gpt-fake", "overloaded", {"retry_after": 3}, (503, "service_unavailable", "service_unavailable", "3")),
    ("gpt-fake-short-timeout", "slow", {"seconds": 3}, (504, "timeout_error", "request_timeout", None)),
    ("claude-fake", "context_length", {}, (400, "invalid_request_error", "context_length_exceeded", None)),
    ("claude-fake", "auth", {}, (401, "authentication_error", "invalid_api_key", None)),
    ("claude-fake", "rate_limit", {"retry_after": 9}, (429, "rate_limit_error", "rate_limit_exceeded", "9")),
    (
        "claude-fake",
        "overloaded",
        {"retry_after": 2},
        (503, "service_unavailable", "service_unavailable", "2"),
    ),
]

OBJECT_REPR = re.compile(r"<[^<>]*>|object at 0x|0x[0-9a-fA-F]{6,}")
"""What a Python object's repr leaves in a message: ``<… object at 0x7f…>``, or its address alone."""


def _assert_envelope(response, status, type_, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert "detail" not in body
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert (body["error"]["type"], body["error"]["code"]) == (type_, code)
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]


def _assert_empty_answer_streams(proxy, model, path):
    body = chat_body(unique(fake_directive("empty")), model=model, max_tokens=20, stream=True)
    with proxy.client() as http, http.stream("POST", path, json=body) as response:
        text = response.read().decode()
    assert response.status_code == 200, text
    assert ("data: [DONE]" if path == "/v1/chat/completions" else "event: message_stop") in text


def _assert_no_stream_is_a_502(proxy, model, path):
    body = chat_body(unique(fake_directive("malformed")), model=model, max_tokens=20, stream=True)
    with proxy.client() as http:
        response = http.post(path, json=body)
    if path == "/v1/messages":
        anthropic_error(response, 502, "api_error")
    else:
        _assert_envelope(response, 502, "api_connection_error", "upstream_unreachable")
    assert "this is not json" not in response.text
    assert "fake-provider-key" not in response.text


# (directive, params) → (status, retry-after): what any proxy must pass on from an OpenAI-format provider.
PASSED_ON = [
    ("bad_request", {}, (400, None)),
    ("auth", {}, (401, None)),
    ("rate_limit", {"retry_after": 7}, (429, "7")),
    ("server_error", {}, (500, None)),
]


@pytest.mark.parity
class ErrorsSuite:
    @pytest.mark.parametrize(("directive", "params", "expected"), PASSED_ON, ids=[d for d, _, _ in PASSED_ON])
    def test_provider_status_and_retry_after_reach_the_client(
        self, proxy, fake_provider, directive, params, expected
    ):
        """A provider's error status reaches the client as it was (with its Retry-After), as a JSON error."""
        status, retry_after = expected
        body = chat_body(unique(fake_directive(directive, **params)), max_tokens=20)
        with proxy.client() as http:
            response = http.post("/v1/chat/completions", json=body)
        assert response.status_code == status, f"the provider answered {status}"
        assert response.headers.get("retry-after") == retry_after, "the provider sent this Retry-After"
        assert isinstance(response.json().get("error"), dict), "an error answer is a JSON object with 'error'"
        assert len(model_calls(fake_provider)) == 1, "one provider call: no hidden retries"

    @pytest.mark.requires(Capability.ERROR_NORMALISATION)
    @pytest.mark.parametrize(
        ("model", "directive", "params", "expected"),
        PROVIDER_FAULTS,
        ids=[f"{m}-{d}" for m, d, _, _ in PROVIDER_FAULTS],
    )
    def test_provider_fault_maps_to_the_design_table(
        self, proxy, fake_provider, model, directive, params, expected
    ):
        """A provider fault reaches the client with the status, type, code and Retry-After of its row."""
        status, type_, code, retry_after = expected
        body = chat_body(unique(fake_directive(directive, **params)), model=model, max_tokens=20)
        with proxy.client() as http:
            response = http.post("/v1/chat/completions", json=body)
        _assert_envelope(response, status, type_, code)
        assert response.headers.get("retry-after") == retry_after
        assert len(model_calls(fake_provider)) == 1  # no hidden retries, by us or by LiteLLM
        assert "sk-fake-provider-key" not in response.text

    @pytest.mark.parametrize("stream", [False, True], ids=["answer", "stream"])
    @pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"], ids=["chat", "messages"])
    @pytest.mark.parametrize("model", ["gpt-unreachable", "claude-unreachable"])
    @pytest.mark.requires(Capability.ERROR_NORMALISATION)
    def test_unreachable_provider_is_a_clean_502(self, proxy, model, path, stream):
        """A provider that refuses connections is a 502 in the surface's envelope, whatever the model's
        format, and its message names no Python object (``ssl:<ssl.SSLContext object at 0x…>``)."""
        body = chat_body(unique(), model=model, max_tokens=20, stream=stream)
        with proxy.client() as http:
            response = http.post(path, json=body)
        if path == "/v1/messages":
            error = anthropic_error(response, 502, "api_error")
        else:
            error = _assert_envelope(response, 502, "api_connection_error", "upstream_unreachable")
        assert not OBJECT_REPR.search(error["message"]), error["message"]

    @pytest.mark.parametrize("model", ["gpt-fake", "claude-fake"])
    @pytest.mark.requires(Capability.ERROR_NORMALISATION)
    def test_a_chat_stream_that_is_not_the_protocol_is_a_clean_502(self, proxy, model):
        """A provider that answers a chat stream request with 200 and a body that is no stream (garbage
        echoing the key it got) gives the client a 502 upstream_unreachable: never that body, nor an empty
        success."""
        _assert_no_stream_is_a_502(proxy, model, "/v1/chat/completions")

    @pytest.mark.parametrize("model", ["gpt-fake", "claude-fake"])
    @pytest.mark.requires(Capability.ERROR_NORMALISATION, Capability.ANTHROPIC_MESSAGES)
    def test_a_messages_stream_that_is_not_the_protocol_is_a_clean_502(self, proxy, model):
        """The same on /v1/messages, in Anthropic's envelope."""
        _assert_no_stream_is_a_502(proxy, model, "/v1/messages")

    def test_an_empty_answer_streams_as_an_empty_success(self, proxy):
        """A model that says nothing (a tool loop's last turn often does) is a 200 stream that ends as the
        protocol says, not an error: unlike a provider that sends no stream at all."""
        _assert_empty_answer_streams(proxy, "gpt-fake", "/v1/chat/completions")

    @pytest.mark.parametrize(
        ("model", "path"),
        [
            ("claude-fake", "/v1/chat/completions"),
            ("claude-fake", "/v1/messages"),
            ("gpt-fake", "/v1/messages"),
        ],
        ids=["chat-anthropic", "messages-anthropic", "messages-openai"],
    )
    @pytest.mark.requires(Capability.ANTHROPIC_MESSAGES, Capability.TRANSLATION)
    def test_an_empty_answer_streams_as_an_empty_success_on_every_surface(self, proxy, model, path):
        """The same for an Anthropic-format model, and on /v1/messages."""
        _assert_empty_answer_streams(proxy, model, path)

    @pytest.mark.requires(Capability.MODELS_FROM_CONFIG, Capability.ERROR_NORMALISATION)
    def test_unknown_model_is_404_before_any_provider_call(self, proxy, fake_provider):
        """A model the config does not list is a 404 model_not_found naming the parameter."""
        with proxy.client() as http:
            response = http.post("/v1/chat/completions", json=chat_body(unique(), model="no-such-model"))
        error = _assert_envelope(response, 404, "not_found_error", "model_not_found")
        assert error["param"] == "model"
        assert model_calls(fake_provider) == []

    @pytest.mark.parametrize(
        ("content", "param", "code"),
        [
            (b"not json", None, "invalid_request"),
            (b"[1, 2, 3]", None, "invalid_request"),
            (b"", None, "invalid_request"),
            (b'{"messages": [{"role": "user", "content": "x"}]}', "model", "missing_parameter"),
            (b'{"model": "gpt-fake"}', "messages", "missing_parameter"),
            (b'{"model": 7, "messages": [{"role": "user", "content": "x"}]}', "model", "invalid_request"),
            (b'{"model": "gpt-fake", "messages": "hello"}', "messages", "invalid_request"),
            (b'{"model": "gpt-fake", "messages": []}', "messages", "invalid_request"),
        ],
        ids=[
            "not-json",
            "array",
            "empty",
            "no-model",
            "no-messages",
            "model-int",
            "messages-str",
            "messages-empty",
        ],
    )
    @pytest.mark.requires(Capability.INPUT_VALIDATION)
    def test_bad_input_is_400_never_500(self, proxy, fake_provider, content, param, code):
        """Malformed bodies get a 400 in the OpenAI envelope naming the parameter, and reach no provider."""
        with proxy.client() as http:
            response = http.post(
                "/v1/chat/completions", content=content, headers={"content-type": "application/json"}
            )
        error = _assert_envelope(response, 400, "invalid_request_error", code)
        assert error["param"] == param
        assert model_calls(fake_provider) == []

    @pytest.mark.requires(Capability.INPUT_VALIDATION)
    def test_body_over_the_limit_is_413(self, make_proxy, fake_provider):
        """A body over memory_proxy.max_body_mb is a 413 request_too_large."""
        proxy = make_proxy(memory_proxy={"max_body_mb": 0.01})
        with proxy.client() as http:
            response = http.post("/v1/chat/completions", json=chat_body("x" * 20_000))
        _assert_envelope(response, 413, "invalid_request_error", "request_too_large")
        assert model_calls(fake_provider) == []

    @pytest.mark.requires(Capability.ERROR_NORMALISATION)
    def test_unknown_path_is_404_in_the_envelope(self, proxy):
        """An unknown path is a 404 in the envelope, not FastAPI's {"detail": ...}."""
        with proxy.client() as http:
            response = http.get("/v1/nothing-here")
        _assert_envelope(response, 404, "not_found_error", "not_found")

    def test_failures_do_not_put_the_model_in_cooldown(self, proxy):
        """After repeated provider failures, the next good request succeeds (no router cooldown 429s)."""
        with proxy.client() as http:
            for _ in range(4):
                failed = http.post(
                    "/v1/chat/completions", json=chat_body(unique(fake_directive("server_error")))
                )
                assert failed.status_code == 500
            assert http.post("/v1/chat/completions", json=chat_body(unique())).status_code == 200

    @pytest.mark.requires(Capability.ERROR_NORMALISATION)
    def test_openai_sdk_raises_the_matching_exceptions(self, proxy):
        """The openai SDK raises RateLimitError (with Retry-After), BadRequestError, NotFoundError,
        InternalServerError and AuthenticationError for the matching faults."""
        client = proxy.openai()

        def ask(text: str, model: str = "gpt-fake") -> None:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])

        with pytest.raises(openai.RateLimitError) as limited:
            ask(fake_directive("rate_limit", retry_after=11))
        assert limited.value.response.headers["retry-after"] == "11"
        assert limited.value.code == "rate_limit_exceeded"
        with pytest.raises(openai.BadRequestError) as bad:
            ask(fake_directive("context_length"))
        assert bad.value.code == "context_length_exceeded"
        with pytest.raises(openai.NotFoundError):
            ask("hi", model="no-such-model")
        with pytest.raises(openai.InternalServerError):
            ask(fake_directive("server_error"))
        with pytest.raises(openai.AuthenticationError):
            ask(fake_directive("auth"))
