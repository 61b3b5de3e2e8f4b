"""Which questions ask when, and which memories say when (two of the features recall ranks by)."""

from __future__ import annotations

import pytest

from bench.memory_data import FACTS, filler, stored
from proxy.memory.recall.lexical import words_of
from proxy.memory.recall.when import _TELLS_WHEN, asks_when, tells_when


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


def test_the_shortcut_over_a_memorys_words_never_changes_the_answer() -> None:
    """A memory with no word a time is told with and no digit skips the pattern: over the repository's
    own memories, the facts and every filler form, and the cases above, the answer is the pattern's."""
    texts = [stored(fact.statement) for fact in FACTS] + filler(2_000) + [
        "mid-May we moved", "Sundays are quiet", "the 3rd of June", "weekends in autumn", "12/05/2024",
    ]  # fmt: skip
    told = [text for text in texts if _TELLS_WHEN.search(text)]

    assert [text for text in texts if tells_when(text)] == told
    assert [text for text in texts if tells_when(text, {w.lower() for w in words_of(text)})] == told
    assert 5 < len(told) < len(texts)  # both kinds are there
