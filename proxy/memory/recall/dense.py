"""Recall by meaning: a client's memory vectors held in one numpy matrix, searched by cosine similarity.

Why brute force: a client has thousands of memories, rarely a hundred thousand, and one matrix-vector
product over all of them (0.5 ms at 10,000, ~5 ms at 100,000 on one core) is exact and simpler than any
approximate index. The vectors live in the SQLite file (:mod:`proxy.memory.stores.local.schema`); this cache
keeps recently searched clients' matrices in the process and brings one up to date cheaply before each
search: vectors written since (by this process or another on the same file) are appended in place (the
matrix grows by doubling, so a write-back never copies it), and a forgotten or changed memory, which the
client's ``removed`` counter records, makes it load the matrix anew.

The cache is bounded in bytes (:data:`CACHE_BYTES`), least recently searched first out: with projects a
machine has thousands of clients, and a matrix kept for each for good grew a proxy by hundreds of MB.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

__all__ = ["CACHE_BYTES", "DenseIndex", "VectorCache"]

CACHE_BYTES = 256 * 1024 * 1024
"""Vectors kept in a process by default: ~170,000 memories of a 384-dimension model."""

RELOAD_AFTER = 4096
"""Vectors written elsewhere since a matrix was last brought up to date past which it is read anew from
its client's own rows: walking everything written since would cost more."""


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

    def append(self, rowids: np.ndarray, vectors: np.ndarray) -> None:
        needed = self.count + len(rowids)
        if needed > len(self.rowids):
            capacity = max(needed, 2 * len(self.rowids)) if self.count else needed  # loaded: exact
            grown_ids = np.zeros(capacity, dtype=np.int64)
            grown = np.zeros((capacity, self.vectors.shape[1]), dtype=np.float32)
            grown_ids[: self.count] = self.rowids[: self.count]
            grown[: self.count] = self.vectors[: self.count]
            self.rowids, self.vectors = grown_ids, grown
        self.rowids[self.count : needed] = rowids
        self.vectors[self.count : needed] = vectors
        self.count = needed

    def snapshot(self) -> DenseIndex:
        return DenseIndex(self.rowids[: self.count], self.vectors[: self.count])

    @property
    def nbytes(self) -> int:
        return self.rowids.nbytes + self.vectors.nbytes


class VectorCache:
    """Recently searched clients' vectors in this process, for one model, at most ``max_bytes`` of them
    (thread-safe)."""

    def __init__(self, model: str, dimensions: int, *, max_bytes: int = CACHE_BYTES) -> None:
        self.model = model
        self.dimensions = dimensions
        self.max_bytes = max_bytes
        self._matrices: OrderedDict[str, _Matrix] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """The bytes the cached matrices take."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._matrices)

    def current(self, conn: sqlite3.Connection, user_id: str, removed: int) -> DenseIndex:
        """The client's vectors, brought up to date from ``conn`` (a read connection in one snapshot)."""
        with self._lock:
            matrix = self._matrices.pop(user_id, None)
            if matrix is not None:
                self._bytes -= matrix.nbytes
            latest = conn.execute("SELECT coalesce(max(seq), 0) FROM vectors").fetchone()[0]
            if matrix is None or matrix.removed != removed or latest - matrix.seq > RELOAD_AFTER:
                matrix = _Matrix(self.dimensions, removed)
                rows = conn.execute(  # the client's own rows, through its index on memories
                    "SELECT v.rowid, v.seq, v.vector FROM memories AS m CROSS JOIN vectors AS v "
                    "ON v.rowid = m.rowid WHERE m.user_id = ? AND v.model = ? AND v.seq <= ? ORDER BY v.seq",
                    (user_id, self.model, latest),
                ).fetchall()
            elif latest <= matrix.seq:  # nothing new (or this snapshot is older than the matrix)
                rows = []
            else:
                # CROSS JOIN keeps the vectors' sequence index as the outer loop: checking for new vectors
                # costs nothing when there are none.
                rows = conn.execute(
                    "SELECT v.rowid, v.seq, v.vector FROM vectors AS v CROSS JOIN memories AS m ON m.rowid = "
                    "v.rowid WHERE v.seq > ? AND v.seq <= ? AND v.model = ? AND m.user_id = ? ORDER BY v.seq",
                    (matrix.seq, latest, self.model, user_id),
                ).fetchall()
            if rows:
                added = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.float32)
                rowids = np.array([row[0] for row in rows], dtype=np.int64)
                matrix.append(rowids, added.reshape(len(rows), self.dimensions))
            # Everything up to it is in the matrix, whoever wrote it; never lowered by a search reading an
            # older snapshot (the vectors after it would be appended twice).
            matrix.seq = max(matrix.seq, latest)
            self._matrices[user_id] = matrix
            self._bytes += matrix.nbytes
            while self._bytes > self.max_bytes and len(self._matrices) > 1:
                _, evicted = self._matrices.popitem(last=False)
                self._bytes -= evicted.nbytes
            return matrix.snapshot()
