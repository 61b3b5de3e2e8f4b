"""The PostgreSQL store's schema and its migration, run by every process at start-up.

Everything lives in the schema ``memory_proxy`` (one ``DROP SCHEMA memory_proxy CASCADE`` removes it), so
a database other applications use is safe to point the proxy at. ``schema_version`` records each
migration applied; a process brings the database to :data:`SCHEMA_VERSION` in one transaction, holding
a transaction-level advisory lock, so that several proxies starting together against a new database
neither race (two ``CREATE``\\ s of the same table) nor see a half-made schema: the second waits for the
first, then finds nothing to do. A database migrated by a newer proxy is refused rather than guessed at.

Version 1, one table ``memories``:

- ``seq``, an identity, orders memories written in the same instant (a batch shares its time);
- ``id``, the memory's id as the API shows it; ``(user_id, custom_id)`` unique, for upserts;
- ``words``, the ``tsvector`` recall by words searches (English stemming, GIN index), written by the store
  from the memory's words with diacritics folded (:func:`proxy.memory.stores.postgres.search.indexed_text`);
- ``embedding``, a pgvector ``vector(384)`` of what the person said (HNSW index, cosine), and
  ``embedded_by``, the model it came from (:func:`proxy.memory.recall.meaning.vector_model`): NULL until the
  embedding model has loaded, when the store fills it in the background.
"""

from __future__ import annotations

from typing import Any

from proxy.memory.stores.base import MemoryStoreError

__all__ = [
    "CLIENTS_SEEN",
    "CONVERSATIONS",
    "DIMENSIONS",
    "MEMORIES",
    "REQUESTS",
    "SCHEMA_VERSION",
    "SIGNED_OUT",
    "create_or_migrate",
]

SCHEMA_VERSION = 1
DIMENSIONS = 384
"""The embedding model's vector size (all-MiniLM-L6-v2)."""
MEMORIES = "memory_proxy.memories"
CONVERSATIONS = "memory_proxy.conversations"
"""The conversation ledger the proxies share (:class:`proxy.memory.shared_ledger.StoreLedger`): state that
may be lost, not memory, so it is made when missing and never versioned (a proxy of any version can run
beside it)."""
SIGNED_OUT = "memory_proxy.signed_out"
"""Console sessions signed out before their expiry (:class:`proxy.signed_out.StoreSignedOut`)."""
REQUESTS = "memory_proxy.requests"
CLIENTS_SEEN = "memory_proxy.clients_seen"
"""The console's request records and when each client was last seen, every host's
(:class:`proxy.shared_records.StoreRecords`): state as well, made when missing like the ledger."""
_VERSIONS = "memory_proxy.schema_version"
_LOCK = 0x6D656D6F7279  # "memory": one advisory lock key for the migration, in every process

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        f"""CREATE TABLE {MEMORIES} (
            seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id          text NOT NULL UNIQUE,
            user_id     text NOT NULL,
            custom_id   text,
            content     text NOT NULL,
            metadata    text NOT NULL DEFAULT '{{}}',
            created_at  double precision NOT NULL,
            words       tsvector NOT NULL,
            embedding   vector({DIMENSIONS}),
            embedded_by text,
            UNIQUE (user_id, custom_id)
        )""",
        f"CREATE INDEX memories_newest ON {MEMORIES} (user_id, created_at DESC, seq DESC)",
        f"CREATE INDEX memories_words ON {MEMORIES} USING gin (words)",
        f"CREATE INDEX memories_meaning ON {MEMORIES} USING hnsw (embedding vector_cosine_ops)",
    ),
)
"""The statements of each version, in order: version n is ``_MIGRATIONS[n - 1]``."""


async def create_or_migrate(conn: Any) -> None:
    """Bring the database to :data:`SCHEMA_VERSION` (``conn``: a psycopg ``AsyncConnection``)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await conn.execute("CREATE SCHEMA IF NOT EXISTS memory_proxy")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_VERSIONS} "
            "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor = await conn.execute(f"SELECT coalesce(max(version), 0) FROM {_VERSIONS}")
        (version,) = await cursor.fetchone()
        if version > SCHEMA_VERSION:
            raise MemoryStoreError(
                f"the database's memory schema is version {version}, newer than this proxy's "
                f"({SCHEMA_VERSION}): upgrade the proxy"
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[number - 1]:
                await conn.execute(statement)
            await conn.execute(f"INSERT INTO {_VERSIONS} (version) VALUES (%s)", (number,))
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {CONVERSATIONS} "
            "(key bytea PRIMARY KEY, conversation text NOT NULL, expires double precision NOT NULL)"
        )
        await conn.execute(f"CREATE INDEX IF NOT EXISTS conversations_expiry ON {CONVERSATIONS} (expires)")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SIGNED_OUT} "
            "(session bytea PRIMARY KEY, expires double precision NOT NULL)"
        )
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {REQUESTS} "
            "(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, record text NOT NULL)"
        )
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {CLIENTS_SEEN} "
            "(client text PRIMARY KEY, at double precision NOT NULL)"
        )
