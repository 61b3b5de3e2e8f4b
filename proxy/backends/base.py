"""What the flow needs from a backend: one way to obtain completions. Everything else is shared code.

A backend receives a :class:`~proxy.call.Call` ready for the provider (memory injected, provider headers
set) and knows nothing of clients or memory. Which models exist is decided before it is called
(:class:`~proxy.model_catalog.ModelCatalog`), so both backends answer an unknown model alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from proxy.call import Call

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """A way to obtain completions. ``start``/``close`` run in the app's lifespan."""

    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ready(self) -> bool:
        """Whether the backend can serve requests now (readiness, not liveness)."""
        ...

    async def complete(self, call: Call) -> dict[str, Any]:
        """The whole answer: an OpenAI chat completion, or an Anthropic message (``call.api`` says which;
        LiteLLM translates for a model of the other format)."""
        ...

    async def stream(self, call: Call) -> AsyncIterator[Any]:
        """The answer as it arrives: ``chat.completion.chunk`` dicts for chat, Anthropic SSE frames
        (``event: …\\ndata: …\\n\\n`` bytes) for Messages. Awaiting sends the one upstream request."""
        ...
