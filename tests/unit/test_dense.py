"""A client's vectors in memory: nearest by cosine, brought up to date by what was written since."""

from __future__ import annotations

import sqlite3

import numpy as np

from proxy.memory.recall import dense
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


def test_the_cache_keeps_recent_clients_within_its_bytes_and_reads_an_evicted_one_anew():
    conn = sqlite3.connect(":memory:")
    create_or_migrate(conn)
    one_client = 3 * (2 * 4 + 8)  # three rows of two float32 and an int64 rowid
    cache = VectorCache("m", 2, max_bytes=2 * one_client)
    for n, user in enumerate(["alice", "bob", "carol"]):
        for row in range(3):
            _write(conn, user, 10 * n + row + 1, unit(1, row))
    for user in ["alice", "bob", "carol"]:
        cache.current(conn, user, removed=0)
    assert len(cache) == 2 and cache.nbytes == 2 * one_client  # alice, searched longest ago, went first
    assert cache.current(conn, "alice", removed=0).rowids.tolist() == [1, 2, 3]
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes


def test_a_client_behind_many_writes_elsewhere_is_read_from_its_own_rows(monkeypatch):
    """Past RELOAD_AFTER vectors written by others since, the matrix is read anew through the client's
    rows rather than by walking everything written since; either way it holds exactly the client's."""
    monkeypatch.setattr(dense, "RELOAD_AFTER", 5)
    conn = sqlite3.connect(":memory:")
    create_or_migrate(conn)
    cache = VectorCache("m", 2)
    _write(conn, "alice", 1, unit(1, 0))
    assert cache.current(conn, "alice", removed=0).rowids.tolist() == [1]
    for rowid in range(2, 12):
        _write(conn, "bob", rowid, unit(0, 1))
    _write(conn, "alice", 12, unit(1, 1))
    assert cache.current(conn, "alice", removed=0).rowids.tolist() == [1, 12]
    _write(conn, "alice", 13, unit(1, 2))  # one more: appended, the matrix up to date again
    assert cache.current(conn, "alice", removed=0).rowids.tolist() == [1, 12, 13]


def test_a_search_on_an_older_snapshot_never_makes_the_matrix_take_a_vector_twice(tmp_path):
    """Recalls run side by side, each on a snapshot of its own: one that began before a vector was written
    must not set the matrix back, or the next search appends that vector again."""
    path = tmp_path / "memory.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    create_or_migrate(writer)
    _write(writer, "alice", 1, unit(1, 0))
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("BEGIN")
    old.execute("SELECT count(*) FROM vectors").fetchone()  # its snapshot: one vector
    _write(writer, "alice", 2, unit(0, 1))
    new = sqlite3.connect(path, isolation_level=None)
    cache = VectorCache("m", 2)
    assert cache.current(new, "alice", removed=0).rowids.tolist() == [1, 2]
    assert cache.current(old, "alice", removed=0).rowids.tolist() == [1, 2]
    assert cache.current(new, "alice", removed=0).rowids.tolist() == [1, 2]
