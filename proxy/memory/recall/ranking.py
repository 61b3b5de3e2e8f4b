"""How recall ranks what words and meaning each found: one list, by weighing each candidate's features.

Words (bm25 over the namespace) and meaning (cosine similarity above ``min_similarity``) each bring up to
:data:`FUSED_CANDIDATES` memories. Each memory either found has :func:`features`: its place in each list
(``1 / (PLACE_K + rank)``, as in reciprocal-rank fusion: Cormack, Clarke and Buettcher, SIGIR 2009), how
strongly each found it, whether it is stored right before or after a match or two away (a turn often
answers the one before it: "How long have you had them?" - "Three years"), whether it states a time when
the question asks when (:mod:`proxy.memory.recall.when`), and its length (a statement over "Thanks!").
Its score is the :data:`WEIGHTS` over them, summed (:func:`scores`), and the best are recalled.

The weights are learned, not set by hand: ``./RUN_TESTS.sh bench ranking_weights --locomo DIR`` tells LoCoMo's
development conversations to the proxy, keeps each question's candidates and which of them are its
evidence, fits a pairwise logistic regression (each evidence memory against every other candidate of its
question), and adjusts the result so that questions in other words are found as before. On the seven
conversations the weights find 72.2% of the questions' evidence among the first 5 (72.0% with each
conversation ranked by the weights learned on the other six; through the proxy, ``./RUN_TESTS.sh bench
memory``: 72.2%). Reciprocal-rank fusion with hand-set neighbour and "when" weights (0.12.0) found 69.5%;
the earlier rule (the best word match, then every meaning match, then the other word matches) 52.0%,
below words alone: meaning crowded out better word matches. docs/benchmarks.md has the figures.

A meaning match below ``min_similarity`` is no match: every memory has a nearest neighbour, and an
unrelated one must not be injected into every request.

What a memory gains beside a match of a signal that found it too lifts it only to just below that match: a
run of alike memories, each beside the others, would otherwise lift each other above the one memory
holding the question's rarest word. Beside a match of the other signal it may pass the match.

A memory in which the person only asked a question is found by its answer, by words as by meaning
(:func:`answered`, :func:`~proxy.memory.turns.said_by_the_user`): its question's words match the same
question asked again, not what answers it. On LoCoMo every question asked is stored, and the earlier ones
of the same form took 0.9 of the 5 places; found by their answers, the default found 62.4% where it found
57.8% (0.11.0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from proxy.memory.recall.lexical import words_of
from proxy.memory.recall.when import asks_when, tells_when
from proxy.memory.stores.base import MemoryRecord
from proxy.memory.turns import answer_to_a_bare_question

__all__ = [
    "BESIDE",
    "FEATURES",
    "FUSED_CANDIDATES",
    "NEIGHBOUR_REACH",
    "NEIGHBOUR_SOURCES",
    "PLACE_K",
    "WEIGHTS",
    "Candidate",
    "Features",
    "answered",
    "features",
    "fuse",
    "neighbour_sources",
    "scores",
]

PLACE_K = 5
"""What a place in a signal's list is worth: ``1 / (PLACE_K + rank)``, so the first places count most (the
constant of reciprocal-rank fusion, Cormack, Clarke and Buettcher, SIGIR 2009; 5 found the most with
0.9.0's fusion, and the weights are learned on places so measured)."""

NEIGHBOUR_REACH = {"before": 2, "after": 2}
"""How many memories on each side of a match are its neighbours: a turn often answers the one before it,
and an answer may come a turn later still ("Where did you go?" - "Oh, thanks!" - "To Woodhaven")."""

NEIGHBOUR_SOURCES = 10
"""The first matches of each signal whose neighbours count: one further down adds too little to matter (on
LoCoMo the first 10 find what all 50 do), and each lookup costs seeks (0.8 ms a recall for 50 of each,
0.2 ms for 10, on the load benchmark's memories)."""

FUSED_CANDIDATES = 50
"""Memories each signal brings to the ranking (at least the limit). Deeper lists give the memories beside
a match, and a "when" question's memory that states the time, more to rise from: on LoCoMo 20 found
65.5%, 50 found 66.9% (0.12.0's fusion). Recall among 10,000 memories takes 0.38 ms by words and 4.08 ms
with meaning (0.34 and 3.85 with 20, on another day: ``./RUN_TESTS.sh bench memory``)."""

WEIGHTS: Mapping[str, float] = {
    "words_place": 13.0,
    "words_strength": 0.539,
    "meaning_place": 13.0,
    "meaning_similarity": 1.33,
    "two_before_words": 5.93,
    "before_words": 9.06,
    "after_words": 12.9,
    "two_after_words": 12.0,
    "two_before_meaning": 7.71,
    "after_meaning": 4.05,
    "two_after_meaning": 7.33,
    "says_when_asked_when": 1.34,
    "says_when": 0.65,
    "length": 1.03,
}
"""How much each of a candidate's features (:func:`features`) counts in its score, their sum. Learned by
``bench/ranking_weights.py`` on LoCoMo's development conversations (pairwise logistic regression over the
candidates the proxy ranked: each evidence memory against each other candidate of its question), then
adjusted so that questions in other words are found as before (:func:`bench.ranking_weights.adjusted`:
meaning's places count as words' do, a word match's strength and a memory's length half). Before a meaning
match is no feature: learned, it counted nothing."""

FEATURES = tuple(WEIGHTS)
"""The features of a candidate, in :data:`WEIGHTS`' order."""

BESIDE = frozenset(
    f"{distance}{side}_{signal}"
    for distance in ("", "two_")
    for side in ("before", "after")
    for signal in ("words", "meaning")
)
"""The features a memory has for being stored beside a match, by side, distance and the match's signal;
beside a match of a signal that found it too, what they add lifts it only to just below the match
(:func:`scores`)."""


_ZEROS = (0.0,) * len(FEATURES)
_SIGNALS = {"words": 0, "meaning": 1}
_PLACES = (FEATURES.index("words_place"), FEATURES.index("meaning_place"))
_GROUPS = (
    tuple(n for n, name in enumerate(FEATURES) if name not in BESIDE),
    *(
        tuple(n for n, name in enumerate(FEATURES) if name in BESIDE and name.endswith(f"_{signal}"))
        for signal in _SIGNALS
    ),
)
"""The indexes of a memory's own features, then of those it has beside words' matches and meaning's."""


@dataclass(frozen=True)
class Candidate:
    """A memory one signal found: its record, and how strongly (bm25 or cosine, higher is better)."""

    record: MemoryRecord
    score: float


@dataclass(frozen=True)
class Features:
    """What ranks one candidate: its features (in :data:`FEATURES`' order), and the matches it is stored
    beside, whose places its :data:`BESIDE` features hold."""

    values: tuple[float, ...]
    beside: frozenset[tuple[str, str]] = frozenset()
    """(the match's id, the signal that found it)."""


def fuse(
    lexical: Sequence[Candidate],
    dense: Sequence[Candidate],
    *,
    query: str = "",
    neighbours: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None,
    limit: int,
) -> list[MemoryRecord]:
    """At most ``limit`` of the memories words or meaning found, best first by their :func:`scores`, each
    once, each marked with the signal that ranked it higher (``words`` or ``meaning``; a tie is
    ``words``) and that signal's score. Equal scores keep the order they were found in, words first."""
    scored = scores(features(lexical, dense, query=query, neighbours=neighbours))
    placed: dict[str, tuple[int, Candidate, str]] = {}
    for signal, candidates in (("words", lexical), ("meaning", dense)):
        for rank, candidate in enumerate(candidates, start=1):
            if candidate.record.id not in placed or rank < placed[candidate.record.id][0]:
                placed[candidate.record.id] = (rank, candidate, signal)
    order = sorted(scored, key=lambda memory_id: -scored[memory_id])  # stable: words' order first
    return [
        replace(placed[memory_id][1].record, score=placed[memory_id][1].score, signal=placed[memory_id][2])
        for memory_id in order[:limit]
    ]


def scores(found: Mapping[str, Features], weights: Mapping[str, float] = WEIGHTS) -> dict[str, float]:
    """Each candidate's score: ``weights`` over its features, summed. What it gains beside the matches of
    a signal that found it too lifts it at most to just below the best of those matches: a run of alike
    memories, each beside the others, would otherwise lift each other above the one memory holding the
    question's rarest word. Beside a match of the other signal it may pass the match: the answer after a
    question shares the question's meaning, not its words."""
    weight = [weights.get(name, 0.0) for name in FEATURES]
    parts = {
        memory_id: [sum(weight[n] * candidate.values[n] for n in group) for group in _GROUPS]
        for memory_id, candidate in found.items()
    }
    result: dict[str, float] = {}
    for memory_id, candidate in found.items():
        own, *gains = parts[memory_id]
        alike = [candidate.values[place] > 0 for place in _PLACES]  # found by words, by meaning
        score = own + sum(gain for gain, same in zip(gains, alike, strict=True) if not same)
        capped = sum(gain for gain, same in zip(gains, alike, strict=True) if same)
        matches = [
            parts[match][0]
            for match, signal in candidate.beside
            if match in parts and alike[_SIGNALS[signal]]
        ]
        if capped > 0 and matches:
            score = max(score, min(score + capped, max(matches) * (1 - 1e-9)))
        else:
            score += capped
        result[memory_id] = score
    return result


def features(
    lexical: Sequence[Candidate],
    dense: Sequence[Candidate],
    *,
    query: str = "",
    neighbours: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None,
) -> dict[str, Features]:
    """Each memory words or meaning found, by id in the order found (words first), with its features in
    :data:`FEATURES`' order:

    - ``words_place`` / ``meaning_place``: its place in each signal's list (``1 / (PLACE_K + rank)``, 0 if
      that signal did not find it); ``words_strength``: its bm25 over the best one's; ``meaning_similarity``:
      its cosine to the question.
    - ``before_words`` ... ``two_after_meaning``: the place of the best match it is stored right before, two
      before, right after or two after (``neighbours``: a match's id to the ids stored before it and after
      it, nearest first), among the first :data:`NEIGHBOUR_SOURCES` of each signal. A turn often answers
      the one before it. Only a memory that words or meaning found is a candidate: one that shares nothing
      with the question is not recalled for its neighbour.
    - ``says_when_asked_when``: it states a time and ``query`` asks when; ``says_when``: it states a time
      (:mod:`proxy.memory.recall.when`).
    - ``length``: the log of its number of distinct words (a statement over "Thanks!").
    """
    places: dict[str, dict[str, float]] = {}
    for signal, candidates in (("words", lexical), ("meaning", dense)):
        best = candidates[0].score if candidates and candidates[0].score > 0 else 1.0
        for rank, candidate in enumerate(candidates, start=1):
            place = places.setdefault(candidate.record.id, {})
            place.setdefault(f"{signal}_place", 1 / (PLACE_K + rank))
            place.setdefault(
                "words_strength" if signal == "words" else "meaning_similarity",
                candidate.score / best if signal == "words" else candidate.score,
            )
    beside: dict[str, set[tuple[str, str]]] = {}
    for signal, candidates in (("words", lexical), ("meaning", dense)):
        for rank, candidate in enumerate(candidates[:NEIGHBOUR_SOURCES], start=1):
            before, after = (neighbours or {}).get(candidate.record.id, ((), ()))
            for side, memory_ids in (("before", before), ("after", after)):
                for distance, memory_id in enumerate(memory_ids[: NEIGHBOUR_REACH[side]]):
                    name = f"{'two_' if distance else ''}{side}_{signal}"
                    if memory_id in places and name in WEIGHTS:
                        place = places[memory_id]
                        place[name] = max(place.get(name, 0.0), 1 / (PLACE_K + rank))
                        beside.setdefault(memory_id, set()).add((candidate.record.id, signal))
    asked_when = asks_when(query)
    records = {candidate.record.id: candidate.record for candidate in (*lexical, *dense)}
    found: dict[str, Features] = {}
    for memory_id, place in places.items():
        words = {word.lower() for word in words_of(records[memory_id].content)}
        says_when = tells_when(records[memory_id].content, words)
        place["says_when_asked_when"] = float(says_when and asked_when)
        place["says_when"] = float(says_when)
        place["length"] = math.log1p(len(words))
        values = tuple(map(place.get, FEATURES, _ZEROS))
        found[memory_id] = Features(values, frozenset(beside.get(memory_id, ())))
    return found


def neighbour_sources(lexical: Sequence[Candidate], dense: Sequence[Candidate]) -> list[Candidate]:
    """The matches whose neighbours a store looks up for :func:`fuse`: the first
    :data:`NEIGHBOUR_SOURCES` of each signal."""
    return [*lexical[:NEIGHBOUR_SOURCES], *dense[:NEIGHBOUR_SOURCES]]


def answered(lexical: Sequence[Candidate], terms: Sequence[str]) -> list[Candidate]:
    """The memories words found by ``terms``, less the bare questions whose answer holds none of them
    (:func:`_answered_with`): what the stores fuse, and whose neighbours they look up."""
    return [candidate for candidate in lexical if _answered_with(candidate.record.content, terms)]


def _answered_with(content: str, terms: Sequence[str]) -> bool:
    """Whether a memory found by ``terms`` is found by what it holds: any memory but a bare question, and
    a bare question whose answer holds one of the terms, stems alike (:func:`_same_stem`)."""
    answer = answer_to_a_bare_question(content)
    if answer is None:
        return True
    words = {word.lower() for word in words_of(answer)}
    return any(_same_stem(term, word) for term in terms for word in words)


def _same_stem(term: str, word: str) -> bool:
    """Whether two words are one word's forms as far as a stemmer would tell: equal, or sharing all but
    the last two letters of the shorter and at least three (``swim``/``swims``, ``configure``/
    ``configuration``). The stores stem with their own rules; this only has to keep what they found."""
    if term == word:
        return True
    shortest = min(len(term), len(word))
    shared = next((n for n in range(shortest) if term[n] != word[n]), shortest)
    return shared >= 3 and shared >= shortest - 2
