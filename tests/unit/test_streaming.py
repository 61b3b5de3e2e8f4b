"""Stream plumbing: SSE framing across arbitrary chunks, and the relay that feeds write-back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from proxy.call import Answer
from proxy.errors import RateLimited, UpstreamUnreachable
from proxy.streaming import OpenedStream, checked, frame_data, relay, sse_frames
from proxy.surfaces import CHAT, MESSAGES


async def from_list(items: list) -> AsyncIterator:
    for item in items:
        yield item


def chunk(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


async def relayed(stream: OpenedStream, surface=CHAT) -> tuple[list[bytes], list[Answer]]:
    completed: list[Answer] = []
    response = relay(
        stream,
        encode=surface.encode_chunk,
        end=surface.stream_end,
        error_event=surface.error_event,
        text_of=surface.chunk_text,
        calls_tool=surface.chunk_calls_tool,
        on_complete=completed.append,
        headers={},
    )
    return [frame async for frame in response.body_iterator], completed


async def test_relay_sends_the_first_chunk_and_the_rest_then_completes_with_all_their_text():
    stream = await OpenedStream.open(from_list([chunk("Hello"), chunk(" world"), chunk("!")]))
    frames, completed = await relayed(stream)
    assert [frame_data(frame) for frame in frames[:-1]] == [
        {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
        for text in ("Hello", " world", "!")
    ]
    assert frames[-1] == b"data: [DONE]\n\n"
    assert completed == [Answer("Hello world!")]


async def test_a_failure_before_the_first_chunk_is_raised_and_the_stream_closed():
    closed: list[bool] = []

    async def failing() -> AsyncIterator[dict]:
        try:
            raise RateLimited("slow down", retry_after="3")
            yield chunk("never")
        finally:
            closed.append(True)

    with pytest.raises(RateLimited):
        await OpenedStream.open(failing())
    assert closed == [True]


async def test_a_failure_mid_stream_is_one_error_event_and_nothing_is_completed():
    async def failing() -> AsyncIterator[bytes]:
        delta = b'{"type":"content_block_delta","delta":{"type":"text_delta","text":"partial"}}'
        yield b"event: content_block_delta\ndata: " + delta + b"\n\n"
        raise RuntimeError("provider went away")

    frames, completed = await relayed(await OpenedStream.open(failing()), MESSAGES)
    assert len(frames) == 2
    assert frames[1].startswith(b"event: error\n")
    assert frame_data(frames[1])["type"] == "error"
    assert completed == []


EMPTY_FINISH = {"choices": [{"index": 0, "finish_reason": "stop", "delta": {}}]}
"""What LiteLLM makes of an Anthropic model's empty answer (and, were it let through, of a provider's body
that is no stream: proxy.session.require_a_stream stops that one at the provider)."""
MESSAGE_START = b'event: message_start\ndata: {"type":"message_start","message":{"role":"assistant"}}\n\n'
PING = b'event: ping\ndata: {"type":"ping"}\n\n'
TEXT = (
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"hi"}}\n\n'
)


@pytest.mark.parametrize(
    ("items", "surface"),
    [([], CHAT), ([], MESSAGES), ([MESSAGE_START, PING], MESSAGES), ([b": keep-alive\n\n"], MESSAGES)],
    ids=["chat-nothing", "messages-nothing", "messages-no-answer", "messages-only-a-comment"],
)
async def test_a_stream_that_ends_before_any_answer_is_unreachable_not_an_empty_success(items, surface):
    with pytest.raises(UpstreamUnreachable, match="no stream"):
        await OpenedStream.open(from_list(items), surface.starts_answer)


async def test_an_empty_chat_answer_is_relayed_as_one():
    frames, completed = await relayed(await OpenedStream.open(from_list([EMPTY_FINISH]), CHAT.starts_answer))
    assert frames[-1] == b"data: [DONE]\n\n" and completed == [Answer("")]


async def test_what_comes_before_the_answer_is_held_then_sent_with_it():
    stream = await OpenedStream.open(from_list([MESSAGE_START, PING, TEXT]), MESSAGES.starts_answer)
    frames, completed = await relayed(stream, MESSAGES)
    assert frames == [MESSAGE_START, PING, TEXT]
    assert completed == [Answer("hi")]


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b'{"this is not json, you sent sk-secret-key-12345', UpstreamUnreachable),
        (b"data: {not json\n\n", UpstreamUnreachable),
        (
            b'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"slow"}}\n\n',
            RateLimited,
        ),
    ],
    ids=["garbage", "data-not-json", "error-event"],
)
async def test_a_messages_frame_that_is_not_the_protocol_is_never_relayed(frame, error):
    """Mid-stream it becomes one error event in this proxy's envelope, redacted; up front, the error."""
    items = checked(from_list([MESSAGE_START, TEXT, frame, TEXT]), MESSAGES.chunk_problem)
    frames, completed = await relayed(await OpenedStream.open(items, MESSAGES.starts_answer), MESSAGES)
    assert frames[:2] == [MESSAGE_START, TEXT] and len(frames) == 3
    assert frame_data(frames[2])["type"] == "error" and b"sk-secret" not in frames[2]
    assert completed == []
    with pytest.raises(error):
        await OpenedStream.open(
            checked(from_list([frame, TEXT]), MESSAGES.chunk_problem), MESSAGES.starts_answer
        )


async def test_sse_comments_are_the_protocol_too():
    items = checked(from_list([b": keep-alive\n\n", TEXT]), MESSAGES.chunk_problem)
    frames, _ = await relayed(await OpenedStream.open(items, MESSAGES.starts_answer), MESSAGES)
    assert frames == [b": keep-alive\n\n", TEXT]


async def test_sse_frames_reassemble_events_split_anywhere():
    raw = b'event: a\ndata: {"x": 1}\n\nevent: b\r\ndata: {"y": 2}\r\n\r\ndata: [DONE]'
    pieces = [raw[i : i + 5] for i in range(0, len(raw), 5)]
    frames = [frame async for frame in sse_frames(from_list(pieces))]
    assert frames == [b'event: a\ndata: {"x": 1}\n\n', b'event: b\ndata: {"y": 2}\n\n', b"data: [DONE]\n\n"]
    assert [frame_data(f) for f in frames] == [{"x": 1}, {"y": 2}, None]


async def test_a_stream_that_calls_a_tool_says_so():
    """A step of a tool loop is not stored: the relay tells write-back the answer called a tool."""
    tool_call = {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t"}]}}]}
    _, completed = await relayed(await OpenedStream.open(from_list([chunk("Let me look"), tool_call])))
    assert completed == [Answer("Let me look", calls_tool=True)]
    frames = [
        b'event: content_block_start\ndata: {"type":"content_block_start","index":1,'
        b'"content_block":{"type":"tool_use","id":"t","name":"Read","input":{}}}\n\n',
    ]
    _, completed = await relayed(await OpenedStream.open(from_list(frames)), MESSAGES)
    assert completed == [Answer("", calls_tool=True)]
