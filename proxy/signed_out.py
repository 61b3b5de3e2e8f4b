"""Console sessions ended by signing out, for every worker of this machine.

A session cookie is checked by its signature alone (:mod:`proxy.auth`), so any worker accepts it without
asking the others; removing it from the browser would leave a copy (in a proxy's log, a stolen cookie)
valid until it expires. Signing out therefore writes the session's digest, with its expiry, where every
process reads it before it accepts a session: a SQLite file in the data home for the processes of one
machine, or, on the PostgreSQL store, a table every host reads (:class:`StoreSignedOut`). Only a digest
is kept: a session is a credential. A file that cannot be used is logged once; the sign-out still removes
the cookie from the browser.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

from proxy.memory.stores.base import MemoryStoreError
from proxy.paths import data_home
from proxy.shared_file import FirstFailure, SharedFile

__all__ = ["SIGNED_OUT_FILE", "SignOutTable", "SignedOut", "StoreSignedOut"]

logger = logging.getLogger(__name__)

SIGNED_OUT_FILE = "console-signed-out.sqlite3"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS signed_out (session BLOB PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;"
)
_CONSEQUENCE = "a session signed out elsewhere stays valid here until it expires"


def _digest(session: str) -> bytes:
    return hashlib.sha256(session.encode()).digest()


class SignedOut:
    """The sessions signed out before their expiry (a SQLite file shared by this machine's workers)."""

    def __init__(self, path: Path | None = None) -> None:
        path = path if path is not None else data_home() / SIGNED_OUT_FILE
        self._file = SharedFile(path, _SCHEMA, logger, "console's sign-outs")

    async def add(self, session: str, expires: float) -> None:
        await asyncio.to_thread(self._add, session, expires)

    async def contains(self, session: str) -> bool:
        return await asyncio.to_thread(self._contains, session)

    def _add(self, session: str, expires: float) -> None:
        """End ``session`` (valid until ``expires``) for every worker; the expired ones are dropped."""
        try:
            with self._file.lock:
                connection = self._file.connection()
                connection.execute("DELETE FROM signed_out WHERE expires < ?", (time.time(),))
                connection.execute(
                    "INSERT OR REPLACE INTO signed_out (session, expires) VALUES (?, ?)",
                    (_digest(session), expires),
                )
        except (sqlite3.Error, OSError) as exc:
            self._file.failed_once("record a sign-out", exc, _CONSEQUENCE)

    def _contains(self, session: str) -> bool:
        try:
            with self._file.lock:
                query = "SELECT 1 FROM signed_out WHERE session = ?"
                row = self._file.connection().execute(query, (_digest(session),)).fetchone()
        except (sqlite3.Error, OSError) as exc:
            self._file.failed_once("read", exc, _CONSEQUENCE)
            return False
        return row is not None

    def close(self) -> None:
        self._file.close()


@runtime_checkable
class SignOutTable(Protocol):
    """A store that keeps the sign-outs in a table of its own (PostgreSQL's)."""

    async def sign_out(self, session: bytes, expires: float) -> None: ...

    async def signed_out(self, session: bytes) -> bool: ...


class StoreSignedOut:
    """The sessions signed out before their expiry, in the PostgreSQL store: every host agrees."""

    def __init__(self, store: SignOutTable) -> None:
        self._store = store
        self._failed_once = FirstFailure(logger, "console's sign-outs in PostgreSQL", _CONSEQUENCE)

    async def add(self, session: str, expires: float) -> None:
        try:
            await self._store.sign_out(_digest(session), expires)
        except MemoryStoreError as exc:
            self._failed_once("record a sign-out", exc)

    async def contains(self, session: str) -> bool:
        try:
            return await self._store.signed_out(_digest(session))
        except MemoryStoreError as exc:
            self._failed_once("read", exc)
            return False
