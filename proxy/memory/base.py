"""The one small interface every memory store implements (recall, remember, list, forget).

Keeping stores behind it lets a shared store (Supermemory today; PostgreSQL later) replace the embedded
SQLite one without touching the request path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["MemoryRecord", "MemoryServiceError", "MemoryStore"]


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


class MemoryServiceError(Exception):
    """The memory store failed (down, slow, refused, or answered garbage); recall goes on without it."""


class MemoryStore(Protocol):
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

    async def search(self, user_id: str, query: str, *, limit: int = 5) -> list[MemoryRecord]: ...

    async def list(self, user_id: str, *, limit: int = 100) -> list[MemoryRecord]: ...

    async def forget(self, user_id: str, memory_id: str | None = None) -> int: ...

    async def wait_for_model(self, seconds: float) -> None:
        """Until whatever recall depends on has loaded, for a tool that can wait (no request waits)."""
        ...

    async def close(self) -> None: ...
