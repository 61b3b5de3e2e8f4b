"""Server-sent events: relay chunks as the provider sends them, never buffered.

The answer's first chunk is awaited before the response starts (:class:`OpenedStream`), so a failure the
provider reports up front (a 429, an unknown model, a body that is no stream at all) is still an ordinary
JSON error with its status. After that, a failure becomes one SSE error event in the protocol's envelope and
the stream ends (:func:`relay`). A client that goes away cancels the relay, and closing the chunk iterator
closes the provider's response: nothing keeps generating for nobody.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Generic, TypeVar

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from proxy.call import Answer
from proxy.errors import ProxyError, UpstreamUnreachable, to_proxy_error

__all__ = [
    "OPENAI_DONE",
    "OpenedStream",
    "SSEResponse",
    "checked",
    "close_iterator",
    "frame_data",
    "openai_chunk",
    "relay",
    "sse_event",
    "sse_frames",
]

OPENAI_DONE = b"data: [DONE]\n\n"
"""The frame that ends an OpenAI stream."""

T = TypeVar("T")


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


class OpenedStream(Generic[T]):
    """A stream whose answer has begun: its first item that ``starts_answer`` has arrived.

    Opening awaits that item before the response starts, so a failure the provider reports up front is
    raised to the flow and answered as an ordinary JSON error with its status. Items before it (an
    Anthropic ``message_start``, a ``ping``) are held and sent with it. A stream that ends before any answer
    began is not a stream of the protocol (a provider that sent something else, which LiteLLM turns into
    an empty stream): that is an :class:`~proxy.errors.UpstreamUnreachable`, never an empty success.
    Iterating yields the held items, then the rest; closing closes the upstream iterator.
    """

    def __init__(self, items: AsyncIterator[T], held: list[T]) -> None:
        self._items = items
        self._held = held

    @classmethod
    async def open(
        cls, items: AsyncIterator[T], starts_answer: Callable[[T], bool] = lambda item: True
    ) -> OpenedStream[T]:
        """Wait for the answer to begin; a failure so far is raised, with ``items`` closed."""
        held: list[T] = []
        try:
            async for item in items:
                held.append(item)
                if starts_answer(item):
                    return cls(items, held)
        except BaseException:
            await close_iterator(items)
            raise
        await close_iterator(items)
        raise UpstreamUnreachable(
            "The provider answered the stream request with no stream: "
            f"{len(held)} event(s) and no answer before it ended."
        )

    async def __aiter__(self) -> AsyncIterator[T]:
        for item in self._held:
            yield item
        async for item in self._items:
            yield item

    async def aclose(self) -> None:
        await close_iterator(self._items)


async def close_iterator(items: AsyncIterator[Any]) -> None:
    """Close an async iterator that can be closed (a generator, LiteLLM's stream wrappers)."""
    closer = getattr(items, "aclose", None)
    if closer is not None:
        await closer()


def relay(
    stream: OpenedStream[T],
    *,
    encode: Callable[[T], bytes],
    end: bytes,
    error_event: Callable[[ProxyError], bytes],
    text_of: Callable[[T], str],
    calls_tool: Callable[[T], bool],
    on_complete: Callable[[Answer], None],
    headers: Mapping[str, str],
    on_end: Callable[[str | None], None] = lambda problem: None,
    is_last: Callable[[T], bool] = lambda item: False,
    response_id_of: Callable[[T], str | None] = lambda item: None,
) -> SSEResponse:
    """Send ``stream`` as server-sent events, one frame per item as it arrives, then ``end``.

    The answer (the ``text_of`` each item, and whether any item ``calls_tool``) goes to ``on_complete`` once
    the stream has all arrived, *before* the client has its end (``end``, or the item that ``is_last``):
    write-back journals it there, so a client that saw its answer end has it remembered, even if this
    process dies the next moment. Never after a failure (which is sent as one ``error_event``, ending the
    stream) or a client hang-up. ``on_end`` hears how it ended, whatever happened: None when it completed,
    else what went wrong. The answer's id is the last one ``response_id_of`` finds.
    """

    async def frames() -> AsyncIterator[bytes]:
        texts: list[str] = []
        tool = False
        response_id: str | None = None
        completed = False
        problem: str | None = "the client went away before the stream ended"
        try:
            async for item in stream:
                texts.append(text_of(item))
                tool = tool or calls_tool(item)
                response_id = response_id_of(item) or response_id
                if is_last(item) and not completed:
                    completed = True
                    on_complete(Answer("".join(texts), tool, response_id))
                yield encode(item)
            if not completed:
                completed = True
                on_complete(Answer("".join(texts), tool, response_id))
            if end:
                yield end
            problem = None
        except Exception as exc:
            error = to_proxy_error(exc)
            frame = error_event(error)  # first: it may mask what the message holds (the client's keys)
            problem = f"the stream failed after it began: {error.message}"
            yield frame
            return
        finally:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            on_end(problem)

    return SSEResponse(frames(), headers={"cache-control": "no-cache", "x-accel-buffering": "no", **headers})


async def checked(items: AsyncIterator[T], problem_of: Callable[[T], ProxyError | None]) -> AsyncIterator[T]:
    """``items`` as they come, until one has a problem: that is raised (and ``items`` closed)."""
    try:
        async for item in items:
            problem = problem_of(item)
            if problem is not None:
                raise problem
            yield item
    finally:
        await close_iterator(items)


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
        await close_iterator(chunks)


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
