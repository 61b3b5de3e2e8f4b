"""The errors the fake provider sends on demand, modelled on the real services' answers.

LiteLLM and the SDKs map a provider error by its status, type and code (and read ``retry-after``), so
each row carries exactly what OpenAI and Anthropic send for that fault; a test that asks for
``[[fake:rate_limit]]`` then runs the same mapping code as a real rate limit would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.fakes.http import FakeResponse
from conformance.fakes.provider.directives import Directive
from conformance.fakes.provider.surface import Dialect, json_response, new_id

__all__ = ["ERRORS", "CataloguedError", "bad_request", "directive_error", "invalid_url"]

_DEFAULT_RETRY_AFTER = 7


@dataclass(frozen=True)
class CataloguedError:
    """One fault, as each dialect's real service reports it.

    The messages are templates: ``{model}`` is the requested model, ``{retry_after}`` the seconds sent.
    """

    status: int
    openai_type: str
    openai_code: str | None
    openai_message: str
    anthropic_type: str
    anthropic_message: str
    openai_param: str | None = None
    """The request field OpenAI blames (``param``), where it names one."""
    anthropic_status: int | None = None
    """Anthropic's status where it differs from ``status`` (529 for overloaded)."""
    retry_after: bool = False
    """Whether the answer carries ``retry-after`` (directive param ``retry_after``, default 7)."""

    def status_in(self, dialect: Dialect) -> int:
        """The HTTP status in ``dialect``."""
        if dialect == "anthropic" and self.anthropic_status is not None:
            return self.anthropic_status
        return self.status

    def message_in(self, dialect: Dialect) -> str:
        """The message template in ``dialect``."""
        return self.anthropic_message if dialect == "anthropic" else self.openai_message


_INVALID_REQUEST = "Invalid request: the fake provider was asked to reject it."

ERRORS: Mapping[str, CataloguedError] = {
    "bad_request": CataloguedError(
        status=400,
        openai_type="invalid_request_error",
        openai_code=None,
        openai_message=_INVALID_REQUEST,
        anthropic_type="invalid_request_error",
        anthropic_message=_INVALID_REQUEST,
    ),
    "context_length": CataloguedError(
        status=400,
        openai_type="invalid_request_error",
        openai_code="context_length_exceeded",
        openai_message="This model's maximum context length is 8192 tokens. However, your messages resulted "
        "in 9000 tokens. Please reduce the length of the messages.",
        anthropic_type="invalid_request_error",
        anthropic_message="prompt is too long: 210000 tokens > 200000 maximum",
        openai_param="messages",
    ),
    "auth": CataloguedError(
        status=401,
        openai_type="invalid_request_error",
        openai_code="invalid_api_key",
        openai_message="Incorrect API key provided: fake-key. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        anthropic_type="authentication_error",
        anthropic_message="invalid x-api-key",
    ),
    "permission": CataloguedError(
        status=403,
        openai_type="invalid_request_error",
        openai_code="permission_denied",
        openai_message="You are not allowed to sample from this model",
        anthropic_type="permission_error",
        anthropic_message="Your API key does not have permission to use the specified resource.",
    ),
    "not_found": CataloguedError(
        status=404,
        openai_type="invalid_request_error",
        openai_code="model_not_found",
        openai_message="The model `{model}` does not exist or you do not have access to it.",
        anthropic_type="not_found_error",
        anthropic_message="model: {model}",
    ),
    "server_error": CataloguedError(
        status=500,
        openai_type="server_error",
        openai_code=None,
        openai_message="The server had an error while processing your request. Sorry about that!",
        anthropic_type="api_error",
        anthropic_message="Internal server error",
    ),
    "rate_limit": CataloguedError(
        status=429,
        openai_type="requests",
        openai_code="rate_limit_exceeded",
        openai_message="Rate limit reached for fake-model in organization org-fake on requests per min "
        "(RPM): Limit 3, Used 3, Requested 1. Please try again in {retry_after}s.",
        anthropic_type="rate_limit_error",
        anthropic_message="Number of request tokens has exceeded your per-minute rate limit.",
        retry_after=True,
    ),
    "overloaded": CataloguedError(
        status=503,
        openai_type="server_error",
        openai_code="engine_overloaded",
        openai_message="The engine is currently overloaded, please try again later.",
        anthropic_type="overloaded_error",
        anthropic_message="Overloaded",
        anthropic_status=529,
        retry_after=True,
    ),
}
"""Error directive name → how the real services report that fault; the directives that answer an error."""


def directive_error(directive: Directive, dialect: Dialect, model: str) -> FakeResponse:
    """The error ``directive`` (one of :data:`ERRORS`) asks for, as ``dialect``'s real service sends it."""
    error = ERRORS[directive.name]
    headers: list[tuple[str, str]] = []
    retry_after = ""
    if error.retry_after:
        seconds = directive.number("retry_after", _DEFAULT_RETRY_AFTER)
        retry_after = str(int(seconds)) if seconds == int(seconds) else str(seconds)
        headers.append(("retry-after", retry_after))
    message = error.message_in(dialect).format(model=model or "fake-model", retry_after=retry_after)
    response = _error_response(dialect, error, message)
    response.headers.extend(headers)
    return response


def bad_request(dialect: Dialect, message: str) -> FakeResponse:
    """A 400 saying ``message``: what the real service answers to a request it cannot use."""
    return _error_response(dialect, ERRORS["bad_request"], message)


def invalid_url(method: str, path: str) -> FakeResponse:
    """OpenAI's 404 for a route it does not serve, which is also what the fake answers to one."""
    message = f"Invalid URL ({method} {path})"
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    return json_response(404, {"error": error}, "openai")


def _error_response(dialect: Dialect, error: CataloguedError, message: str) -> FakeResponse:
    """``error`` in the dialect's envelope: OpenAI ``{"error": {...}}`` or Anthropic ``{"type": "error"}``."""
    body: dict[str, Any]
    if dialect == "anthropic":
        body = {
            "type": "error",
            "error": {"type": error.anthropic_type, "message": message},
            "request_id": new_id("req_"),
        }
    else:
        body = {
            "error": {
                "message": message,
                "type": error.openai_type,
                "param": error.openai_param,
                "code": error.openai_code,
            }
        }
    return json_response(error.status_in(dialect), body, dialect)
