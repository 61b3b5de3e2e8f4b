"""Reading and validating request bodies: size limit first, then JSON, then the protocol's shape.

Only the fields the proxy itself needs are checked (``model``, ``messages``, ``stream``); everything else
a client sends is kept as it came, so it reaches the provider.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from starlette.requests import Request

from proxy.errors import InvalidRequest, RequestTooLarge

__all__ = ["ChatCompletionCall", "parse_chat_completion", "read_json_object"]


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
    if not isinstance(data, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not a JSON {type(data).__name__}.")
    return data


def _too_large(max_bytes: int) -> str:
    return f"The request body is larger than the proxy's limit of {max_bytes / 1024 / 1024:g} MB."


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(min_length=1)


class _ChatCompletionShape(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    messages: list[_Message] = Field(min_length=1)
    stream: StrictBool = False


def invalid_from(exc: ValidationError) -> InvalidRequest:
    """The first validation problem, as a 400 naming the parameter (``missing_parameter`` if absent)."""
    error = exc.errors()[0]
    param = ".".join(str(part) for part in error["loc"]) or None
    if error["type"] == "missing":
        return InvalidRequest(
            f"Missing required parameter: '{param}'.", param=param, code="missing_parameter"
        )
    return InvalidRequest(f"Invalid parameter '{param}': {error['msg']}.", param=param)


@dataclass(slots=True)
class ChatCompletionCall:
    """A validated OpenAI chat completion request; ``payload`` is the body without ``stream``."""

    model: str
    payload: dict[str, Any]
    stream: bool
    user_id: str


def parse_chat_completion(body: dict[str, Any], *, user_id: str) -> ChatCompletionCall:
    try:
        shape = _ChatCompletionShape.model_validate(body)
    except ValidationError as exc:
        raise invalid_from(exc) from None
    payload = {key: value for key, value in body.items() if key != "stream"}
    return ChatCompletionCall(model=shape.model, payload=payload, stream=shape.stream, user_id=user_id)
