"""The one request value that moves through the flow and reaches a backend.

Every API surface produces it (OpenAI chat completions and Responses, Anthropic Messages), each step
that changes it makes a new one (:func:`dataclasses.replace`), and a backend receives it with everything
the provider must see already in it: the body, memory injected, and the provider headers. A backend never
learns who the client is or what memory did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from proxy.responses_input import conversation_of

__all__ = ["Answer", "Api", "Call"]


class Api(StrEnum):
    """Which API a call speaks: it decides the backend's upstream route and the stream's shape."""

    CHAT = "chat"
    """OpenAI chat completions; a stream yields ``chat.completion.chunk`` dicts."""

    MESSAGES = "messages"
    """Anthropic Messages; a stream yields Anthropic SSE frames (bytes), as the provider sent them."""

    COUNT_TOKENS = "count_tokens"
    """Anthropic's token counting (``/v1/messages/count_tokens``): forwarded, no memory, JSON only."""

    EMBEDDINGS = "embeddings"
    """OpenAI embeddings (``/v1/embeddings``): forwarded, no memory, JSON only."""

    RESPONSES = "responses"
    """OpenAI Responses; a stream yields its typed SSE frames (bytes), ``response.created`` to
    ``response.completed``, as the provider (or LiteLLM) framed them."""


@dataclass(frozen=True, slots=True)
class Call:
    """A validated request, as the provider will receive it."""

    api: Api
    model: str
    payload: Mapping[str, Any]
    """The client's body without ``stream`` (every field it sent passes, unknown ones included). Treated as
    immutable: a step that changes it builds a new mapping."""
    stream: bool = False
    provider_headers: Mapping[str, str] = field(default_factory=dict)
    """Headers the provider must see: the client's ``anthropic-beta``, Supermemory's Memory Router headers."""
    credential: str | None = field(default=None, repr=False)
    """The client's own provider credential, for a model that uses it (``memory_proxy.client_credentials``):
    the backend calls the provider with it instead of the config's key."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation as messages (a Responses body's ``instructions`` and ``input`` items read as
        such: :func:`proxy.responses_input.conversation_of`)."""
        if self.api is Api.RESPONSES:
            return conversation_of(self.payload)
        messages: list[dict[str, Any]] = self.payload["messages"]
        return messages

    @property
    def previous_response_id(self) -> str | None:
        """The stored response a Responses call continues (its earlier turns are not in the body)."""
        previous = self.payload.get("previous_response_id") if self.api is Api.RESPONSES else None
        return previous if isinstance(previous, str) and previous else None

    def with_payload(self, payload: Mapping[str, Any]) -> Call:
        return replace(self, payload=payload)

    def with_credential(self, credential: str) -> Call:
        return replace(self, credential=credential)

    def with_headers(self, headers: Mapping[str, str]) -> Call:
        """This call with ``headers`` added to its provider headers (``headers`` win)."""
        return replace(self, provider_headers={**self.provider_headers, **headers}) if headers else self


@dataclass(frozen=True, slots=True)
class Answer:
    """What the model answered, as memory needs it: its text, and whether it ends by calling a tool (a
    step of an agentic loop, whose final answer is still to come)."""

    text: str
    calls_tool: bool = False
    response_id: str | None = None
    """The provider's id of this answer, where the API has one that a later request can continue from
    (Responses' ``previous_response_id``)."""
