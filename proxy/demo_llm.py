"""The demo model's LiteLLM provider; kept apart from :mod:`proxy.demo` so loading a config never imports
litellm."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from litellm import CustomLLM, ModelResponse, Usage
from litellm.types.utils import ChatCompletionUsageBlock, GenericStreamingChunk

from proxy.demo import DEMO_MODEL_NAME, echo_text, prompt_words

__all__ = ["EchoLLM", "echo_llm"]


class EchoLLM(CustomLLM):
    """A LiteLLM provider that echoes the prompt, streaming it word by word."""

    async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> ModelResponse:
        prompt, answer = _word_counts(messages)
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
            usage=Usage(prompt_tokens=prompt, completion_tokens=answer, total_tokens=prompt + answer),
        )

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list, *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        words = echo_text(messages).split(" ")
        prompt, answer = _word_counts(messages)
        usage = ChatCompletionUsageBlock(
            prompt_tokens=prompt, completion_tokens=answer, total_tokens=prompt + answer
        )
        for index, word in enumerate(words):
            last = index == len(words) - 1
            yield GenericStreamingChunk(
                text=word if last else word + " ",
                is_finished=last,
                finish_reason="stop" if last else "",
                usage=usage if last else None,
                index=0,
                tool_use=None,
            )


def _word_counts(messages: list[Any]) -> tuple[int, int]:
    """Words in, words out: the demo's stand-in for token counts (clients read ``usage``)."""
    return prompt_words(messages), len(echo_text(messages).split())


echo_llm = EchoLLM()
