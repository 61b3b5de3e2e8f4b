"""Reading and validating request bodies: size limit first, then JSON, then the protocol's shape.

Only the fields the proxy itself needs are checked (``model``, ``messages``, ``stream``); everything else
a client sends is kept as it came, so it reaches the provider.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, field_validator
from starlette.requests import Request

from proxy.call import Api, Call
from proxy.errors import InvalidRequest, RequestTooLarge

__all__ = [
    "AnthropicMessagesShape",
    "ChatCompletionShape",
    "RequestShape",
    "forwardable_fields",
    "invalid_from",
    "parse_call",
    "read_json_object",
]

# Request fields that steer LiteLLM itself (where to send, with which credentials, how to log) rather than
# the model. A client must not set them: "api_base" alone would send our provider key to its own server.
_CONTROL_FIELDS = frozenset(
    {
        "api_key",
        "api_base",
        "base_url",
        "api_version",
        "api_type",
        "organization",
        "client",
        "custom_llm_provider",
        "extra_headers",
        "headers",
        "mock_response",
        "mock_tool_calls",
        "model_list",
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "num_retries",
        "max_retries",
        "specific_deployment",
        "deployment_id",
        "input_cost_per_token",
        "output_cost_per_token",
        "input_cost_per_second",
        "output_cost_per_second",
        "proxy_server_request",
        "secret_fields",
        "caching",
        "cache",
        "no-log",
        "logger_fn",
        "callbacks",
        "aws_access_key_id",
        "aws_secret_access_key",
    }
)
_CONTROL_PREFIXES = ("litellm_", "aws_", "vertex_", "azure_", "mock_")


def forwardable_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """What of the client's body goes to LiteLLM: everything but ``model``, ``stream`` and control fields."""
    return {
        key: value
        for key, value in payload.items()
        if key not in _CONTROL_FIELDS
        and not key.startswith(_CONTROL_PREFIXES)
        and key not in {"model", "stream"}
    }


async def read_json_object(request: Request, *, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; 413 past ``max_bytes`` (checked before and while reading), else 400."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise RequestTooLarge(_too_large(max_bytes))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise RequestTooLarge(_too_large(max_bytes))
    if not body.strip():
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidRequest("The request body is nested too deeply to parse.") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not a JSON {type(data).__name__}.")
    return data


def _too_large(max_bytes: int) -> str:
    return f"The request body is larger than the proxy's limit of {max_bytes / 1024 / 1024:g} MB."


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(min_length=1)
    content: Any = None

    @field_validator("content")
    @classmethod
    def _text_or_parts(cls, value: Any) -> Any:
        # A string or content parts; null for an assistant turn that only calls tools.
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(part, dict) for part in value):
            return value
        raise ValueError("must be a string, a list of content parts, or null")


class RequestShape(BaseModel):
    """What the proxy relies on in every request body; a surface's shape adds its own fields."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    stream: StrictBool = False


class ChatCompletionShape(RequestShape):
    """What the proxy relies on in an OpenAI chat completion request."""

    messages: list[_Message] = Field(min_length=1)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None


_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})


def invalid_from(exc: ValidationError) -> InvalidRequest:
    """The first validation problem, as a 400 naming the parameter (``missing_parameter`` if absent)."""
    error = exc.errors()[0]
    # Leave out the union-member tags pydantic adds to a location ("content.str", "system.list[...]").
    parts = [
        str(part) for part in error["loc"] if not (isinstance(part, str) and ("[" in part or part in _TAGS))
    ]
    param = ".".join(parts) or None
    if error["type"] == "missing":
        return InvalidRequest(
            f"Missing required parameter: '{param}'.", param=param, code="missing_parameter"
        )
    return InvalidRequest(f"Invalid parameter '{param}': {error['msg']}.", param=param)


class _AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    # Any role passes: Claude Code sends "system" inside messages (its mid-conversation-system beta).
    role: str = Field(min_length=1)
    content: str | list[dict[str, Any]]


class AnthropicMessagesShape(RequestShape):
    """What the proxy relies on in an Anthropic Messages request."""

    max_tokens: StrictInt = Field(ge=1)
    messages: list[_AnthropicMessage] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None


def parse_call(body: dict[str, Any], *, api: Api, shape: type[RequestShape]) -> Call:
    """The validated request: only what the proxy needs is checked (a 400 names the parameter), the
    rest of the body passes as it came."""
    try:
        validated = shape.model_validate(body)
    except ValidationError as exc:
        raise invalid_from(exc) from None
    payload = {key: value for key, value in body.items() if key != "stream"}
    return Call(api=api, model=validated.model, payload=payload, stream=validated.stream)
