"""The demo model's LiteLLM provider; kept apart from :mod:`proxy.demo` so loading a config never imports
litellm."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from litellm import CustomLLM, ModelResponse
from litellm.types.utils import GenericStreamingChunk

from proxy.demo import DEMO_MODEL_NAME, echo_text

__all__ = ["EchoLLM", "echo_llm"]


class EchoLLM(CustomLLM):
    """A LiteLLM provider that echoes the prompt, streaming it word by word."""

    async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> ModelResponse:
        return ModelResponse(
            id=f"chatcmpl-demo-{uuid.uuid4().hex[:12]}",
            created=int(time.time()),
            model=DEMO_MODEL_NAME,
            choices=[
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": echo_text(messages)},
                    "finish_reason": "stop",
                }
            ],
        )

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list, *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        words = echo_text(messages).split(" ")
        for index, word in enumerate(words):
            last = index == len(words) - 1
            yield GenericStreamingChunk(
                text=word if last else word + " ",
                is_finished=last,
                finish_reason="stop" if last else "",
                usage=None,
                index=0,
                tool_use=None,
            )


echo_llm = EchoLLM()
