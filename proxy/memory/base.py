"""The one small interface every memory store implements (recall, remember, list, forget).

Keeping stores behind it lets a shared store (Supermemory today; PostgreSQL later) replace the embedded
SQLite one without touching the request path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["MemoryRecord", "MemoryServiceError", "MemoryStore", "NewMemory"]


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


class MemoryServiceError(Exception):
    """The memory store failed (down, slow, refused, or answered garbage); recall goes on without it."""


class MemoryStore(Protocol):
    async def open(self) -> None:
        """Make sure the store can be used now (a file opened, its schema current), raising
        :class:`MemoryServiceError` if not: a broken store is found at start-up, not at first use."""
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

    async def wait_for_model(self, seconds: float) -> None:
        """Until whatever recall depends on has loaded, for a tool that can wait (no request waits)."""
        ...

    async def close(self) -> None: ...
