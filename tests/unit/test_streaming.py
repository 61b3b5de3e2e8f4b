"""Stream plumbing: SSE framing across arbitrary chunks, and the text tap that feeds write-back."""

from __future__ import annotations

from collections.abc import AsyncIterator

from proxy.streaming import frame_data, sse_frames, tap_content


async def from_list(items: list) -> AsyncIterator:
    for item in items:
        yield item


def chunk(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


async def test_tap_counts_the_first_chunk_taken_before_it():
    seen: list[str] = []
    tapped = tap_content(
        from_list([chunk(" world"), chunk("!")]), on_complete=seen.append, first=chunk("Hello")
    )
    assert [c async for c in tapped] == [chunk(" world"), chunk("!")]
    assert seen == ["Hello world!"]


async def test_tap_does_not_complete_a_stream_that_failed():
    async def failing() -> AsyncIterator[dict]:
        yield chunk("partial")
        raise RuntimeError("provider went away")

    seen: list[str] = []
    tapped = tap_content(failing(), on_complete=seen.append)
    received = []
    try:
        async for item in tapped:
            received.append(item)
    except RuntimeError:
        pass
    assert received == [chunk("partial")]
    assert seen == []


async def test_sse_frames_reassemble_events_split_anywhere():
    raw = b'event: a\ndata: {"x": 1}\n\nevent: b\r\ndata: {"y": 2}\r\n\r\ndata: [DONE]'
    pieces = [raw[i : i + 5] for i in range(0, len(raw), 5)]
    frames = [frame async for frame in sse_frames(from_list(pieces))]
    assert frames == [b'event: a\ndata: {"x": 1}\n\n', b'event: b\ndata: {"y": 2}\n\n', b"data: [DONE]\n\n"]
    assert [frame_data(f) for f in frames] == [{"x": 1}, {"y": 2}, None]
