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

A memory stored right after a word match gains a little (:data:`NEIGHBOUR_WEIGHT`): a turn often answers
the one before it, and that one holds the question's words ("How long have you had them?" - "Three
years"). Through the proxy the default then finds 64.5%, words alone 60.7% (57.8% without).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from proxy.memory.recall.lexical import words_of
from proxy.memory.stores.base import MemoryRecord
from proxy.memory.turns import answer_to_a_bare_question

__all__ = [
    "FUSED_CANDIDATES",
    "NEIGHBOUR_WEIGHT",
    "RRF_K",
    "WORDS_WEIGHT",
    "Candidate",
    "answered",
    "fuse",
]

RRF_K = 5
"""The rank constant of reciprocal-rank fusion: how much the first places count over the later ones."""

WORDS_WEIGHT = 1.25
"""How much a place in the words list counts against the same place in the meaning list."""

NEIGHBOUR_WEIGHT = 0.5
"""How much a place among the memories stored right after a word match adds to a memory found. On
LoCoMo's turns (without the questions) words and meaning find 61.4% at 5; with this 63.4% (0.8: 63.9%,
1.0: 63.1%, 1.5: 59.5%). Recalling the neighbours neither signal found would find 64.3%, by putting
memories that share nothing with the question into requests; the memory after a meaning match cost 2
points."""

FUSED_CANDIDATES = 20
"""Memories each signal brings to the fusion (at least the limit)."""


@dataclass(frozen=True)
class Candidate:
    """A memory one signal found: its record, and how strongly (bm25 or cosine, higher is better)."""

    record: MemoryRecord
    score: float


def fuse(
    lexical: Sequence[Candidate],
    dense: Sequence[Candidate],
    *,
    following: Sequence[str] = (),
    limit: int,
) -> list[MemoryRecord]:
    """At most ``limit`` memories by reciprocal-rank fusion of the lists, each once, each marked with the
    signal that ranked it higher (``words`` or ``meaning``; a tie is ``words``) and that signal's score.
    Equal fused scores keep the order they were found in, words first.

    ``following`` holds the id of the memory stored right after each word match, in the matches' order: a turn
    often answers the one before it, which holds the question's words. Its place adds
    :data:`NEIGHBOUR_WEIGHT` to a memory words or meaning found too; one neither found is not recalled for
    it (it would put a memory unrelated to the question into the request).
    """
    fused: dict[str, float] = {}
    placed: dict[str, tuple[int, Candidate, str]] = {}
    for signal, weight, found in (("words", WORDS_WEIGHT, lexical), ("meaning", 1.0, dense)):
        for rank, candidate in enumerate(found, start=1):
            memory_id = candidate.record.id
            fused[memory_id] = fused.get(memory_id, 0.0) + weight / (RRF_K + rank)
            if memory_id not in placed or rank < placed[memory_id][0]:
                placed[memory_id] = (rank, candidate, signal)
    for rank, memory_id in enumerate(following, start=1):
        if memory_id in fused:
            fused[memory_id] += NEIGHBOUR_WEIGHT / (RRF_K + rank)
    order = sorted(fused, key=lambda memory_id: -fused[memory_id])  # stable: words' order first
    return [
        replace(placed[memory_id][1].record, score=placed[memory_id][1].score, signal=placed[memory_id][2])
        for memory_id in order[:limit]
    ]


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
