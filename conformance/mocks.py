"""In-process stand-ins for unit tests, done the way the seed meant them but with real objects.

- :func:`mock_session_manager`: a real :class:`~proxy.session.SessionManager` whose ``httpx.AsyncClient``
  sends every request to the fake provider through a respx transport: awaitable, an async context
  manager, keeps cookies, returns real ``httpx.Response`` objects.
- :func:`streaming_response`: a real litellm ``CustomStreamWrapper`` over an async generator of chunks.
- :func:`model_response`: a real litellm ``ModelResponse``.

They never replace the end-to-end path: the parity suites use the loopback fake provider instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import openai

from conformance.fakes import FakeProvider, fake_provider_transport
from proxy.session import SessionManager

__all__ = [
    "MOCK_PROVIDER",
    "MOCK_PROVIDER_URL",
    "mock_session_manager",
    "model_response",
    "streaming_response",
]

MOCK_PROVIDER_URL = "http://fake-provider.test"
MOCK_PROVIDER = "conformance-mock"


def mock_session_manager(provider: FakeProvider, base_url: str = MOCK_PROVIDER_URL) -> SessionManager:
    """A session manager whose client reaches ``provider`` in process, at ``base_url``."""
    return SessionManager(transport=fake_provider_transport(provider, base_url))


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    return litellm


def model_response(text: str, *, model: str = "mock-model", **fields: Any) -> Any:
    litellm = _litellm()
    return litellm.ModelResponse(
        model=model,
        choices=[{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        **fields,
    )


_SCRIPTS: dict[str, tuple[Sequence[str], int | None]] = {}


def _scripted_provider() -> str:
    """Register, once, a LiteLLM provider that streams the script its model name points to."""
    litellm = _litellm()
    if any(entry["provider"] == MOCK_PROVIDER for entry in litellm.custom_provider_map):
        return MOCK_PROVIDER
    from litellm.types.utils import GenericStreamingChunk

    class ScriptedStream(litellm.CustomLLM):
        async def astreaming(  # type: ignore[override]
            self, model: str, *args: Any, **kwargs: Any
        ) -> AsyncIterator[GenericStreamingChunk]:
            pieces, fail_after = _SCRIPTS.pop(model.rpartition("/")[2])
            for index, piece in enumerate(pieces):
                if fail_after is not None and index == fail_after:
                    # What the openai SDK raises when a provider drops the connection mid-stream.
                    raise openai.APIConnectionError(
                        request=httpx.Request("POST", f"{MOCK_PROVIDER_URL}/v1/chat/completions")
                    )
                last = index == len(pieces) - 1
                yield GenericStreamingChunk(
                    text=piece,
                    is_finished=last,
                    finish_reason="stop" if last else "",
                    usage=None,
                    index=0,
                    tool_use=None,
                )

    litellm.custom_provider_map.append({"provider": MOCK_PROVIDER, "custom_handler": ScriptedStream()})
    litellm.utils.custom_llm_setup()
    return MOCK_PROVIDER


async def streaming_response(pieces: Sequence[str], *, fail_after: int | None = None) -> Any:
    """A real ``CustomStreamWrapper`` yielding ``pieces`` (dropping the connection after ``fail_after``)."""
    from litellm.main import acompletion  # the real one, even while a test has patched litellm.acompletion

    provider = _scripted_provider()
    script = uuid.uuid4().hex
    _SCRIPTS[script] = (pieces, fail_after)
    return await acompletion(
        model=f"{provider}/{script}", messages=[{"role": "user", "content": "hi"}], stream=True
    )
