"""The LoCoMo benchmark reads the conversations as published and judges a question by what reached the
provider: a small conversation in LoCoMo's format, told to the proxy and asked."""

from __future__ import annotations

import json
from pathlib import Path

from bench import locomo

CONVERSATION = {
    "speaker_a": "Ann",
    "speaker_b": "Bo",
    "session_1_date_time": "1:00 pm on 1 May, 2023",
    "session_1": [
        {"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a greyhound called Comet last week!"},
        {"speaker": "Bo", "dia_id": "D1:2", "text": "Lovely. I started learning the cello."},
    ],
    "session_2_date_time": "2:00 pm on 9 May, 2023",
    "session_2": [
        {
            "speaker": "Ann",
            "dia_id": "D2:1",
            "text": "Comet loves the beach.",
            "blip_caption": "a dog on sand",
        },
        {"speaker": "Bo", "dia_id": "D2:2", "text": "My   cello teacher is strict."},
    ],
    "qa": [
        {
            "question": "What is the name of Ann's greyhound?",
            "answer": "Comet",
            "evidence": ["D1:1"],
            "category": 4,
        },
        {
            "question": "Who is the cello teacher of Bo?",
            "answer": "a strict teacher",
            "evidence": ["D2:2"],
            "category": 1,
        },
        {"question": "Does Ann own a cat?", "answer": "no", "evidence": [], "category": 5},
    ],
}


def write(tmp_path: Path) -> Path:
    (tmp_path / "conv-1.json").write_text(json.dumps(CONVERSATION), encoding="utf-8")
    return tmp_path


def test_turns_are_sent_as_speaker_and_text_and_only_answerable_questions_count(tmp_path: Path) -> None:
    [conversation] = locomo.load(write(tmp_path))
    assert conversation.turns[2] == ("D2:1", "Ann: Comet loves the beach. [shares a photo: a dog on sand]")
    assert [q.category for q in conversation.questions] == [4, 1]


def test_bm25_ranks_the_turn_that_holds_the_answer_first(tmp_path: Path) -> None:
    [conversation] = locomo.load(write(tmp_path))
    assert [ranking[0] for ranking in locomo._bm25_rankings(conversation)] == ["D1:1", "D2:2"]


async def test_through_the_proxy_a_question_finds_the_turns_that_reached_the_provider(tmp_path: Path) -> None:
    conversations = locomo.load(write(tmp_path))
    found, times = await locomo.through_proxy(conversations, tmp_path / "memory.sqlite3", semantic=False)
    assert [(question.evidence, "D1:1" in reached, "D2:2" in reached) for question, reached in found] == [
        (("D1:1",), True, False),
        (("D2:2",), False, True),  # its spaces collapsed in the injected block, still found
    ]
    assert locomo._summary(found)["all"] == {"any": 1.0, "all": 1.0}
    assert len(times) == 2
