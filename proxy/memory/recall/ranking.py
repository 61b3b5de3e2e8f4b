"""How recall ranks what words and meaning each found: one list, neither kind of question losing.

Measured on ~300 memories of one client (``./RUN_TESTS.sh bench memory``): words alone miss a question put
in other words ("What car do I own?" for "I drive a red Volvo"); meaning alone ranks well but can bury an
exact keyword hit; plain reciprocal-rank fusion of the two lost paraphrases. What kept both: the best
lexical hit first (a rare shared word is strong evidence), then the memories closest in meaning, then the
other lexical hits. A meaning match below ``min_similarity`` is no match: every memory has a nearest
neighbour, and an unrelated one must not be injected into every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from proxy.memory.stores.base import MemoryRecord

__all__ = ["Candidate", "fuse"]


@dataclass(frozen=True)
class Candidate:
    """A memory one signal found: its record, and how strongly (bm25 or cosine, higher is better)."""

    record: MemoryRecord
    score: float


def fuse(lexical: Sequence[Candidate], dense: Sequence[Candidate], *, limit: int) -> list[MemoryRecord]:
    """The best lexical hit, then the dense hits best first, then the other lexical hits; each memory
    once, at most ``limit``, each marked with the signal that placed it (``words`` or ``meaning``)."""
    ordered = [
        *((c, "words") for c in lexical[:1]),
        *((c, "meaning") for c in dense),
        *((c, "words") for c in lexical[1:]),
    ]
    seen: set[str] = set()
    fused: list[MemoryRecord] = []
    for candidate, signal in ordered:
        if candidate.record.id in seen:
            continue
        seen.add(candidate.record.id)
        fused.append(replace(candidate.record, score=candidate.score, signal=signal))
        if len(fused) == limit:
            break
    return fused
