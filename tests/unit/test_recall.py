"""Recall queries and context injection: pure functions, every strategy."""

from __future__ import annotations

import pytest

from proxy.memory.recall import (
    CONTEXT_HEADING,
    exchange_text,
    format_context,
    inject,
    message_text,
    query_for,
)

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url", "image_url": {}}]},
]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("last_user", "second"),
        ("first_user", "first question"),
        ("all_user", "first question\nsecond"),
        ("last_assistant", "first answer"),
    ],
)
def test_query_strategies(strategy, expected):
    assert query_for(CONVERSATION, strategy) == expected


def test_query_falls_back_and_can_be_empty():
    only_user = [{"role": "user", "content": "hi"}]
    assert query_for(only_user, "last_assistant") == "hi"
    assert query_for([{"role": "system", "content": "x"}], "last_user") == ""
    assert message_text({"role": "assistant", "content": None}) == ""


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


def test_system_injection_goes_after_the_clients_system_message():
    injected = inject(CONVERSATION, "CTX", "system")
    assert injected[0] == {"role": "system", "content": "Be brief."}
    assert injected[1] == {"role": "system", "content": "CTX"}
    assert injected[2:] == CONVERSATION[1:]
    assert inject([{"role": "user", "content": "hi"}], "CTX", "system")[0] == {
        "role": "system",
        "content": "CTX",
    }


def test_user_prefix_and_suffix_edit_only_the_last_user_turn_and_never_the_original():
    prefixed = inject(CONVERSATION, "CTX", "user_prefix")
    assert prefixed[-1]["content"][0] == {"type": "text", "text": "CTX"}
    suffixed = inject([{"role": "user", "content": "hello"}], "CTX", "user_suffix")
    assert suffixed[-1]["content"] == "hello\n\nCTX"
    prefixed_text = inject([{"role": "user", "content": "hello"}], "CTX", "user_prefix")
    assert prefixed_text[-1]["content"] == "CTX\n\nhello"
    assert CONVERSATION[-1]["content"][0] == {"type": "text", "text": "second"}  # not changed in place
    assert inject([{"role": "system", "content": "s"}], "CTX", "user_prefix")[1]["content"] == "CTX"


def test_exchange_text():
    assert exchange_text(" my favourite colour is teal ", "Noted!") == (
        "user: my favourite colour is teal\nassistant: Noted!"
    )
