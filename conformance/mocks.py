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
from collections.abc import AsyncIterator, Sequence
from typing import Any

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


def _scripted_llm(pieces: Sequence[str], fail_after: int | None) -> Any:
    litellm = _litellm()
    from litellm.types.utils import GenericStreamingChunk

    class ScriptedStream(litellm.CustomLLM):
        async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[GenericStreamingChunk]:  # type: ignore[override]
            for index, piece in enumerate(pieces):
                if fail_after is not None and index == fail_after:
                    raise litellm.APIConnectionError(
                        message="scripted mid-stream failure", llm_provider=MOCK_PROVIDER, model="mock-model"
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

    return ScriptedStream()


async def streaming_response(pieces: Sequence[str], *, fail_after: int | None = None) -> Any:
    """A real ``CustomStreamWrapper`` yielding ``pieces`` (raising after ``fail_after`` pieces, if set)."""
    litellm = _litellm()
    from litellm.main import acompletion  # the real one, even while a test has patched litellm.acompletion

    provider = f"{MOCK_PROVIDER}-{id(pieces)}"
    litellm.custom_provider_map.append(
        {"provider": provider, "custom_handler": _scripted_llm(pieces, fail_after)}
    )
    litellm.utils.custom_llm_setup()
    try:
        return await acompletion(
            model=f"{provider}/mock-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    finally:
        litellm.custom_provider_map[:] = [e for e in litellm.custom_provider_map if e["provider"] != provider]
