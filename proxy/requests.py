"""Reading and validating request bodies: size limit first, then JSON, then the protocol's shape.

The JSON must be strict JSON (no ``NaN``/``Infinity``, no unpaired surrogate): what the proxy accepts it
must be able to send on, and Python's own parser accepts both while every encoder after it refuses them.
The shape checks what the proxy itself reads (``model``, ``messages`` and their text, ``stream``) and what
LiteLLM trusts to have a type before it calls anyone (``metadata``, ``tools``, ``timeout``…), so that a
bad value is a 400 naming it rather than a crash deeper down. Everything else a client sends is kept as
it came, so it reaches the provider.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from starlette.requests import ClientDisconnect, Request

from proxy.call import Api, Call
from proxy.errors import ClientTooSlow, InvalidRequest, RequestTooLarge
from proxy.responses_input import TEXT_PARTS

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "MAX_JSON_DEPTH",
    "USER_PART_TYPES",
    "AnthropicMessagesShape",
    "ChatCompletionShape",
    "CountTokensShape",
    "EmbeddingsShape",
    "RequestShape",
    "ResponsesShape",
    "forwardable_fields",
    "invalid_from",
    "json_object",
    "parse_call",
    "read_body",
    "read_json_object",
]

MAX_JSON_DEPTH = 64
"""Levels of nesting a request body may have (Claude Code's and Codex's go 12 to 16 deep). Checked before
any code walks the body, so that no recursive walk, ours or a library's, can overflow the stack."""
DEFAULT_BODY_TIMEOUT = 30.0
"""Seconds a client has to send a request's body (``memory_proxy.client_timeout``)."""

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


async def read_body(request: Request, *, max_bytes: int, max_seconds: float = DEFAULT_BODY_TIMEOUT) -> bytes:
    """The body's bytes; 413 past ``max_bytes`` (checked before and while reading), 408 if it has not all
    arrived within ``max_seconds`` (a client sending less than its Content-Length, or a trickle, would
    otherwise hold a connection and a task for ever), 400 if the client went away."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise RequestTooLarge(_too_large(max_bytes))
    body = bytearray()
    try:
        async with asyncio.timeout(max_seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise RequestTooLarge(_too_large(max_bytes))
    except ClientDisconnect:  # no one to answer; not the proxy's failure either
        raise InvalidRequest("The client went away before its request body was complete.") from None
    except TimeoutError:
        raise ClientTooSlow(
            f"The request body did not arrive within {max_seconds:g} s ({len(body)} bytes came)."
        ) from None
    return bytes(body)


async def read_json_object(
    request: Request, *, max_bytes: int, max_seconds: float = DEFAULT_BODY_TIMEOUT
) -> dict[str, Any]:
    """The body (:func:`read_body`) as a strict JSON object, else 400."""
    return json_object(await read_body(request, max_bytes=max_bytes, max_seconds=max_seconds))


def json_object(body: bytes) -> dict[str, Any]:
    """``body`` as a strict JSON object at most :data:`MAX_JSON_DEPTH` deep, else a 400 saying why."""
    if not body.strip():
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        data = orjson.loads(body)  # strict JSON; deeper than 1,024 levels is an error, not a RecursionError
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not valid JSON ({exc}); NaN, Infinity and unpaired surrogates are not JSON."
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not a JSON {type(data).__name__}.")
    if _deeper_than(data, MAX_JSON_DEPTH):
        raise InvalidRequest(
            f"The request body is nested more than {MAX_JSON_DEPTH} levels deep; real requests need a dozen."
        )
    return data


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether ``data`` nests more than ``limit`` levels; a loop, not recursion (that is the point)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _too_large(max_bytes: int) -> str:
    return f"The request body is larger than the proxy's limit of {max_bytes / 1024 / 1024:g} MB."


class _ContentPart(BaseModel):
    """A content part (OpenAI, and the Responses API's ``input_text``/``output_text``) or block
    (Anthropic): typed, and a text part's text is a string."""

    model_config = ConfigDict(extra="allow")
    type: StrictStr = Field(min_length=1)
    text: Any = None

    @model_validator(mode="after")
    def _text_is_a_string(self) -> _ContentPart:
        if self.type in TEXT_PARTS and not isinstance(self.text, str):
            raise ValueError(f"a {self.type} part needs 'text' as a string")
        return self


USER_PART_TYPES = frozenset(
    {"text", "image_url", "input_audio", "audio_url", "document", "guarded_text", "grounding_source",
     "query", "video_url", "file"}
)  # fmt: skip
"""The content part types of a chat user message: OpenAI's and LiteLLM's own (its
``ValidUserMessageContentTypes``). LiteLLM refuses any other before calling anyone, and reports it as if
the provider could not be reached, so it is refused here first as what it is: a bad request."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: StrictStr = Field(min_length=1)
    content: StrictStr | list[_ContentPart] | None = None

    @model_validator(mode="after")
    def _content_as_the_role_needs(self) -> _Message:
        # Only an assistant turn that calls tools may come without content (null or absent).
        if self.content is None and self.role != "assistant":
            raise ValueError(f"a {self.role} message needs content (a string or content parts)")
        if self.role == "user" and isinstance(self.content, list):
            for part in self.content:
                if part.type not in USER_PART_TYPES:
                    allowed = ", ".join(sorted(USER_PART_TYPES))
                    raise ValueError(f"a user message cannot hold a {part.type!r} part (only {allowed})")
        return self


class _Function(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: StrictStr = Field(min_length=1)
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None


_TOOL_TYPE = r"^(function|custom|[a-z][a-z0-9_]*_\d{8})$"
"""OpenAI's two tool types, or a provider's own dated one (Anthropic's ``web_search_20250305``, …), which
LiteLLM passes on; LiteLLM fails on any other type as if the provider were unreachable."""


class _ChatTool(BaseModel):
    """A tool: ``type`` says which kind; a function tool's function has a name (and a schema)."""

    model_config = ConfigDict(extra="allow")
    type: StrictStr = Field(pattern=_TOOL_TYPE)
    function: _Function | None = None

    @model_validator(mode="after")
    def _function_tools_name_their_function(self) -> _ChatTool:
        if self.type == "function" and self.function is None:
            raise ValueError("a function tool needs 'function' with a 'name'")
        return self


class RequestShape(BaseModel):
    """What the proxy relies on in every request body; a surface's shape adds its own fields."""

    model_config = ConfigDict(extra="allow")
    model: StrictStr = Field(min_length=1)
    stream: StrictBool = False
    timeout: float | None = Field(default=None, gt=0, strict=True)
    """LiteLLM's per-request timeout in seconds (not part of either API, but LiteLLM honours it)."""


class ChatCompletionShape(RequestShape):
    """What the proxy relies on in an OpenAI chat completion request."""

    messages: list[_Message] = Field(min_length=1)
    max_tokens: StrictInt | None = Field(default=None, ge=1)
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1)
    n: StrictInt | None = Field(default=None, ge=1)
    stop: StrictStr | list[StrictStr] | None = None
    response_format: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    tools: list[_ChatTool] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None


_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})


def invalid_from(exc: ValidationError) -> InvalidRequest:
    """The first validation problem, as a 400 naming the parameter (``missing_parameter`` if absent)."""
    errors = exc.errors()
    # Of the first bad field's errors, the deepest: for a value that may be a string or a list of parts,
    # "content.0.text should be a string" says more than "content should be a string".
    field = errors[0]["loc"][:1]
    error = max((e for e in errors if e["loc"][:1] == field), key=lambda e: len(e["loc"]))
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
    role: StrictStr = Field(min_length=1)
    content: StrictStr | list[_ContentPart]


class _AnthropicMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    user_id: StrictStr | None = None


class AnthropicMessagesShape(RequestShape):
    """What the proxy relies on in an Anthropic Messages request."""

    max_tokens: StrictInt = Field(ge=1)
    messages: list[_AnthropicMessage] = Field(min_length=1)
    system: StrictStr | list[_ContentPart] | None = None
    stop_sequences: list[StrictStr] | None = None
    metadata: _AnthropicMetadata | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None


_RESPONSES_TYPE = r"^[a-z][a-z0-9_.]*$"
"""The Responses API's item and tool types (``message``, ``function_call``, ``web_search``…): LiteLLM fails
on a type it cannot even read as if the provider were unreachable."""


class _ResponsesItem(BaseModel):
    """An ``input`` item: a message (``role`` and ``content``; ``type`` may be left out), or another typed
    item (a tool call, its output, reasoning…), which passes as it came; a function call's arguments are
    the JSON its schema says (LiteLLM parses them to reach a provider without the Responses API)."""

    model_config = ConfigDict(extra="allow")
    type: StrictStr | None = Field(default=None, pattern=_RESPONSES_TYPE)
    role: StrictStr | None = Field(default=None, min_length=1)
    content: StrictStr | list[_ContentPart] | None = None
    arguments: StrictStr | None = None

    @model_validator(mode="after")
    def _typed_or_a_message(self) -> _ResponsesItem:
        if self.type in (None, "message"):
            if self.role is None:
                raise ValueError("a message item needs a 'role'")
            if self.content is None:
                raise ValueError(f"a {self.role} message needs content (a string or content parts)")
        if self.type == "function_call" and not _is_json_object(self.arguments):
            raise ValueError("a function_call item needs 'arguments' as a JSON object in a string")
        return self


def _is_json_object(text: str | None) -> bool:
    try:
        return isinstance(orjson.loads(text or ""), dict)
    except orjson.JSONDecodeError:
        return False


class _ResponsesTool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: StrictStr = Field(pattern=_RESPONSES_TYPE)
    name: StrictStr | None = None
    parameters: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _function_tools_are_named(self) -> _ResponsesTool:
        if self.type == "function" and not self.name:
            raise ValueError("a function tool needs a 'name'")
        return self


class ResponsesShape(RequestShape):
    """What the proxy relies on in an OpenAI Responses request."""

    input: StrictStr | list[_ResponsesItem]
    instructions: StrictStr | None = None
    previous_response_id: StrictStr | None = Field(default=None, min_length=1)
    max_output_tokens: StrictInt | None = Field(default=None, ge=1)
    metadata: dict[str, Any] | None = None
    tools: list[_ResponsesTool] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    store: StrictBool | None = None
    include: list[StrictStr] | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    # Not the Responses API's, but LiteLLM passes them on when it answers through chat completions (for a
    # provider without the Responses API) and trusts their types.
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1)
    response_format: dict[str, Any] | None = None
    stop: StrictStr | list[StrictStr] | None = None


class CountTokensShape(RequestShape):
    """What the proxy relies on in an Anthropic token counting request (a Messages body to count)."""

    messages: list[_AnthropicMessage] = Field(min_length=1)
    system: StrictStr | list[_ContentPart] | None = None
    tools: list[dict[str, Any]] | None = None
    metadata: _AnthropicMetadata | None = None


class EmbeddingsShape(RequestShape):
    """What the proxy relies on in an OpenAI embeddings request."""

    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]
    encoding_format: StrictStr | None = Field(default=None, pattern=r"^(float|base64)$")
    dimensions: StrictInt | None = Field(default=None, ge=1)
    metadata: dict[str, Any] | None = None
    user: StrictStr | None = None

    @model_validator(mode="after")
    def _something_to_embed(self) -> EmbeddingsShape:
        if not self.input:
            raise ValueError("'input' needs at least one string or token")
        return self


def parse_call(body: dict[str, Any], *, api: Api, shape: type[RequestShape]) -> Call:
    """The validated request: only what the proxy needs is checked (a 400 names the parameter), the
    rest of the body passes as it came."""
    try:
        validated = shape.model_validate(body)
    except ValidationError as exc:
        raise invalid_from(exc) from None
    payload = {key: value for key, value in body.items() if key != "stream"}
    return Call(api=api, model=validated.model, payload=payload, stream=validated.stream)
