"""Fusing what words and meaning found: the best lexical hit first, then meaning, then the rest."""

from __future__ import annotations

from proxy.memory.recall.ranking import Candidate, fuse
from proxy.memory.stores.base import MemoryRecord


def candidate(memory_id: str, score: float) -> Candidate:
    return Candidate(MemoryRecord(memory_id, "u", f"memory {memory_id}", 0.0), score)


def test_the_best_keyword_hit_leads_then_meaning_then_the_other_keyword_hits():
    lexical = [candidate("k1", 9.0), candidate("k2", 5.0), candidate("both", 4.0)]
    dense = [candidate("m1", 0.8), candidate("both", 0.7)]
    fused = fuse(lexical, dense, limit=10)
    assert [(r.id, r.signal, r.score) for r in fused] == [
        ("k1", "words", 9.0),
        ("m1", "meaning", 0.8),
        ("both", "meaning", 0.7),
        ("k2", "words", 5.0),
    ]


def test_limit_and_empty_signals():
    assert [r.id for r in fuse([candidate("k", 1.0)], [candidate("m", 0.5)], limit=1)] == ["k"]
    assert [r.id for r in fuse([], [candidate("m", 0.5)], limit=3)] == ["m"]
    assert fuse([], [], limit=3) == []
