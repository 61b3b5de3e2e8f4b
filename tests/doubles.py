"""Test doubles the unit and regression tests share: a backend with neither LiteLLM nor a provider.

``create_app`` takes any :class:`~proxy.backends.base.Backend`; this one answers chat completions with
the user's last words (after ``seconds``: a slow answer), or raises ``error`` (a failing provider), and
keeps each call it got in ``calls`` (what the provider would have received, memory included).
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["CannedBackend"]


class CannedBackend:
    name = "canned"

    def __init__(self, *, seconds: float = 0.0, error: BaseException | None = None) -> None:
        self.seconds = seconds
        self.error = error
        self.calls: list[Any] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ready(self) -> bool:
        return True

    async def complete(self, call: Any) -> dict[str, Any]:
        self.calls.append(call)
        if self.error is not None:
            raise self.error
        await asyncio.sleep(self.seconds)
        said = call.payload["messages"][-1]["content"]
        message = {"role": "assistant", "content": f"Noted: {said}"}
        return {"id": "chatcmpl-canned", "object": "chat.completion", "created": 0, "model": call.model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}  # fmt: skip

    async def stream(self, call: Any) -> Any:
        if self.error is not None:
            raise self.error
        raise NotImplementedError("CannedBackend answers chat completions without streaming")
