"""A client's vectors in memory: nearest by cosine, brought up to date by what was written since."""

from __future__ import annotations

import sqlite3

import numpy as np

from proxy.memory.recall.dense import DenseIndex, VectorCache
from proxy.memory.stores.local.schema import create_or_migrate


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_nearest_is_best_first_above_the_threshold_and_limited():
    index = DenseIndex(np.array([10, 11, 12]), np.stack([unit(1, 0), unit(1, 1), unit(0, 1)]))
    assert [rowid for rowid, _ in index.nearest(unit(1, 0.1), limit=3, min_similarity=-1)] == [10, 11, 12]
    assert [rowid for rowid, _ in index.nearest(unit(1, 0.1), limit=1, min_similarity=-1)] == [10]
    assert [rowid for rowid, _ in index.nearest(unit(1, 0.1), limit=3, min_similarity=0.5)] == [10, 11]
    assert (
        DenseIndex(np.zeros(0, dtype=np.int64), np.zeros((0, 2), np.float32)).nearest(
            unit(1, 0), limit=3, min_similarity=0
        )
        == []
    )


def _write(conn: sqlite3.Connection, user: str, rowid: int, vector: np.ndarray) -> None:
    conn.execute(
        "INSERT INTO memories (rowid, id, user_id, content, created_at) VALUES (?, ?, ?, 'x', 0)",
        (rowid, f"id{rowid}", user),
    )
    conn.execute(
        "INSERT INTO vectors (rowid, model, seq, vector) VALUES (?, 'm', "
        "(SELECT coalesce(max(seq), 0) + 1 FROM vectors), ?)",
        (rowid, vector.tobytes()),
    )


def test_the_cache_appends_new_vectors_keeps_old_snapshots_and_reloads_after_a_removal():
    conn = sqlite3.connect(":memory:")
    create_or_migrate(conn)
    cache = VectorCache("m", 2)
    _write(conn, "alice", 1, unit(1, 0))
    _write(conn, "bob", 2, unit(0, 1))
    first = cache.current(conn, "alice", removed=0)
    assert first.rowids.tolist() == [1]
    for rowid in range(3, 103):  # many appends: the matrix grows in place, snapshots stay as they were
        _write(conn, "alice", rowid, unit(1, rowid))
    later = cache.current(conn, "alice", removed=0)
    assert later.rowids.tolist() == [1, *range(3, 103)]
    assert first.rowids.tolist() == [1]
    assert np.allclose(later.vectors[0], unit(1, 0))
    conn.execute("DELETE FROM vectors WHERE rowid = 1")
    reloaded = cache.current(conn, "alice", removed=1)  # a removal: everything is read anew
    assert reloaded.rowids.tolist() == list(range(3, 103))
