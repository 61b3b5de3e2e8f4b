"""How recall ranks what words and meaning each found: one list, by reciprocal-rank fusion.

Each memory scores ``weight / (RRF_K + rank)`` in each list that found it (words: bm25 over the
namespace, weight :data:`WORDS_WEIGHT`; meaning: cosine similarity above ``min_similarity``, weight 1),
summed, best first (reciprocal-rank fusion: Cormack, Clarke and Buettcher, SIGIR 2009). Ranks, not
scores, are added, so neither signal's scale decides, and a memory both found rises above those found by
one. The constant and the weight were chosen on LoCoMo's seven development conversations and the
paraphrase set together (k 5, words 1.25: 61.4% of LoCoMo's questions found at 5 against 59.1% with the
paper's k of 60 and equal weights, and the paraphrase set's 84% kept, which a heavier words weight loses).
The earlier rule (the best word match, then every meaning match, then the other word matches) found
52.0%, below words alone (57.8%): meaning crowded out better word matches (``./RUN_TESTS.sh bench
memory``; docs/benchmarks.md has the figures). A meaning match below ``min_similarity`` is no match:
every memory has a nearest neighbour, and an unrelated one must not be injected into every request.

A memory in which the person only asked a question is found by its answer, by words as by meaning
(:func:`~proxy.memory.turns.said_by_the_user`): its question's words match the same question asked again,
not what answers it. On LoCoMo every question asked is stored, and the earlier ones of the same form took
0.9 of the 5 places; found by their answers, the default finds 62.4% where it found 57.8%.

A memory stored next to a match gains a little (:data:`NEIGHBOUR_WEIGHTS`): a turn often answers the one
before it, so the memory after a match may hold the answer ("How long have you had them?" - "Three
years"), and the one before a word match what it answers.

A question that asks when counts the memories that state a time more (:data:`WHEN_WEIGHT`,
:mod:`proxy.memory.recall.when`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from proxy.memory.recall.lexical import words_of
from proxy.memory.recall.when import tells_when
from proxy.memory.stores.base import MemoryRecord
from proxy.memory.turns import answer_to_a_bare_question

__all__ = [
    "FUSED_CANDIDATES",
    "NEIGHBOUR_DECAY",
    "NEIGHBOUR_REACH",
    "NEIGHBOUR_SOURCES",
    "NEIGHBOUR_WEIGHTS",
    "RRF_K",
    "WHEN_WEIGHT",
    "WORDS_WEIGHT",
    "Candidate",
    "answered",
    "fuse",
    "neighbour_sources",
]

RRF_K = 5
"""The rank constant of reciprocal-rank fusion: how much the first places count over the later ones."""

WORDS_WEIGHT = 1.25
"""How much a place in the words list counts against the same place in the meaning list."""

NEIGHBOUR_WEIGHTS = {("words", "before"): 1.0, ("words", "after"): 1.5, ("meaning", "after"): 1.0}
"""What the memory stored right before or after a match gains, by the match's signal and side: weight /
(:data:`RRF_K` + the match's rank), up to just below the match (never past it). Only a memory words or
meaning found gains: one neither found is not recalled for its neighbour (it shares nothing with the
question). On LoCoMo's turns alone (without the questions) words and meaning find 61.4% at 5; with these
65.6% (the memory after a word match alone, 0.5: 63.7%). Without the ceiling, 0.8/0.5/0.5 found 66.0%,
but four copies of common words lifted each other above the one memory holding the question's rarest
word; the memory before a meaning match costs (all four sides at 0.5: 64.8%)."""

NEIGHBOUR_REACH = {"before": 1, "after": 2}
"""How many memories on each side of a match are its neighbours: an answer may come a turn later still
("Where did you go?" - "Oh, thanks!" - "To Woodhaven")."""

NEIGHBOUR_SOURCES = 10
"""The first matches of each signal whose neighbours are looked up: one further down gains its neighbours
too little to matter (on LoCoMo the first 10 find what all 50 do, 69.6%), and each lookup costs seeks
(0.8 ms a recall for 50 of each, 0.2 ms for 10, on the load benchmark's memories)."""

NEIGHBOUR_DECAY = 0.3
"""What the second memory after a match gains, against the first. On LoCoMo, the memories right beside a
match alone: 67.9%; the second after too, at 0.3: 69.5% (0.5: 69.0%, 0.7: 68.7%). The second before too
found no more (69.4%), and it let a word match lift another two before it over a better match."""

WHEN_WEIGHT = 2.0
"""How many times a memory that states a time counts for a question that asks when
(:mod:`proxy.memory.recall.when`; on LoCoMo 1.5: 67.6%, 2: 67.9%, 3: 67.8%)."""

FUSED_CANDIDATES = 50
"""Memories each signal brings to the fusion (at least the limit). Deeper lists give the memories beside
a match, and a "when" question's memory that states the time, more to rise from: on LoCoMo 20 found
65.5%, 50 found 66.9%. Recall among 10,000 memories took 0.35 ms by words and 4.29 ms with meaning
(0.34 and 3.85 with 20, on another day: ``./RUN_TESTS.sh bench memory``)."""


@dataclass(frozen=True)
class Candidate:
    """A memory one signal found: its record, and how strongly (bm25 or cosine, higher is better)."""

    record: MemoryRecord
    score: float


def fuse(
    lexical: Sequence[Candidate],
    dense: Sequence[Candidate],
    *,
    neighbours: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None,
    asks_when: bool = False,
    limit: int,
) -> list[MemoryRecord]:
    """At most ``limit`` memories by reciprocal-rank fusion of the lists, each once, each marked with the
    signal that ranked it higher (``words`` or ``meaning``; a tie is ``words``) and that signal's score.
    Equal fused scores keep the order they were found in, words first.

    ``neighbours`` maps a match's id to the ids of the memories stored before it and after it, nearest
    first (up to :data:`NEIGHBOUR_REACH` a side): each gains by :data:`NEIGHBOUR_WEIGHTS`, times
    :data:`NEIGHBOUR_DECAY` for each memory further away, if words or meaning found it too.
    ``asks_when`` (the question asks for a time) counts each memory that states one :data:`WHEN_WEIGHT`
    times.
    """
    signals = (("words", WORDS_WEIGHT, lexical), ("meaning", 1.0, dense))
    fused: dict[str, float] = {}
    placed: dict[str, tuple[int, Candidate, str]] = {}
    for signal, weight, found in signals:
        for rank, candidate in enumerate(found, start=1):
            memory_id = candidate.record.id
            fused[memory_id] = fused.get(memory_id, 0.0) + weight / (RRF_K + rank)
            if memory_id not in placed or rank < placed[memory_id][0]:
                placed[memory_id] = (rank, candidate, signal)
    fused = _with_neighbours(fused, signals, neighbours or {})
    if asks_when:
        fused = {
            memory_id: score * WHEN_WEIGHT if tells_when(placed[memory_id][1].record.content) else score
            for memory_id, score in fused.items()
        }
    order = sorted(fused, key=lambda memory_id: -fused[memory_id])  # stable: words' order first
    return [
        replace(placed[memory_id][1].record, score=placed[memory_id][1].score, signal=placed[memory_id][2])
        for memory_id in order[:limit]
    ]


def _with_neighbours(
    fused: dict[str, float],
    signals: Sequence[tuple[str, float, Sequence[Candidate]]],
    neighbours: Mapping[str, tuple[Sequence[str], Sequence[str]]],
) -> dict[str, float]:
    """``fused`` with what each memory gains beside the matches it neighbours: up to just below the best
    of them, never past it. A run of alike memories would otherwise lift each other above a better match
    (four copies of common words over the one memory holding the question's rarest word)."""
    gains: dict[str, float] = {}
    ceilings: dict[str, float] = {}
    for signal, _, found in signals:
        for rank, candidate in enumerate(found, start=1):
            before, after = neighbours.get(candidate.record.id, ((), ()))
            for side, memory_ids in (("before", before), ("after", after)):
                weight = NEIGHBOUR_WEIGHTS.get((signal, side), 0.0)
                for distance, memory_id in enumerate(memory_ids[: NEIGHBOUR_REACH[side]]):
                    if weight and memory_id in fused:
                        gain = weight * NEIGHBOUR_DECAY**distance / (RRF_K + rank)
                        gains[memory_id] = gains.get(memory_id, 0.0) + gain
                        ceiling = fused[candidate.record.id] * (1 - 1e-9)
                        ceilings[memory_id] = max(ceilings.get(memory_id, 0.0), ceiling)
    gained = dict(fused)
    for memory_id, gain in gains.items():
        gained[memory_id] = max(fused[memory_id], min(fused[memory_id] + gain, ceilings[memory_id]))
    return gained


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
