"""Ranking what words and meaning found: each candidate's features, weighed, and the neighbour ceiling."""

from __future__ import annotations

import math

import pytest

from proxy.memory.recall.ranking import (
    BESIDE,
    FEATURES,
    PLACE_K,
    WEIGHTS,
    Candidate,
    Features,
    answered,
    features,
    fuse,
    scores,
)
from proxy.memory.stores.base import MemoryRecord


def candidate(memory_id: str, score: float, content: str | None = None) -> Candidate:
    return Candidate(MemoryRecord(memory_id, "u", content or f"memory {memory_id}", 0.0), score)


def named(found: Features) -> dict[str, float]:
    return dict(zip(FEATURES, found.values, strict=True))


def test_every_feature_has_a_positive_weight_and_the_neighbour_features_are_named_by_side_and_signal():
    """A negative or missing weight would rank a memory lower for being found: the learner's output is
    pasted by hand, so this is where a slip shows."""
    assert all(WEIGHTS[name] > 0 for name in FEATURES)
    assert set(FEATURES) | {"before_meaning"} >= BESIDE  # before a meaning match: learned to count nothing
    assert "before_meaning" not in WEIGHTS


def test_features_hold_each_signals_place_and_strength():
    lexical = [candidate("k1", 8.0), candidate("both", 2.0)]
    dense = [candidate("both", 0.7), candidate("m1", 0.5)]

    found = {memory_id: named(f) for memory_id, f in features(lexical, dense, query="q").items()}

    assert list(found) == ["k1", "both", "m1"]  # the order found, words first
    assert found["k1"]["words_place"] == 1 / (PLACE_K + 1) and found["k1"]["words_strength"] == 1.0
    assert found["both"]["words_place"] == 1 / (PLACE_K + 2) and found["both"]["words_strength"] == 0.25
    assert found["both"]["meaning_place"] == 1 / (PLACE_K + 1) and found["both"]["meaning_similarity"] == 0.7
    assert found["m1"]["words_place"] == 0.0 and found["m1"]["meaning_similarity"] == 0.5
    assert found["k1"]["length"] == math.log1p(2)  # "memory", "k1"


def test_a_memory_both_signals_found_leads_those_found_by_one_at_the_same_places():
    lexical = [candidate("k1", 9.0), candidate("both", 8.0)]
    dense = [candidate("m1", 0.6), candidate("both", 0.59)]

    fused = fuse(lexical, dense, limit=10)

    assert (fused[0].id, fused[0].signal, fused[0].score) == ("both", "words", 8.0)  # a tie in place: words
    assert {r.id for r in fused[1:]} == {"k1", "m1"}
    assert next(r for r in fused if r.id == "m1").signal == "meaning"


def test_limit_empty_signals_and_stable_ties():
    both = fuse([candidate("k", 1.0)], [candidate("m", 0.5)], limit=2)
    assert [r.id for r in fuse([candidate("k", 1.0)], [candidate("m", 0.5)], limit=1)] == [both[0].id]
    assert [r.id for r in fuse([], [candidate("m", 0.5)], limit=3)] == ["m"]
    assert fuse([], [], limit=3) == []
    assert [r.id for r in fuse([candidate("a", 1.0), candidate("b", 1.0)], [], limit=0)] == []


def test_a_bare_question_counts_by_words_only_when_its_answer_shares_one():
    """Its own words are the question's, asked again: only its answer's words (stems alike) find it."""
    lexical = [
        candidate("asked", 9.0, "user: Where does Mia swim?\nassistant: ok"),
        candidate("answered", 8.0, "user: Where does Mia swim?\nassistant: She swims at the lido."),
        candidate("statement", 7.0, "user: Mia swims at the lido. Where is it?\nassistant: ok"),
        candidate("unanswered", 6.0, "user: Where does Mia swim?\nassistant: "),
        candidate("note", 5.0, "Where does Mia swim?"),
    ]

    kept = [c.record.id for c in answered(lexical, ["mia", "swim"])]

    assert kept == ["answered", "statement", "unanswered", "note"]  # no answer yet: its question counts


def test_the_memories_beside_a_match_hold_its_place_by_side_distance_and_signal():
    lexical = [candidate(name, 9.0 - n) for n, name in enumerate(("asked", "reply", "later", "earlier"))]
    dense = [candidate("meant", 0.6), candidate("reply", 0.4), candidate("before meant", 0.35)]
    neighbours = {
        "asked": (["earlier"], ["reply", "later"]),
        "meant": (["before meant"], ["unfound"]),  # an unfound memory is no candidate
    }

    found = features(lexical, dense, neighbours=neighbours)

    assert named(found["reply"])["after_words"] == 1 / (PLACE_K + 1)
    assert named(found["later"])["two_after_words"] == 1 / (PLACE_K + 1)
    assert named(found["earlier"])["before_words"] == 1 / (PLACE_K + 1)
    assert found["reply"].beside == {("asked", "words")}
    assert "unfound" not in found
    assert named(found["before meant"]) == named(features(lexical, dense)["before meant"])  # counts nothing
    assert not any(named(found["asked"])[name] for name in BESIDE if name in WEIGHTS)


def test_beside_a_match_of_its_own_signal_a_memory_rises_to_just_below_it_never_past():
    """A run of alike memories would otherwise lift each other above a better one."""
    match = Features(_values(words_place=1 / (PLACE_K + 1)))
    alike = Features(
        _values(words_place=1 / (PLACE_K + 3), after_words=1 / (PLACE_K + 1)),
        beside=frozenset({("m", "words")}),
    )

    scored = scores({"m": match, "a": alike})

    own = scores({"a": Features(_values(words_place=1 / (PLACE_K + 3)))})["a"]
    uncapped = scores({"a": Features(alike.values)})["a"]  # no match known to cap it
    assert own < scored["a"] < scored["m"] < uncapped


def test_beside_a_match_of_the_other_signal_a_memory_may_pass_it():
    """The answer after a question shares the question's meaning, not its words: it may pass the words
    match it answers."""
    match = Features(_values(words_place=1 / (PLACE_K + 1)))
    answer = Features(
        _values(meaning_place=1 / (PLACE_K + 2), meaning_similarity=0.4, after_words=1 / (PLACE_K + 1)),
        beside=frozenset({("m", "words")}),
    )

    scored = scores({"m": match, "a": answer})

    assert scored["a"] > scored["m"]
    assert scores({"m": match, "a": Features(answer.values)})["a"] == scored["a"]  # no ceiling applies


@pytest.mark.parametrize("asked", ["When did we go back?", "What did we talk about?"])
def test_a_when_question_counts_the_memories_that_state_a_time_more(asked: str):
    """Asked when, a memory that says when outranks a better match that does not; asked anything else,
    the better match leads."""
    lexical = [
        candidate("talk", 9.0, "we talked about the trip and the trip back"),
        candidate("back", 5.0, "back from the trip yesterday"),
    ]

    fused = [r.id for r in fuse(lexical, [], query=asked, limit=3)]

    assert fused == (["back", "talk"] if asked.startswith("When") else ["talk", "back"])
    assert named(features(lexical, [], query=asked)["back"])["says_when"] == 1.0


def _values(**given: float) -> tuple[float, ...]:
    return tuple(given.get(name, 0.0) for name in FEATURES)
