"""What the app needs from a backend; everything else in the request flow is shared code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

__all__ = ["Backend", "ChatCall"]


class ChatCall(Protocol):
    """A validated chat request as the backend receives it."""

    model: str
    payload: dict[str, Any]  # the client's body, memory already injected, without "stream"
    user_id: str
    headers: dict[str, str]  # client headers the provider must see too (anthropic-beta)


@runtime_checkable
class Backend(Protocol):
    """A way to obtain completions. ``start``/``close`` run in the app's lifespan."""

    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def has_model(self, model: str) -> bool:
        """Whether ``model`` names a configured model group (aliases and wildcards included)."""
        ...

    async def list_models(self) -> list[dict[str, Any]]:
        """The models the backend serves, in OpenAI's model object shape."""
        ...

    async def ready(self) -> bool:
        """Whether the backend can serve requests now (readiness, not liveness)."""
        ...

    async def chat(self, call: ChatCall) -> dict[str, Any]: ...

    async def chat_stream(self, call: ChatCall) -> AsyncIterator[dict[str, Any]]:
        """Chunks in OpenAI's ``chat.completion.chunk`` shape; awaiting sends the one upstream request."""
        ...

    async def messages(self, call: ChatCall) -> dict[str, Any]:
        """An Anthropic Messages answer (any model: LiteLLM translates for non-Anthropic ones)."""
        ...

    async def messages_stream(self, call: ChatCall) -> AsyncIterator[bytes]:
        """Anthropic SSE frames (``event: …\ndata: …\n\n``) as the provider sent them."""
        ...
