"""What the person said: client context stripped, tool loops read as one prompt, queries by strategy."""

from __future__ import annotations

import pytest

from conformance import resources
from proxy.memory.turns import Prompt, TurnReader, exchange_text, said_by_the_user

READER = TurnReader()

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
    assert READER.query(CONVERSATION, strategy) == expected


def test_query_falls_back_and_can_be_empty():
    assert READER.query([{"role": "user", "content": "hi"}], "last_assistant") == "hi"
    assert READER.query([{"role": "system", "content": "x"}], "last_user") == ""
    assert READER.text({"role": "assistant", "content": None}) == ""
    assert READER.text({"role": "user", "content": [{"type": "text", "text": 5}]}) == ""


def test_claude_codes_system_reminders_are_not_the_persons_words():
    """The captured Claude Code request: three <system-reminder> parts before the prompt."""
    body = resources.read_json("claude-code-2.1.197-tool-loop.json")["requests"][0]["body"]
    prompt = READER.prompt(body["messages"])
    assert prompt == Prompt(
        0, "TOOL_LOOP path=/home/user/project/notes.txt Please read my notes file and summarise it."
    )
    assert "system-reminder" not in READER.query(body["messages"], "all_user")


def test_client_context_patterns_are_data():
    reader = TurnReader([r"\[ctx\].*?\[/ctx\]"])
    assert (
        reader.text({"role": "user", "content": "[ctx]file a.py[/ctx] why does it fail?"})
        == "why does it fail?"
    )
    untouched = TurnReader([])
    assert untouched.text({"role": "user", "content": "<system-reminder>x</system-reminder>hi"}) == (
        "<system-reminder>x</system-reminder>hi"
    )


def test_a_tool_result_turn_continues_the_prompt_before_it():
    """Anthropic's tool_result parts and OpenAI's tool role add nothing of the person's own."""
    body = resources.read_json("claude-code-2.1.197-tool-loop.json")["requests"][1]["body"]
    assert READER.continues_tool_loop(body["messages"])
    assert READER.prompt(body["messages"]).index == 0
    openai_loop = [
        {"role": "user", "content": "weather in Lisbon?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
        {"role": "tool", "tool_call_id": "1", "content": "sunny"},
    ]
    assert READER.continues_tool_loop(openai_loop)
    assert READER.prompt(openai_loop) == Prompt(0, "weather in Lisbon?")
    assert not READER.continues_tool_loop([{"role": "user", "content": "hi"}])
    mixed = [
        {
            "role": "user",
            "content": [{"type": "tool_result", "content": "x"}, {"type": "text", "text": "and?"}],
        }
    ]
    assert not READER.continues_tool_loop(mixed)


def test_an_exchange_is_stored_capped():
    assert exchange_text(" my favourite colour is teal ", "Noted!", max_chars=4000) == (
        "user: my favourite colour is teal\nassistant: Noted!"
    )
    capped = exchange_text("p" * 5000, "a" * 5000, max_chars=1000)
    assert len(capped) <= 1000 + len("user: \nassistant: ")
    assert capped.startswith("user: " + "p" * 400)


def test_what_the_user_said_in_a_stored_exchange():
    assert (
        said_by_the_user(exchange_text("I drive a red Volvo", "Nice!", max_chars=100))
        == "I drive a red Volvo"
    )
    assert said_by_the_user("an imported note") == "an imported note"


def test_a_bare_question_is_compared_by_its_answer():
    """What a bare question's exchange holds is its answer; a statement with a question keeps its words."""
    asked = exchange_text("Which colour did I pick for the logo?", "You picked teal.", max_chars=200)
    assert said_by_the_user(asked) == "You picked teal."
    both = exchange_text("I picked teal. Is that too dark?", "It works well.", max_chars=200)
    assert said_by_the_user(both) == "I picked teal. Is that too dark?"
    unanswered = exchange_text("What is the deploy key?", "", max_chars=200)
    assert said_by_the_user(unanswered) == "What is the deploy key?"
