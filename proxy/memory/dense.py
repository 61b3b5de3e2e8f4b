"""Recall by meaning: a client's memory vectors held in one numpy matrix, searched by cosine similarity.

Why brute force: a client has thousands of memories, rarely a hundred thousand, and one matrix-vector
product over all of them (0.5 ms at 10,000, ~5 ms at 100,000 on one core) is exact and simpler than any
approximate index. The vectors live in the SQLite file (:mod:`proxy.memory.local_schema`); this cache keeps
each client's matrix in the process and brings it up to date cheaply before each search: vectors written
since (by this process or another on the same file) are appended, and a forgotten or changed memory,
which the client's ``removed`` counter records, makes it load the matrix anew.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DenseIndex", "VectorCache"]


@dataclass
class DenseIndex:
    """One client's vectors: memory rowids and their unit vectors, row for row."""

    rowids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    seq: int = 0
    """The highest vector sequence number this index holds."""
    removed: int = -1
    """The client's ``removed`` counter when the matrix was loaded."""

    def nearest(self, query: np.ndarray, *, limit: int, min_similarity: float) -> list[tuple[int, float]]:
        """The rowids of the ``limit`` vectors most similar to ``query``, at least ``min_similarity``."""
        if not len(self.rowids) or limit <= 0:
            return []
        scores = self.vectors @ query
        count = min(limit, len(scores))
        best = np.argpartition(-scores, count - 1)[:count]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(self.rowids[i]), float(scores[i])) for i in best if scores[i] >= min_similarity]


class VectorCache:
    """Every client's :class:`DenseIndex` in this process, for one model (thread-safe)."""

    def __init__(self, model: str, dimensions: int) -> None:
        self.model = model
        self.dimensions = dimensions
        self._indexes: dict[str, DenseIndex] = {}
        self._lock = threading.Lock()

    def current(self, conn: sqlite3.Connection, user_id: str, removed: int) -> DenseIndex:
        """The client's index, brought up to date from ``conn`` (a read connection inside one snapshot)."""
        with self._lock:
            index = self._indexes.get(user_id)
        if index is None or index.removed != removed:
            index = DenseIndex(vectors=np.zeros((0, self.dimensions), dtype=np.float32), removed=removed)
        # CROSS JOIN keeps the vectors' sequence index as the outer loop: checking for new vectors costs
        # nothing when there are none (walking the client's memories instead cost 25 ms at 100,000).
        rows = conn.execute(
            "SELECT v.rowid, v.seq, v.vector FROM vectors AS v CROSS JOIN memories AS m ON m.rowid = v.rowid "
            "WHERE v.seq > ? AND v.model = ? AND m.user_id = ? ORDER BY v.seq",
            (index.seq, self.model, user_id),
        ).fetchall()
        if rows:
            added = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.float32)
            index = DenseIndex(
                rowids=np.concatenate([index.rowids, np.array([row[0] for row in rows], dtype=np.int64)]),
                vectors=np.concatenate([index.vectors, added.reshape(len(rows), self.dimensions)]),
                seq=rows[-1][1],
                removed=removed,
            )
        with self._lock:
            self._indexes[user_id] = index
        return index
