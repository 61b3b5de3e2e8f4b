"""The local store's SQLite schema and its migrations.

Version 4 (``PRAGMA user_version``): memories in one table, each naming its namespace (``space``, a row of
``namespaces``) and its length in words; one FTS5 index shared by every namespace but the largest
(``memory_words``), whose ``space`` column lets a query keep to one namespace; memory vectors beside
them, with a sequence number each so a process can fetch just the vectors written since it last looked.

Why one index: version 2 gave each namespace an FTS5 table of its own (five schema entries each), so
that bm25's statistics were the namespace's alone. Projects multiply namespaces, and at thousands of them
every new connection parsed tens of thousands of schema entries (seconds for its first query). The
statistics are now kept per namespace here (``size`` and ``tokens``) and bm25 is computed from them
(:mod:`proxy.memory.recall.lexical`), so another namespace's memories still never change a ranking.

Version 4 gives a namespace past :data:`OWN_INDEX_AT` memories an index of its own (``words_<id>``,
``namespaces.own_index``), moved there by the write that crosses the line: in its own index FTS5's bm25 is
the namespace's, computed in C, where the shared index's exact scoring reads each match again. A file of
version 3 needs only the column; its large namespaces move at their next write.

Opening a version 1 file (one index, no namespaces), 2 or 3 moves it to version 4 in one transaction,
keeping every memory and vector. Statements run one at a time (``executescript`` would commit
the transaction they run in).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from proxy.memory.recall.lexical import words_of

__all__ = [
    "OWN_INDEX_AT",
    "SCHEMA_VERSION",
    "WORDS",
    "Namespace",
    "create_or_migrate",
    "index_memory",
    "index_unindexed",
    "namespace",
    "own_index_table",
    "unindex_memory",
]

SCHEMA_VERSION = 4

WORDS = "memory_words"
"""The full-text index of every namespace's memories but the largest (:data:`OWN_INDEX_AT`)."""

TOKENIZER = "'porter unicode61 remove_diacritics 2'"

OWN_INDEX_AT = 2000
"""Memories past which a namespace gets a full-text index of its own (``words_<id>``), where FTS5 ranks by
its own bm25, exact for the namespace by construction. In the shared index every query is filtered to its
namespace and each match's word count read again to compute the namespace's own bm25: cheap for a few
hundred matches, 2-4x the cost of FTS5's own ranking for a namespace of 10,000 (the load benchmark's
recall by words: 3.4 ms p50 in the shared index, 1.5 ms in its own). Few namespaces are this large, so
their tables stay few."""

_TABLES = (
    """CREATE TABLE IF NOT EXISTS memories (
        rowid      INTEGER PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        user_id    TEXT NOT NULL,
        custom_id  TEXT,
        content    TEXT NOT NULL,
        metadata   TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        space      INTEGER,
        tokens     INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS memories_user_custom_id
        ON memories (user_id, custom_id) WHERE custom_id IS NOT NULL""",
    "CREATE INDEX IF NOT EXISTS memories_user_created ON memories (user_id, created_at)",
    "CREATE INDEX IF NOT EXISTS memories_unindexed ON memories (user_id) WHERE space IS NULL",
    """CREATE TABLE IF NOT EXISTS namespaces (
        id      INTEGER PRIMARY KEY,
        user_id TEXT NOT NULL UNIQUE,
        size    INTEGER NOT NULL DEFAULT 0,
        removed INTEGER NOT NULL DEFAULT 0,
        tokens  INTEGER NOT NULL DEFAULT 0,
        own_index INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS vectors (
        rowid  INTEGER PRIMARY KEY,
        model  TEXT NOT NULL,
        seq    INTEGER NOT NULL,
        vector BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS vectors_seq ON vectors (seq)",
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {WORDS} USING fts5 (
        space, content, content = 'memories', content_rowid = 'rowid', tokenize = {TOKENIZER}
    )""",
)

_VERSION_1 = (
    "DROP TRIGGER IF EXISTS memories_ai",
    "DROP TRIGGER IF EXISTS memories_ad",
    "DROP TRIGGER IF EXISTS memories_au",
    "DROP TABLE IF EXISTS memories_fts",
)
"""Version 1's one index for all clients (without namespaces), and the triggers that kept it."""

_ADDED_SINCE_2 = {
    "memories": ("space INTEGER", "tokens INTEGER NOT NULL DEFAULT 0"),
    "namespaces": ("tokens INTEGER NOT NULL DEFAULT 0", "own_index INTEGER NOT NULL DEFAULT 0"),
}
"""Columns versions 3 and 4 added to tables an older file has."""


@dataclass(frozen=True)
class Namespace:
    """A client's row in ``namespaces``: its id, how many memories and words it has, how many it lost."""

    id: int
    size: int
    removed: int
    tokens: int
    own_index: bool = False

    @property
    def table(self) -> str:
        """The full-text index holding this namespace's memories."""
        return own_index_table(self.id) if self.own_index else WORDS

    @property
    def filter(self) -> str | None:
        """The FTS5 expression keeping a query of :attr:`table` to this namespace's memories (None: the
        table holds only them)."""
        return None if self.own_index else f'space : "{self.id}"'


def own_index_table(space: int) -> str:
    """The name of a large namespace's own full-text index."""
    return f"words_{int(space)}"


def create_or_migrate(conn: sqlite3.Connection) -> None:
    """Bring the file to :data:`SCHEMA_VERSION` (inside the caller's write transaction), and index any
    memory that is not (:func:`index_unindexed`)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version < SCHEMA_VERSION:
        for statement in _VERSION_1:
            conn.execute(statement)
        old_indexes = conn.execute(  # version 2's per-namespace indexes (their shadow tables go with them)
            "SELECT name FROM sqlite_master WHERE name GLOB 'fts_[0-9]*' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
        ).fetchall()
        for (table,) in old_indexes:
            conn.execute(f'DROP TABLE "{table}"')
        for table, columns in _ADDED_SINCE_2.items():
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            for column in columns if present else ():
                if column.split()[0] not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        for statement in _TABLES:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    index_unindexed(conn)


def index_unindexed(conn: sqlite3.Connection) -> int:
    """Index the memories without a namespace (``space`` NULL), count them in their namespaces' figures,
    and return how many there were: every memory of an older file being migrated, or those an older
    release of the proxy, still running on the same file, wrote since (it knows nothing of the index)."""
    rowids = [row[0] for row in conn.execute("SELECT rowid FROM memories WHERE space IS NULL")]
    if not rowids:
        return 0
    conn.execute(
        "INSERT OR IGNORE INTO namespaces (user_id) SELECT DISTINCT user_id FROM memories WHERE space IS NULL"
    )
    conn.create_function("memory_words_in", 1, lambda text: len(words_of(text)), deterministic=True)
    conn.execute(
        "UPDATE memories SET tokens = memory_words_in(content), "
        "space = (SELECT id FROM namespaces AS n WHERE n.user_id = memories.user_id) WHERE space IS NULL"
    )
    own = [row[0] for row in conn.execute("SELECT id FROM namespaces WHERE own_index")]
    for start in range(0, len(rowids), 500):
        batch = rowids[start : start + 500]
        marks = ", ".join("?" * len(batch))
        conn.execute(
            f"INSERT INTO {WORDS} (rowid, space, content) SELECT rowid, space, content FROM memories "
            f"WHERE rowid IN ({marks}) AND space NOT IN (SELECT id FROM namespaces WHERE own_index)",
            batch,
        )
        for space in own:
            conn.execute(
                f"INSERT INTO {own_index_table(space)} (rowid, content) SELECT rowid, content FROM memories "
                f"WHERE rowid IN ({marks}) AND space = ?",
                (*batch, space),
            )
    # Each namespace's figures from its memories, found through their index on user_id.
    conn.execute(
        "UPDATE namespaces SET "
        "size = (SELECT count(*) FROM memories AS m WHERE m.user_id = namespaces.user_id), "
        "tokens = (SELECT coalesce(sum(m.tokens), 0) FROM memories AS m "
        "WHERE m.user_id = namespaces.user_id), removed = removed + 1"
    )
    large = "SELECT id FROM namespaces WHERE size >= ? AND NOT own_index"
    for (space,) in conn.execute(large, (OWN_INDEX_AT,)).fetchall():
        _give_own_index(conn, space)
    return len(rowids)


def _give_own_index(conn: sqlite3.Connection, space: int) -> None:
    """Move a namespace's memories from the shared index to one of its own (:data:`OWN_INDEX_AT`), inside
    the caller's write transaction: ~50 ms for 2,000 memories, once."""
    table = own_index_table(space)
    conn.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5 ("
        f"content, content = 'memories', content_rowid = 'rowid', tokenize = {TOKENIZER})"
    )
    user_id = conn.execute("SELECT user_id FROM namespaces WHERE id = ?", (space,)).fetchone()[0]
    held = "FROM memories WHERE user_id = ? AND space = ?"  # through the user_id index
    conn.execute(f"INSERT INTO {table} (rowid, content) SELECT rowid, content {held}", (user_id, space))
    conn.execute(
        f"INSERT INTO {WORDS} ({WORDS}, rowid, space, content) SELECT 'delete', rowid, space, content {held}",
        (user_id, space),
    )
    conn.execute("UPDATE namespaces SET own_index = 1 WHERE id = ?", (space,))


def namespace(conn: sqlite3.Connection, user_id: str, *, create: bool = False) -> Namespace | None:
    """The client's namespace; with ``create`` (inside a write transaction) made first if it is new."""
    query = "SELECT id, size, removed, tokens, own_index FROM namespaces WHERE user_id = ?"
    row = conn.execute(query, (user_id,)).fetchone()
    if row is None and create:
        row = conn.execute(
            "INSERT INTO namespaces (user_id) VALUES (?) RETURNING id, size, removed, tokens, own_index",
            (user_id,),
        ).fetchone()
    return Namespace(*row[:4], own_index=bool(row[4])) if row is not None else None


def index_memory(conn: sqlite3.Connection, space: Namespace, rowid: int, content: str) -> None:
    """Index a memory just written to ``memories`` (its row's ``space`` and ``tokens`` set here), and
    count it in its namespace's statistics."""
    tokens = len(words_of(content))
    conn.execute("UPDATE memories SET space = ?, tokens = ? WHERE rowid = ?", (space.id, tokens, rowid))
    if space.own_index:
        conn.execute(f"INSERT INTO {space.table} (rowid, content) VALUES (?, ?)", (rowid, content))
    else:
        conn.execute(
            f"INSERT INTO {WORDS} (rowid, space, content) VALUES (?, ?, ?)", (rowid, space.id, content)
        )
    (size,) = conn.execute(
        "UPDATE namespaces SET size = size + 1, tokens = tokens + ? WHERE id = ? RETURNING size",
        (tokens, space.id),
    ).fetchone()
    if size >= OWN_INDEX_AT and not space.own_index:
        _give_own_index(conn, space.id)


def unindex_memory(conn: sqlite3.Connection, rowid: int, content: str) -> None:
    """Take a memory out of the index and its namespace's figures, as they were counted (before its row
    changes or goes: an external-content index needs the values it indexed). A memory that was never
    indexed (written by an older release) is only left out of the figures."""
    row = conn.execute(
        "SELECT m.space, m.tokens, n.own_index FROM memories AS m JOIN namespaces AS n ON n.id = m.space "
        "WHERE m.rowid = ?",
        (rowid,),
    ).fetchone()
    if row is None:
        return
    space, tokens, own = row
    if own:
        table = own_index_table(space)
        conn.execute(
            f"INSERT INTO {table} ({table}, rowid, content) VALUES ('delete', ?, ?)", (rowid, content)
        )
    else:
        conn.execute(
            f"INSERT INTO {WORDS} ({WORDS}, rowid, space, content) VALUES ('delete', ?, ?, ?)",
            (rowid, space, content),
        )
    conn.execute(
        "UPDATE namespaces SET size = size - 1, tokens = tokens - ?, removed = removed + 1 WHERE id = ?",
        (tokens, space),
    )
