"""The local store's SQLite schema, its migration, and each client's own full-text index.

Version 2 (``PRAGMA user_version``): memories in one table; one FTS5 index per client (``fts_<n>``, named
in ``namespaces``), so that bm25's statistics are the client's own; memory vectors beside them, with a
sequence number each so a process can fetch just the vectors written since it last looked. Version 1 had
one index for all clients; opening such a file moves it to version 2 in one transaction, keeping every
memory. Statements are run one at a time (``executescript`` would commit the transaction they run in).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["SCHEMA_VERSION", "Namespace", "create_or_migrate", "fts_insert", "fts_remove", "namespace"]

SCHEMA_VERSION = 2

_TABLES = (
    """CREATE TABLE IF NOT EXISTS memories (
        rowid      INTEGER PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        user_id    TEXT NOT NULL,
        custom_id  TEXT,
        content    TEXT NOT NULL,
        metadata   TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS memories_user_custom_id
        ON memories (user_id, custom_id) WHERE custom_id IS NOT NULL""",
    "CREATE INDEX IF NOT EXISTS memories_user_created ON memories (user_id, created_at)",
    """CREATE TABLE IF NOT EXISTS namespaces (
        id      INTEGER PRIMARY KEY,
        user_id TEXT NOT NULL UNIQUE,
        size    INTEGER NOT NULL DEFAULT 0,
        removed INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS vectors (
        rowid  INTEGER PRIMARY KEY,
        model  TEXT NOT NULL,
        seq    INTEGER NOT NULL,
        vector BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS vectors_seq ON vectors (seq)",
)

_VERSION_1 = (
    "DROP TRIGGER IF EXISTS memories_ai",
    "DROP TRIGGER IF EXISTS memories_ad",
    "DROP TRIGGER IF EXISTS memories_au",
    "DROP TABLE IF EXISTS memories_fts",
)
"""Version 1's one index for all clients, and the triggers that kept it."""


@dataclass(frozen=True)
class Namespace:
    """A client's row in ``namespaces``: its index table, how many memories it has, how many it lost."""

    id: int
    size: int
    removed: int

    @property
    def fts(self) -> str:
        return f"fts_{self.id}"


def create_or_migrate(conn: sqlite3.Connection) -> None:
    """Bring the file to :data:`SCHEMA_VERSION` (inside the caller's write transaction)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version >= SCHEMA_VERSION:
        return
    had_version_1 = (
        conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'memories_fts'").fetchone() is not None
    )
    for statement in (*_VERSION_1, *_TABLES):
        conn.execute(statement)
    if had_version_1:
        users = [row[0] for row in conn.execute("SELECT DISTINCT user_id FROM memories")]
        for user_id in users:
            space = namespace(conn, user_id, create=True)
            assert space is not None
            conn.execute(
                f"INSERT INTO {space.fts} (rowid, content) "
                "SELECT rowid, content FROM memories WHERE user_id = ?",
                (user_id,),
            )
            conn.execute(
                "UPDATE namespaces SET size = (SELECT count(*) FROM memories WHERE user_id = ?) WHERE id = ?",
                (user_id, space.id),
            )
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def namespace(conn: sqlite3.Connection, user_id: str, *, create: bool = False) -> Namespace | None:
    """The client's namespace; with ``create`` (inside a write transaction) made first if it is new."""
    row = conn.execute("SELECT id, size, removed FROM namespaces WHERE user_id = ?", (user_id,)).fetchone()
    if row is None and create:
        row = conn.execute(
            "INSERT INTO namespaces (user_id) VALUES (?) RETURNING id, size, removed", (user_id,)
        ).fetchone()
        conn.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS fts_{row[0]} USING fts5 ("
            "content, content = 'memories', content_rowid = 'rowid', "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )
    return Namespace(*row) if row is not None else None


def fts_insert(conn: sqlite3.Connection, space: Namespace, rowid: int, content: str) -> None:
    conn.execute(f"INSERT INTO {space.fts} (rowid, content) VALUES (?, ?)", (rowid, content))


def fts_remove(conn: sqlite3.Connection, space: Namespace, rowid: int, content: str) -> None:
    """Take a memory out of its client's index (an external-content index needs the text it indexed)."""
    conn.execute(
        f"INSERT INTO {space.fts} ({space.fts}, rowid, content) VALUES ('delete', ?, ?)", (rowid, content)
    )
