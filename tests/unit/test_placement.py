"""Where recalled memory goes: after the client's own system prompt or inside one user turn, never
changing what the client sent."""

from __future__ import annotations

import copy

from proxy.memory.conversations import Pin
from proxy.memory.placement import CONTEXT_HEADING, format_context, place_anthropic, place_chat

CHAT = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Use metric units."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ],
}
ANTHROPIC = {
    "model": "m",
    "system": [{"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}
    ],
}


def test_context_respects_max_results_length_and_duplicates():
    memories = ["likes teal", "likes teal", "lives in Lisbon", "works on compilers", "x" * 500]
    context = format_context(memories, max_results=3, max_length=4000)
    assert context.splitlines() == [
        CONTEXT_HEADING,
        "- likes teal",
        "- lives in Lisbon",
        "- works on compilers",
    ]
    short = format_context(memories, max_results=5, max_length=len(CONTEXT_HEADING) + 60)
    assert len(short) <= len(CONTEXT_HEADING) + 60
    assert "- likes teal" in short
    assert format_context([], max_results=5, max_length=100) == ""
    assert format_context(["  "], max_results=5, max_length=100) == ""


def test_a_system_pin_follows_every_leading_system_message_of_the_client():
    before = copy.deepcopy(CHAT)
    placed = place_chat(CHAT, [Pin("CTX")])
    assert [m["role"] for m in placed["messages"]] == [
        "system",
        "developer",
        "system",
        "user",
        "assistant",
        "user",
    ]
    assert placed["messages"][2] == {"role": "system", "content": "CTX"}
    assert before == CHAT  # the client's body is never changed in place
    alone = place_chat({"messages": [{"role": "user", "content": "hi"}]}, [Pin("CTX")])
    assert alone["messages"][0] == {"role": "system", "content": "CTX"}


def test_message_pins_go_before_or_after_their_turn_whatever_its_content_shape():
    placed = place_chat(CHAT, [Pin("OLD", 2, "prefix"), Pin("NEW", 4, "suffix")])
    assert placed["messages"][2]["content"] == "OLD\n\nfirst question"
    assert placed["messages"][4]["content"] == [
        {"type": "text", "text": "second"},
        {"type": "text", "text": "NEW"},
    ]
    assert placed["messages"][3] == CHAT["messages"][3]
    assert place_chat(CHAT, [Pin("X", 99, "prefix")]) == CHAT  # a pin past the end is left out


def test_anthropic_system_pins_end_the_system_prompt_and_add_no_cache_breakpoint():
    placed = place_anthropic(ANTHROPIC, [Pin("CTX")])
    assert placed["system"] == [*ANTHROPIC["system"], {"type": "text", "text": "CTX"}]
    assert placed["messages"] == ANTHROPIC["messages"]
    assert place_anthropic({**ANTHROPIC, "system": "Be brief."}, [Pin("CTX")])["system"] == "Be brief.\n\nCTX"
    assert place_anthropic({"messages": []}, [Pin("CTX")])["system"] == "CTX"
    prefixed = place_anthropic(ANTHROPIC, [Pin("CTX", 0, "prefix")])["messages"][0]["content"]
    assert prefixed == [{"type": "text", "text": "CTX"}, *ANTHROPIC["messages"][0]["content"]]
