"""The conversation ledger shared by every process of a proxy on one machine (``--workers N``).

Each process keeps the conversations it served in memory (:class:`proxy.memory.conversations.Conversations`),
but a client's next turn may reach another worker: that worker must place the same memory blocks, byte for
byte, or the provider's prompt cache misses from the first changed byte on. So every served request's
conversation is also written to a SQLite file beside the store's journal, which every worker opens, and a
request looks there for a longer earlier prefix than its own process knows. Writes go through one thread
of their own, off the request path: the next turn of a conversation comes after its answer, long after
the write. Rows expire as the in-process entries do, and the file keeps at most the same number.
A ledger that cannot be read or written only costs a cache miss: it is logged once and left alone.
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

from proxy.memory.conversations import MAX_CONVERSATIONS, TTL_SECONDS, Conversation, Pin
from proxy.shared_file import SharedFile

__all__ = ["LEDGER_FILE", "SharedLedger"]

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


class SharedLedger:
    """Conversations by the hash of each served request's messages, in a SQLite file of this machine."""

    def __init__(self, path: Path, *, ttl: float = TTL_SECONDS, max_entries: int = MAX_CONVERSATIONS) -> None:
        self.path = path
        self._ttl = ttl
        self._max_entries = max_entries
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conversation ledger")
        self._file = SharedFile(path, _SCHEMA, logger, "shared conversation ledger")
        self._writes = 0

    async def find(self, hashes: Sequence[bytes]) -> tuple[int, Conversation] | None:
        """The conversation of the longest of ``hashes`` any process served (its position among them), or
        None; a ledger that fails answers None."""
        start = max(0, len(hashes) - MAX_LOOKUP)
        if start >= len(hashes):
            return None
        try:
            found = await asyncio.get_running_loop().run_in_executor(self._thread, self._find, hashes[start:])
        except (sqlite3.Error, OSError, ValueError, KeyError, TypeError) as exc:
            self._file.failed_once("read", exc, _CONSEQUENCE)
            return None
        return (found[0] + start, found[1]) if found is not None else None

    def _find(self, hashes: Sequence[bytes]) -> tuple[int, Conversation] | None:
        marks = ",".join("?" * len(hashes))
        rows = self._file.connection().execute(
            f"SELECT key, conversation FROM conversations WHERE key IN ({marks}) AND expires > ?",
            [*hashes, time.time()],
        )
        found = {key: text for key, text in rows}
        for position in range(len(hashes) - 1, -1, -1):
            text = found.get(hashes[position])
            if text is not None:
                return position, _decoded(text)
        return None

    def save(self, key: bytes, conversation: Conversation) -> None:
        """Write ``conversation`` under ``key``, in the ledger's own thread (this returns at once)."""
        self._thread.submit(self._save, key, _encoded(conversation))

    def _save(self, key: bytes, encoded: str) -> None:
        try:
            connection = self._file.connection()
            connection.execute(
                "INSERT OR REPLACE INTO conversations (key, conversation, expires) VALUES (?, ?, ?)",
                (key, encoded, time.time() + self._ttl),
            )
            self._writes += 1
            if self._writes % PRUNE_EVERY == 1:
                self._prune(connection)
        except (sqlite3.Error, OSError) as exc:
            self._file.failed_once("write", exc, _CONSEQUENCE)

    def _prune(self, connection: sqlite3.Connection) -> None:
        connection.execute("DELETE FROM conversations WHERE expires <= ?", (time.time(),))
        connection.execute(
            "DELETE FROM conversations WHERE expires < (SELECT expires FROM conversations "
            "ORDER BY expires DESC LIMIT 1 OFFSET ?)",
            (self._max_entries - 1,),
        )

    def close(self) -> None:
        """Finish the queued writes and close the file."""
        self._thread.shutdown(wait=True)
        self._file.close()
