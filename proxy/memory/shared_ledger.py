"""The conversation ledger shared by every process of a proxy: its workers, and its hosts on PostgreSQL.

Each process keeps the conversations it served in memory (:class:`proxy.memory.conversations.Conversations`),
but a client's next turn may reach another worker or host: that one must place the same memory blocks,
byte for byte, or the provider's prompt cache misses from the first changed byte on. So every served
request's conversation is also written where every process finds it, and a request looks there for a
longer earlier prefix than its own process knows:

- :class:`SharedLedger`, a SQLite file beside the store's journal, for the workers of one machine (the
  local store, Supermemory);
- :class:`StoreLedger`, a table of the PostgreSQL store, for every host on that database.

Writes are off the request path (the next turn of a conversation comes after its answer, long after the
write). Entries expire as the in-process ones do, and at most as many are kept. A ledger that cannot be
read or written only costs a cache miss: it is logged once and left alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

from proxy.memory.conversations import MAX_CONVERSATIONS, TTL_SECONDS, Conversation, Pin
from proxy.memory.stores.base import MemoryStoreError
from proxy.shared_file import FirstFailure, SharedFile

__all__ = ["LEDGER_FILE", "ConversationLedger", "ConversationTable", "SharedLedger", "StoreLedger"]

logger = logging.getLogger(__name__)

LEDGER_FILE = "conversations.sqlite3"
"""Its name in the store's journal folder (:func:`proxy.memory.stores.journal_folder`)."""

MAX_LOOKUP = 1000
"""The newest prefixes a request is looked up by (each served turn is saved, so a long conversation is
found by its latest ones)."""

PRUNE_EVERY = 500
"""Writes between two removals of expired and surplus rows."""

_CONSEQUENCE = "a conversation moving between workers gets its memory placed afresh"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    key BLOB PRIMARY KEY,
    conversation TEXT NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversations_expiry ON conversations (expires);
"""


def _encoded(conversation: Conversation) -> str:
    return json.dumps(
        {
            "id": conversation.id,
            "pins": [[pin.text, pin.message, pin.where] for pin in conversation.pins],
            "recalled": sorted(conversation.recalled),
            "prompts": list(conversation.prompts),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _decoded(text: str) -> Conversation:
    data = json.loads(text)
    return Conversation(
        id=data["id"],
        pins=tuple(Pin(text, message, where) for text, message, where in data["pins"]),
        recalled=frozenset(data["recalled"]),
        prompts=tuple(data["prompts"]),
    )


class ConversationLedger:
    """Where conversations are looked up by the longest served prefix, and written; the backends below."""

    def __init__(self, *, ttl: float, max_entries: int, what: str) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._writes = 0
        self._failed_once = FirstFailure(logger, what, _CONSEQUENCE)

    async def find(self, hashes: Sequence[bytes]) -> tuple[int, Conversation] | None:
        """The conversation of the longest of ``hashes`` any process served (its position among them), or
        None; a ledger that fails answers None."""
        start = max(0, len(hashes) - MAX_LOOKUP)
        if start >= len(hashes):
            return None
        wanted = list(hashes[start:])
        try:
            found = await self._read(wanted)
            for position in range(len(wanted) - 1, -1, -1):
                text = found.get(wanted[position])
                if text is not None:
                    return position + start, _decoded(text)
        except (MemoryStoreError, sqlite3.Error, OSError, ValueError, KeyError, TypeError) as exc:
            self._failed_once("read", exc)
        return None

    def save(self, key: bytes, conversation: Conversation) -> None:
        """Write ``conversation`` under ``key``, off the request path (this returns at once)."""
        self._writes += 1
        prune = self._max_entries if self._writes % PRUNE_EVERY == 1 else None
        self._write(key, _encoded(conversation), time.time() + self._ttl, prune)

    async def close(self) -> None:
        """Finish the writes under way."""

    async def _read(self, keys: list[bytes]) -> dict[bytes, str]:
        raise NotImplementedError

    def _write(self, key: bytes, encoded: str, expires: float, prune: int | None) -> None:
        raise NotImplementedError


class SharedLedger(ConversationLedger):
    """Conversations in a SQLite file of this machine, used from one thread of the ledger's own."""

    def __init__(self, path: Path, *, ttl: float = TTL_SECONDS, max_entries: int = MAX_CONVERSATIONS) -> None:
        super().__init__(ttl=ttl, max_entries=max_entries, what=f"conversation ledger {path}")
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conversation ledger")
        self._file = SharedFile(path, _SCHEMA, logger, "shared conversation ledger")

    async def _read(self, keys: list[bytes]) -> dict[bytes, str]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._select, keys)

    def _select(self, keys: list[bytes]) -> dict[bytes, str]:
        marks = ",".join("?" * len(keys))
        rows = self._file.connection().execute(
            f"SELECT key, conversation FROM conversations WHERE key IN ({marks}) AND expires > ?",
            [*keys, time.time()],
        )
        return {key: text for key, text in rows}

    def _write(self, key: bytes, encoded: str, expires: float, prune: int | None) -> None:
        self._thread.submit(self._insert, key, encoded, expires, prune)

    def _insert(self, key: bytes, encoded: str, expires: float, prune: int | None) -> None:
        try:
            connection = self._file.connection()
            connection.execute(
                "INSERT OR REPLACE INTO conversations (key, conversation, expires) VALUES (?, ?, ?)",
                (key, encoded, expires),
            )
            if prune is not None:
                connection.execute("DELETE FROM conversations WHERE expires <= ?", (time.time(),))
                connection.execute(
                    "DELETE FROM conversations WHERE expires < (SELECT expires FROM conversations "
                    "ORDER BY expires DESC LIMIT 1 OFFSET ?)",
                    (prune - 1,),
                )
        except (sqlite3.Error, OSError) as exc:
            self._failed_once("write", exc)

    async def close(self) -> None:
        """Finish the queued writes and close the file."""
        await asyncio.to_thread(self._thread.shutdown, wait=True)
        self._file.close()


@runtime_checkable
class ConversationTable(Protocol):
    """A store that keeps the ledger in a table of its own (PostgreSQL's)."""

    async def conversations(self, keys: Sequence[bytes], now: float) -> dict[bytes, str]: ...

    async def keep_conversation(
        self, key: bytes, conversation: str, expires: float, *, prune: int | None
    ) -> None: ...


class StoreLedger(ConversationLedger):
    """Conversations in the PostgreSQL store's ``conversations`` table, which every host reads."""

    def __init__(
        self, store: ConversationTable, *, ttl: float = TTL_SECONDS, max_entries: int = MAX_CONVERSATIONS
    ) -> None:
        super().__init__(ttl=ttl, max_entries=max_entries, what="PostgreSQL conversation ledger")
        self._store = store
        self._writing: set[asyncio.Task[None]] = set()

    async def _read(self, keys: list[bytes]) -> dict[bytes, str]:
        return await self._store.conversations(keys, time.time())

    def _write(self, key: bytes, encoded: str, expires: float, prune: int | None) -> None:
        task = asyncio.get_running_loop().create_task(self._insert(key, encoded, expires, prune))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _insert(self, key: bytes, encoded: str, expires: float, prune: int | None) -> None:
        try:
            await self._store.keep_conversation(key, encoded, expires, prune=prune)
        except MemoryStoreError as exc:
            self._failed_once("write", exc)

    async def close(self) -> None:
        await asyncio.gather(*self._writing, return_exceptions=True)
