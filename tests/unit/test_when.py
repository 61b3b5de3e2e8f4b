"""Which questions ask when, and which memories say when (what the "when" weight of recall reads)."""

from __future__ import annotations

import pytest

from proxy.memory.recall.when import asks_when, tells_when


@pytest.mark.parametrize(
    "question",
    [
        "When did Caroline go to the LGBTQ support group?",
        "  when was the release cut",
        "Since when do we pin httpx?",
        "How long ago did I switch to uv?",
        "In which month did Nate adopt the turtles?",
        "What year did Dave restore the car?",
        "On what day is the standup?",
    ],
)
def test_a_question_for_a_time_asks_when(question: str) -> None:
    assert asks_when(question)


@pytest.mark.parametrize(
    "question",
    [
        "What game did Nate play at the convention?",
        "Where did we deploy it, and when?",  # asks where first
        "How long did the migration take?",  # a duration, not a moment
        "what is the timeout?",
        "Whenever I run the tests they hang",
        "",
    ],
)
def test_other_questions_do_not(question: str) -> None:
    assert not asks_when(question)


@pytest.mark.parametrize(
    "content",
    [
        "user: I went to the support group yesterday assistant: ok",
        "we moved the database to Postgres last week",
        "I got them three years ago",
        "the conference is in May",
        "Released on 2024-05-01.",
        "the standup is on Friday",
        "the offsite was in 2023",
        "we shipped it on 9 October",
    ],
)
def test_a_memory_that_states_a_time_tells_when(content: str) -> None:
    assert tells_when(content)


@pytest.mark.parametrize(
    "content",
    [
        "user: which shop sold the turtles? assistant: the one by the station",
        "the build failed because of a missing dependency",
        "I may change the config",  # "may", not May
        "version 3.12.1 of the interpreter",
        "port 8080 is taken",
    ],
)
def test_other_memories_do_not(content: str) -> None:
    assert not tells_when(content)
