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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from proxy.memory.stores.base import MemoryRecord

__all__ = ["FUSED_CANDIDATES", "RRF_K", "WORDS_WEIGHT", "Candidate", "fuse"]

RRF_K = 5
"""The rank constant of reciprocal-rank fusion: how much the first places count over the later ones."""

WORDS_WEIGHT = 1.25
"""How much a place in the words list counts against the same place in the meaning list."""

FUSED_CANDIDATES = 20
"""Memories each signal brings to the fusion (at least the limit)."""


@dataclass(frozen=True)
class Candidate:
    """A memory one signal found: its record, and how strongly (bm25 or cosine, higher is better)."""

    record: MemoryRecord
    score: float


def fuse(lexical: Sequence[Candidate], dense: Sequence[Candidate], *, limit: int) -> list[MemoryRecord]:
    """At most ``limit`` memories by reciprocal-rank fusion of the two lists, each once, each marked with
    the signal that ranked it higher (``words`` or ``meaning``; a tie is ``words``) and that signal's
    score. Equal fused scores keep the order they were found in, words first."""
    fused: dict[str, float] = {}
    placed: dict[str, tuple[int, Candidate, str]] = {}
    for signal, weight, found in (("words", WORDS_WEIGHT, lexical), ("meaning", 1.0, dense)):
        for rank, candidate in enumerate(found, start=1):
            memory_id = candidate.record.id
            fused[memory_id] = fused.get(memory_id, 0.0) + weight / (RRF_K + rank)
            if memory_id not in placed or rank < placed[memory_id][0]:
                placed[memory_id] = (rank, candidate, signal)
    order = sorted(fused, key=lambda memory_id: -fused[memory_id])  # stable: words' order first
    return [
        replace(placed[memory_id][1].record, score=placed[memory_id][1].score, signal=placed[memory_id][2])
        for memory_id in order[:limit]
    ]
