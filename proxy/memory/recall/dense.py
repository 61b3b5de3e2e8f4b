"""Recall by meaning: a client's memory vectors held in one numpy matrix, searched by cosine similarity.

Why brute force: a client has thousands of memories, rarely a hundred thousand, and one matrix-vector
product over all of them (0.5 ms at 10,000, ~5 ms at 100,000 on one core) is exact and simpler than any
approximate index. The vectors live in the SQLite file (:mod:`proxy.memory.stores.local.schema`); this cache
keeps each client's matrix in the process and brings it up to date cheaply before each search: vectors written
since (by this process or another on the same file) are appended in place (the matrix grows by doubling, so
a write-back never copies it), and a forgotten or changed memory, which the client's ``removed`` counter
records, makes it load the matrix anew.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["DenseIndex", "VectorCache"]


@dataclass(frozen=True)
class DenseIndex:
    """A snapshot of one client's vectors: memory rowids and their unit vectors, row for row."""

    rowids: np.ndarray
    vectors: np.ndarray

    def nearest(self, query: np.ndarray, *, limit: int, min_similarity: float) -> list[tuple[int, float]]:
        """The rowids of the ``limit`` vectors most similar to ``query``, at least ``min_similarity``."""
        if not len(self.rowids) or limit <= 0:
            return []
        scores = self.vectors @ query
        count = min(limit, len(scores))
        best = np.argpartition(-scores, count - 1)[:count]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(self.rowids[i]), float(scores[i])) for i in best if scores[i] >= min_similarity]


class _Matrix:
    """A client's growing matrix: rows ``[:count]`` are filled; appending never moves them for readers."""

    def __init__(self, dimensions: int, removed: int) -> None:
        self.rowids = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, dimensions), dtype=np.float32)
        self.count = 0
        self.seq = 0
        self.removed = removed

    def append(self, rowids: np.ndarray, vectors: np.ndarray, seq: int) -> None:
        needed = self.count + len(rowids)
        if needed > len(self.rowids):
            capacity = max(needed, 2 * len(self.rowids), 64)
            grown_ids = np.zeros(capacity, dtype=np.int64)
            grown = np.zeros((capacity, self.vectors.shape[1]), dtype=np.float32)
            grown_ids[: self.count] = self.rowids[: self.count]
            grown[: self.count] = self.vectors[: self.count]
            self.rowids, self.vectors = grown_ids, grown
        self.rowids[self.count : needed] = rowids
        self.vectors[self.count : needed] = vectors
        self.count, self.seq = needed, seq

    def snapshot(self) -> DenseIndex:
        return DenseIndex(self.rowids[: self.count], self.vectors[: self.count])


class VectorCache:
    """Every client's vectors in this process, for one model (thread-safe)."""

    def __init__(self, model: str, dimensions: int) -> None:
        self.model = model
        self.dimensions = dimensions
        self._matrices: dict[str, _Matrix] = {}
        self._lock = threading.Lock()

    def current(self, conn: sqlite3.Connection, user_id: str, removed: int) -> DenseIndex:
        """The client's vectors, brought up to date from ``conn`` (a read connection in one snapshot)."""
        with self._lock:
            matrix = self._matrices.get(user_id)
            if matrix is None or matrix.removed != removed:
                matrix = self._matrices[user_id] = _Matrix(self.dimensions, removed)
            # CROSS JOIN keeps the vectors' sequence index as the outer loop: checking for new vectors costs
            # nothing when there are none (walking the client's memories instead cost 25 ms at 100,000).
            rows = conn.execute(
                "SELECT v.rowid, v.seq, v.vector FROM vectors AS v CROSS JOIN memories AS m "
                "ON m.rowid = v.rowid WHERE v.seq > ? AND v.model = ? AND m.user_id = ? ORDER BY v.seq",
                (matrix.seq, self.model, user_id),
            ).fetchall()
            if rows:
                added = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.float32)
                matrix.append(
                    np.array([row[0] for row in rows], dtype=np.int64),
                    added.reshape(len(rows), self.dimensions),
                    rows[-1][1],
                )
            return matrix.snapshot()
