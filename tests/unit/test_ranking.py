"""Fusing what words and meaning found: reciprocal-rank fusion, a memory both found first."""

from __future__ import annotations

from proxy.memory.recall.ranking import RRF_K, WORDS_WEIGHT, Candidate, answered, fuse
from proxy.memory.stores.base import MemoryRecord


def candidate(memory_id: str, score: float, content: str | None = None) -> Candidate:
    return Candidate(MemoryRecord(memory_id, "u", content or f"memory {memory_id}", 0.0), score)


def test_a_memory_both_signals_found_leads_then_each_signals_best_words_first():
    lexical = [candidate("k1", 9.0), candidate("k2", 5.0), candidate("both", 4.0)]
    dense = [candidate("m1", 0.8), candidate("both", 0.7)]
    fused = fuse(lexical, dense, limit=10)
    assert [(r.id, r.signal, r.score) for r in fused] == [
        ("both", "meaning", 0.7),  # 1.5/(k+3) + 1/(k+2): found by both; meaning ranked it higher
        ("k1", "words", 9.0),  # 1.5/(k+1)
        ("k2", "words", 5.0),  # 1.5/(k+2): a word match's place counts more than meaning's
        ("m1", "meaning", 0.8),  # 1/(k+1)
    ]


def test_ranks_not_scores_decide():
    """A huge bm25 does not outweigh meaning's first place: each list counts by rank only."""
    lexical = [candidate("k1", 1000.0), candidate("k2", 999.0)]
    dense = [candidate("m1", 0.36), candidate("k2", 0.35)]
    assert [r.id for r in fuse(lexical, dense, limit=3)] == ["k2", "k1", "m1"]
    assert (WORDS_WEIGHT + 1) / (RRF_K + 2) > WORDS_WEIGHT / (RRF_K + 1)  # second in both beats first in one


def test_limit_and_empty_signals():
    assert [r.id for r in fuse([candidate("k", 1.0)], [candidate("m", 0.5)], limit=1)] == ["k"]
    assert [r.id for r in fuse([], [candidate("m", 0.5)], limit=3)] == ["m"]
    assert fuse([], [], limit=3) == []


def test_a_bare_question_counts_by_words_only_when_its_answer_shares_one():
    """Its own words are the question's, asked again: only its answer's words (stems alike) find it."""
    lexical = [
        candidate("asked", 9.0, "user: Where does Mia swim?\nassistant: ok"),
        candidate("answered", 8.0, "user: Where does Mia swim?\nassistant: She swims at the lido."),
        candidate("statement", 7.0, "user: Mia swims at the lido. Where is it?\nassistant: ok"),
        candidate("unanswered", 6.0, "user: Where does Mia swim?\nassistant: "),
        candidate("note", 5.0, "Where does Mia swim?"),
    ]
    dense = [candidate("asked", 0.4, "user: Where does Mia swim?\nassistant: ok")]

    fused = fuse(answered(lexical, ["mia", "swim"]), dense, limit=10)

    # "asked" keeps meaning's first place (its answer's vector) but not words' first: before "unanswered"
    # (words' third), after the two that words found next.
    assert [r.id for r in fused] == ["answered", "statement", "asked", "unanswered", "note"]
    assert fused[2].signal == "meaning"


def test_a_matchs_neighbours_rise_toward_it_if_found_and_are_not_recalled_otherwise():
    """The memories stored beside a match gain by its place (after a word match most, before it and after a
    meaning match less, before a meaning match nothing) up to just below the match, never past it. One
    that neither signal found is not recalled for it."""
    lexical = [candidate(name, 9.0 - n) for n, name in enumerate(("asked", "other", "reply", "ask"))]
    dense = [candidate(name, 0.6 - n / 10) for n, name in enumerate(("meant", "low", "after meant", "b"))]
    neighbours = {
        "asked": (["unrelated"], ["reply"]),  # reply rises to just below asked
        "other": (["ask"], []),  # ask: 1.25/(k+4) + 1.0/(k+2), below other
        "meant": (["b"], ["after meant"]),  # after meant: 1/(k+3) + 1.0/(k+1), capped below meant; b: nothing
    }

    fused = fuse(lexical, dense, neighbours=neighbours, limit=10)

    assert [r.id for r in fuse(lexical, dense, limit=10)] == [
        "asked", "other", "meant", "reply", "low", "ask", "after meant", "b"
    ]  # fmt: skip
    assert [r.id for r in fused] == ["asked", "reply", "other", "ask", "meant", "after meant", "low", "b"]


def test_a_neighbour_further_from_the_match_gains_less():
    """The second memory after a match gains, less than the first: b passes a, which words ranked above it,
    but not c, right after the match, which words ranked below it."""
    lexical = [candidate(name, 9.0 - n) for n, name in enumerate(("match", "a", "b", "c"))]
    dense = [candidate("match", 0.9)]  # so that the match's ceiling is above what b gains
    neighbours = {"match": ([], ["c", "b"])}  # c right after the match, then b

    fused = [r.id for r in fuse(lexical, dense, neighbours=neighbours, limit=10)]

    assert fused == ["match", "c", "b", "a"]


def test_a_when_question_counts_the_memories_that_state_a_time_more():
    """Asked when, a memory that says when outranks a better match that does not; asked anything else,
    or for a memory no signal found, nothing changes."""
    lexical = [
        candidate("talk", 9.0, "we talked about the trip"),
        candidate("back", 5.0, "back from the trip yesterday"),
    ]
    dense = [candidate("idea", 0.5, "a trip to the coast would be nice")]
    assert [r.id for r in fuse(lexical, dense, limit=3)] == ["talk", "back", "idea"]
    assert [r.id for r in fuse(lexical, dense, asks_when=True, limit=3)] == ["back", "talk", "idea"]
    assert fuse(lexical[:1], [], asks_when=True, limit=3)[0].id == "talk"
