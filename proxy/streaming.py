"""Server-sent events: relay chunks as the provider sends them, never buffered.

The first chunk is awaited before the response starts, so a failure the provider reports up front (a 429,
an unknown model) is still an ordinary JSON error with its status. After that, a failure becomes one SSE
error event in the protocol's envelope and the stream ends. A client that goes away cancels the relay,
and closing the chunk iterator closes the provider's response: nothing keeps generating for nobody.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from proxy.errors import ProxyError, anthropic_envelope, to_proxy_error

__all__ = [
    "SSEResponse",
    "answer_content",
    "anthropic_sse_response",
    "anthropic_text",
    "frame_data",
    "openai_chunk",
    "peek",
    "sse_event",
    "sse_frames",
    "sse_response",
    "tap_content",
]

_DONE = b"data: [DONE]\n\n"


def openai_chunk(chunk: dict[str, Any]) -> dict[str, Any]:
    """OpenAI sends ``finish_reason`` on every choice of every chunk, null until the end; LiteLLM drops
    the nulls. Clients that index it (rather than ``.get`` it) need it back."""
    for choice in chunk.get("choices", ()):
        choice.setdefault("finish_reason", None)
    return chunk


def sse_event(data: Any, event: str | None = None) -> bytes:
    """One SSE frame; compact JSON, as OpenAI and Anthropic send it."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


class SSEResponse(StreamingResponse):
    """A StreamingResponse that always notices a disconnect and always closes its iterator.

    Starlette only watches for ``http.disconnect`` under older ASGI spec versions; under 2.4 it learns of a
    gone client from the next failed send, and never closes the body iterator. Here both happen for every
    server, so the upstream request is released as soon as the client leaves.
    """

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream_then_stop() -> None:
                    with contextlib.suppress(OSError):  # the client is gone; the listener sees it too
                        await self.stream_response(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream_then_stop)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            closer = getattr(self.body_iterator, "aclose", None)
            if closer is not None:
                with anyio.CancelScope(shield=True):
                    await closer()
        if self.background is not None:
            await self.background()


def answer_content(completion: dict[str, Any]) -> str:
    """The assistant's text in a chat completion (empty for a tool call)."""
    choices = completion.get("choices") or [{}]
    content = (choices[0].get("message") or {}).get("content")
    return content if isinstance(content, str) else ""


def _delta_text(chunk: dict[str, Any] | None) -> str:
    texts = [(choice.get("delta") or {}).get("content") for choice in (chunk or {}).get("choices") or ()]
    return "".join(text for text in texts if isinstance(text, str))


async def tap_content(
    chunks: AsyncIterator[dict[str, Any]],
    *,
    on_complete: Callable[[str], None],
    first: dict[str, Any] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Pass ``chunks`` through, collecting the assistant's text (``first``, already taken from the stream,
    included); ``on_complete(text)`` runs only if the stream ended normally (not on failure or hang-up)."""
    parts: list[str] = [_delta_text(first)]
    try:
        async for chunk in chunks:
            parts.append(_delta_text(chunk))
            yield chunk
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    on_complete("".join(parts))


async def peek(chunks: AsyncIterator[dict[str, Any]]) -> dict[str, Any] | None:
    """The first chunk (None for an empty stream); a failure so far is raised, with the stream closed."""
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None
    except BaseException:
        await chunks.aclose()  # type: ignore[attr-defined]
        raise


def sse_response(
    first: dict[str, Any] | None,
    chunks: AsyncIterator[dict[str, Any]],
    *,
    envelope: Callable[[ProxyError], dict[str, Any]],
    headers: dict[str, str],
) -> SSEResponse:
    """Relay ``first`` and the rest of ``chunks`` as OpenAI-style SSE, ending in ``[DONE]``."""

    async def relay() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield sse_event(openai_chunk(first))
                async for chunk in chunks:
                    yield sse_event(openai_chunk(chunk))
            yield _DONE
        except Exception as exc:
            yield sse_event(envelope(to_proxy_error(exc)))
        finally:
            with anyio.CancelScope(shield=True):
                await chunks.aclose()  # type: ignore[attr-defined]

    return SSEResponse(
        relay(),
        headers={"cache-control": "no-cache", "x-accel-buffering": "no", **headers},
    )


async def sse_frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Whole SSE events from arbitrary byte chunks (an event may span chunks, a chunk many events)."""
    buffer = b""
    try:
        async for chunk in chunks:
            buffer = (buffer + chunk).replace(b"\r\n", b"\n")  # a CRLF may be split across chunks
            while (end := buffer.find(b"\n\n")) >= 0:
                frame, buffer = buffer[: end + 2], buffer[end + 2 :]
                if frame.strip():
                    yield frame
        if buffer.strip():
            yield buffer.rstrip(b"\n") + b"\n\n"
    finally:
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()


def frame_data(frame: bytes) -> Any:
    """The JSON ``data`` of one SSE frame (None when it has none or it is not JSON)."""
    lines = [
        line[5:].strip()
        for line in frame.decode("utf-8", errors="replace").splitlines()
        if line.startswith("data:")
    ]
    try:
        return json.loads("\n".join(lines)) if lines else None
    except ValueError:
        return None


def anthropic_text(message: dict[str, Any]) -> str:
    """The text blocks of an Anthropic Messages answer, joined."""
    return "".join(
        block.get("text", "") for block in message.get("content") or () if block.get("type") == "text"
    )


def anthropic_sse_response(
    first: bytes | None,
    frames: AsyncIterator[bytes],
    *,
    on_complete: Callable[[str], None],
    headers: dict[str, str],
) -> SSEResponse:
    """Relay Anthropic SSE frames untouched, collecting the text for write-back; a failure mid-stream
    becomes one ``error`` event in Anthropic's envelope, then the stream ends."""

    async def relay() -> AsyncIterator[bytes]:
        texts: list[str] = []
        try:
            if first is not None:
                async for frame in _with_first(first, frames):
                    data = frame_data(frame)
                    if isinstance(data, dict) and data.get("type") == "content_block_delta":
                        delta = data.get("delta") or {}
                        if delta.get("type") == "text_delta":
                            texts.append(delta.get("text", ""))
                    yield frame
        except Exception as exc:
            yield sse_event(anthropic_envelope(to_proxy_error(exc)), event="error")
            return
        finally:
            with anyio.CancelScope(shield=True):
                await frames.aclose()  # type: ignore[attr-defined]
        on_complete("".join(texts))

    return SSEResponse(relay(), headers={"cache-control": "no-cache", "x-accel-buffering": "no", **headers})


async def _with_first(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for frame in rest:
        yield frame
