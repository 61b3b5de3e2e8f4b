"""The one small interface every memory store implements (recall, remember, list, forget).

Keeping stores behind it lets a shared store (Supermemory, PostgreSQL) replace the embedded SQLite one
without touching the request path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "ExportableStore",
    "MemoryRecord",
    "MemoryRefused",
    "MemoryStore",
    "MemoryStoreError",
    "NewMemory",
    "StoredMemory",
    "UserMemories",
]


@dataclass(frozen=True)
class MemoryRecord:
    """One remembered item; ``score`` is the relevance of a search result (higher is better)."""

    id: str
    user_id: str
    content: str
    created_at: float
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    signal: str = ""
    """What found it in a search: ``words`` (lexical) or ``meaning`` (semantic); empty in a listing."""


@dataclass(frozen=True)
class NewMemory:
    """A memory to store; a ``custom_id`` the user already has replaces that memory instead."""

    user_id: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    custom_id: str | None = None
    created_at: float | None = None
    """When it was said, in seconds since the epoch; None means now. An import sets it so that moving to
    another store keeps the order of a client's memories; a store that cannot set it (Supermemory) uses
    its own time."""


@dataclass(frozen=True)
class StoredMemory:
    """A memory with everything about it one store can hand to another (``memory-proxy memories export``):
    not its vector, which belongs to the model and is made anew by the store that imports it."""

    user_id: str
    id: str
    content: str
    metadata: dict[str, Any]
    created_at: float
    custom_id: str | None


class UserMemories(NamedTuple):
    """A client of a store: its user id, how many memories it has, and when the newest was made."""

    user_id: str
    memories: int
    newest: float
    """Seconds since the epoch."""


class MemoryStoreError(Exception):
    """The memory store failed (down, slow, refused, or answered garbage); recall goes on without it, and
    write-back tries again until it takes the write."""


class MemoryRefused(MemoryStoreError):
    """The store refuses a memory for what it is (its data), not for its own state: trying the same memory
    again would fail again, so write-back gives that one up (and stores the rest)."""


class MemoryStore(Protocol):
    async def open(self) -> None:
        """Make sure the store can be used now (a file opened, its schema current), raising
        :class:`MemoryStoreError` if not: a broken store is found at start-up, not at first use."""
        ...

    @property
    def recall_mode(self) -> str | None:
        """How recall is limited right now, for the status header (None: as well as it can)."""
        ...

    async def add(
        self,
        user_id: str,
        content: str,
        *,
        metadata: dict[str, Any] | None = None,
        custom_id: str | None = None,
    ) -> str: ...

    async def add_batch(self, memories: Sequence[NewMemory]) -> list[str]:
        """Store several memories (of any users) at once, all or none where the store has transactions;
        the write-back sends what piled up while the last batch was being written."""
        ...

    async def search(self, user_id: str, query: str, *, limit: int = 5) -> list[MemoryRecord]: ...

    async def list(self, user_id: str, *, limit: int = 100) -> list[MemoryRecord]: ...

    async def forget(self, user_id: str, memory_id: str | None = None) -> int: ...

    async def prune(self, user_id: str, *, keep: int | None = None, before: float | None = None) -> int:
        """Forget ``user_id``'s memories past its ``keep`` newest, and those made ``before`` (seconds since
        the epoch); returns how many. Another user's memories are never touched."""
        ...

    async def wait_for_model(self, seconds: float) -> None:
        """Until whatever recall depends on has loaded, for a tool that can wait (no request waits)."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class ExportableStore(Protocol):
    """What ``memory-proxy memories export`` needs of a store besides :class:`MemoryStore`: its clients, and
    every memory of one of them. Optional, because not every store can say it: Supermemory's API recalls
    and stores per container tag, but this client has no call that lists every container, nor a
    document's custom id and time, so exporting from it is refused (exit code 2). Importing needs
    nothing more than :meth:`MemoryStore.add_batch`."""

    async def users(self) -> list[UserMemories]:
        """Every user with memories (how many, and the newest one's time), by user id."""
        ...

    def export(self, user_id: str | None) -> AsyncIterator[StoredMemory]:
        """Every memory of ``user_id``, oldest first (ties in the order they were written), read a page at
        a time so a client with many memories never sits in memory at once; ``None``: every user's, by user
        id, in one pass (thousands of namespaces cost a query per page, not one each)."""
        ...
