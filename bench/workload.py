"""What the benchmark sends and what the memory stores hold: deterministic, Zipf-distributed text.

Why synthetic text with a Zipf distribution: recall cost in the local store depends on how many memories
a query's words match, and real conversations have a few very common words and a long tail of rare ones.
Pseudo-words drawn by rank (weight 1/rank) reproduce that without shipping a corpus, and a fixed seed
makes every run (and every target within a run) see exactly the same prompts in the same order.

Prompts differ from request to request on purpose: the memory targets store every exchange, and one
repeated prompt would make its own words ever more common, so recall would slow down as the run goes on
for a reason no user sees.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import time
from pathlib import Path

import numpy as np

from proxy.memory.stores.local.store import LocalMemoryStore

__all__ = ["BENCH_USER", "Workload", "count_memories", "seed_local_store", "synthetic_vectors"]

BENCH_USER = "bench-user"
"""The memory namespace every benchmark request names (``x-memory-user-id``)."""

_CONSONANTS = "bcdfghjklmnprstvz"
_VOWELS = "aeiou"


class Workload:
    """A vocabulary, and the memories and prompts drawn from it; the same ``seed`` gives the same text."""

    def __init__(self, *, vocabulary_size: int = 5000, seed: int = 7) -> None:
        rng = random.Random(seed)
        words: set[str] = set()
        while len(words) < vocabulary_size:
            syllables = rng.randint(2, 4)  # at least four letters: never an English stopword
            words.add("".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables)))
        self.vocabulary = sorted(words)
        rng.shuffle(self.vocabulary)
        self._cumulative = list(itertools.accumulate(1.0 / rank for rank in range(1, vocabulary_size + 1)))
        self._seed = seed

    def _words(self, rng: random.Random, count: int) -> list[str]:
        return rng.choices(self.vocabulary, cum_weights=self._cumulative, k=count)

    def memories(self, count: int) -> list[str]:
        """``count`` stored exchanges, shaped as the proxy stores them (``user: …\\nassistant: …``)."""
        rng = random.Random(self._seed + 1)
        found = []
        for _ in range(count):
            w = self._words(rng, 9)
            found.append(
                f"user: the {w[0]} {w[1]} service uses {w[2]} with {w[3]} and {w[4]}\n"
                f"assistant: noted, {w[5]} {w[6]} keeps {w[7]} for {w[8]}"
            )
        return found

    def prompts(self, count: int) -> list[str]:
        """``count`` user messages; each names four vocabulary words, so recall has something to find."""
        rng = random.Random(self._seed + 2)
        found = []
        for _ in range(count):
            w = self._words(rng, 4)
            found.append(f"What did we decide about {w[0]} {w[1]} and {w[2]} for the {w[3]} service?")
        return found


async def seed_local_store(path: Path, memories: list[str], user_id: str = BENCH_USER) -> float:
    """Store ``memories`` for ``user_id`` in a new local store file, in one transaction; returns the seconds
    it took (ten thousand single ``add`` calls, one transaction each, take ~8 s on the 2-core machine)."""
    started = time.perf_counter()
    store = LocalMemoryStore(path)
    try:
        await store.add_many(user_id, memories, metadata=_SEED_METADATA, embed=False)
    finally:
        await store.close()
    return time.perf_counter() - started


_SEED_METADATA = {"source": "bench-seed"}


def synthetic_vectors(path: Path, model: str, dimensions: int) -> None:
    """Random unit vectors, stored under ``model``, for every memory in ``path`` still without one.

    Recall by meaning costs the same whatever the vectors hold (one product with every vector), so a
    benchmark of its cost can skip embedding tens of thousands of memories (minutes here); what such a
    store recalls by meaning is meaningless, and no benchmark measures quality on it.
    """
    rng = np.random.default_rng(7)
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(
            "SELECT m.rowid FROM memories AS m LEFT JOIN vectors AS v ON v.rowid = m.rowid "
            "WHERE v.rowid IS NULL"
        ).fetchall()
        seq = conn.execute("SELECT coalesce(max(seq), 0) FROM vectors").fetchone()[0]
        vectors = rng.standard_normal((len(rows), dimensions)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        conn.executemany(
            "INSERT INTO vectors (rowid, model, seq, vector) VALUES (?, ?, ?, ?)",
            [(row[0], model, seq + i + 1, vectors[i].tobytes()) for i, row in enumerate(rows)],
        )
        conn.execute("COMMIT")


async def count_memories(path: Path, user_id: str = BENCH_USER) -> int:
    """How many memories ``user_id`` has in the store at ``path`` (seeded plus written back by the run)."""
    store = LocalMemoryStore(path)
    try:
        return next((client.memories for client in await store.users() if client.user_id == user_id), 0)
    finally:
        await store.close()
