"""Exception → ProxyError mapping and the two envelopes; secrets never reach a message."""

from __future__ import annotations

import httpx
import litellm
import openai
import pytest

from proxy import errors
from proxy.errors import anthropic_envelope, openai_envelope, to_proxy_error
from proxy.redaction import redact

REQUEST = httpx.Request("POST", "http://provider.test/v1/chat/completions")


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=REQUEST)


LITELLM_CASES = [
    (litellm.BadRequestError("bad", "m", "openai"), 400, "invalid_request_error", "invalid_request"),
    (
        litellm.ContextWindowExceededError("too long", "m", "openai"),
        400,
        "invalid_request_error",
        "context_length_exceeded",
    ),
    (litellm.AuthenticationError("no", "openai", "m"), 401, "authentication_error", "invalid_api_key"),
    (
        litellm.PermissionDeniedError("no", "openai", "m", response(403)),
        403,
        "permission_error",
        "permission_denied",
    ),
    (litellm.NotFoundError("gone", "m", "openai"), 404, "not_found_error", "model_not_found"),
    (litellm.RateLimitError("slow down", "openai", "m"), 429, "rate_limit_error", "rate_limit_exceeded"),
    (litellm.InternalServerError("boom", "openai", "m"), 500, "api_error", "upstream_error"),
    (litellm.BadGatewayError("bad gw", "openai", "m"), 502, "api_error", "upstream_error"),
    (
        litellm.ServiceUnavailableError("busy", "openai", "m"),
        503,
        "service_unavailable",
        "service_unavailable",
    ),
    (litellm.Timeout("late", "m", "openai"), 504, "timeout_error", "request_timeout"),
    (litellm.APIConnectionError("down", "openai", "m"), 502, "api_connection_error", "upstream_unreachable"),
    (KeyError("surprise"), 500, "api_error", "internal_error"),
    (ValueError("surprise"), 500, "api_error", "internal_error"),
]


@pytest.mark.parametrize(("exc", "status", "type_", "code"), LITELLM_CASES, ids=lambda v: type(v).__name__)
def test_exceptions_map_to_the_design_table(exc, status, type_, code):
    error = to_proxy_error(exc)
    assert (error.status, error.type, error.code) == (status, type_, code)
    body = openai_envelope(error)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert "litellm." not in body["error"]["message"]


def test_unexpected_exception_message_is_not_leaked():
    error = to_proxy_error(RuntimeError("internal detail /etc/passwd"))
    assert "passwd" not in error.message


def test_retry_after_comes_from_the_provider_response():
    exc = litellm.RateLimitError("slow", "openai", "m", response=response(429, {"retry-after": "7"}))
    assert to_proxy_error(exc).headers == {"retry-after": "7"}
    overloaded = litellm.ServiceUnavailableError(
        "busy", "openai", "m", response=response(503, {"Retry-After": "3"})
    )
    assert to_proxy_error(overloaded).retry_after == "3"


def test_connection_failure_hidden_in_a_500_is_unreachable():
    try:
        try:
            raise openai.APIConnectionError(request=REQUEST)
        except openai.APIConnectionError as inner:
            raise litellm.InternalServerError("Connection error.", "openai", "m") from inner
    except litellm.InternalServerError as exc:
        assert to_proxy_error(exc).code == "upstream_unreachable"


@pytest.mark.parametrize(("status", "expected"), [(529, 503), (418, 418), (507, 507)])
def test_unlisted_statuses_keep_the_providers_status(status, expected):
    exc = litellm.APIError(status, "odd", "openai", "m")
    assert to_proxy_error(exc).status == expected


def test_anthropic_envelope_uses_anthropic_type_names():
    assert anthropic_envelope(errors.ServiceUnavailable("busy")) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "busy"},
    }
    assert anthropic_envelope(errors.UpstreamTimeout("late"))["error"]["type"] == "api_error"


@pytest.mark.parametrize(
    "secret_text",
    [
        "Incorrect API key provided: sk-proj-abcdefghijklmnop1234",
        "header Authorization: Bearer abcdefghijklmnopqrstuv",
        "api_key='sk-ant-api03-abcdefghijklmnop'",
        "x-api-key: supersecretvalue123",
        "connection to postgresql://memory:abcdefghijklmnop@db:5432/memory failed",
        'missing "=" after "x" in host=db password=abcdefghijklmnop x',
        "invalid dsn host=db password='abcdefghijklmnop with spaces' dbname=m",
    ],
)
def test_secrets_are_redacted(secret_text):
    cleaned = redact(secret_text)
    assert "[REDACTED]" in cleaned
    for secret in ("abcdefghijklmnop", "supersecretvalue123"):
        assert secret not in cleaned
    assert errors.AuthenticationFailed(secret_text).message == cleaned


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        (
            "litellm.APIConnectionError: OpenAIException - Cannot connect to host 127.0.0.1:9 "
            "ssl:<ssl.SSLContext object at 0x7f1dfd3b05f0> [Connect call failed ('127.0.0.1', 9)]",
            "OpenAIException - Cannot connect to host 127.0.0.1:9 [Connect call failed ('127.0.0.1', 9)]",
        ),
        (
            "litellm.InternalServerError: AnthropicException - All connection attempts failed. Handle with "
            "`litellm.InternalServerError`.\n\nLiteLLM: model group 'm' failed with the error above.",
            "AnthropicException - All connection attempts failed.",
        ),
    ],
    ids=["object-repr", "litellm-advice"],
)
def test_litellm_messages_lose_object_reprs_and_advice(text, cleaned):
    """An object's repr (its address changes on every run) and LiteLLM's advice on which of its exceptions
    to catch tell a client nothing."""
    assert errors.clean_litellm_message(text) == cleaned


def test_an_unreachable_provider_through_aiohttp_is_a_clean_502():
    """LiteLLM's aiohttp transport puts the connector's SSL context in the message: it stays out."""
    try:
        try:
            raise httpx.ConnectError(
                "Cannot connect to host 127.0.0.1:9 ssl:<ssl.SSLContext object at 0x7f01>"
            )
        except httpx.ConnectError as inner:
            raise litellm.APIConnectionError(
                "OpenAIException - Cannot connect to host 127.0.0.1:9 ssl:<ssl.SSLContext object at 0x7f01>",
                "openai",
                "m",
            ) from inner
    except litellm.APIConnectionError as exc:
        error = to_proxy_error(exc)
    assert (error.status, error.code) == (502, "upstream_unreachable")
    assert error.message.endswith("OpenAIException - Cannot connect to host 127.0.0.1:9")
