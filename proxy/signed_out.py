"""Console sessions ended by signing out, for every worker of this machine.

A session cookie is checked by its signature alone (:mod:`proxy.auth`), so any worker accepts it without
asking the others; removing it from the browser would leave a copy (in a proxy's log, a stolen cookie)
valid until it expires. Signing out therefore writes the session's digest, with its expiry, to a SQLite
file in the data home that every process of this machine reads before it accepts a session. Only a digest
is kept: a session is a credential. A file that cannot be used is logged once; the sign-out still removes
the cookie from the browser.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from pathlib import Path

from proxy.paths import data_home

__all__ = ["SIGNED_OUT_FILE", "SignedOut"]

logger = logging.getLogger(__name__)

SIGNED_OUT_FILE = "console-signed-out.sqlite3"


def _digest(session: str) -> bytes:
    return hashlib.sha256(session.encode()).digest()


class SignedOut:
    """The sessions signed out before their expiry (a SQLite file shared by this machine's workers)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else data_home() / SIGNED_OUT_FILE
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._failed = False

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS signed_out (session BLOB PRIMARY KEY, expires REAL NOT NULL) "
                "WITHOUT ROWID"
            )
            self._connection = connection
        return self._connection

    def add(self, session: str, expires: float) -> None:
        """End ``session`` (valid until ``expires``) for every worker; the expired ones are dropped."""
        try:
            with self._lock:
                connection = self._connect()
                connection.execute("DELETE FROM signed_out WHERE expires < ?", (time.time(),))
                connection.execute(
                    "INSERT OR REPLACE INTO signed_out (session, expires) VALUES (?, ?)",
                    (_digest(session), expires),
                )
        except (sqlite3.Error, OSError) as exc:
            self._failed_once("record a sign-out", exc)

    def __contains__(self, session: str) -> bool:
        try:
            with self._lock:
                row = (
                    self._connect()
                    .execute("SELECT 1 FROM signed_out WHERE session = ?", (_digest(session),))
                    .fetchone()
                )
        except (sqlite3.Error, OSError) as exc:
            self._failed_once("read the sign-outs", exc)
            return False
        return row is not None

    def _failed_once(self, doing: str, exc: BaseException) -> None:
        if not self._failed:
            self._failed = True
            logger.warning(
                "the console could not %s in %s (%s): a session signed out elsewhere stays valid until it "
                "expires",
                doing,
                self.path,
                exc,
            )

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
