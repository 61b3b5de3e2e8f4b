"""What a local memory store holds, read through its seam: the end-to-end tests' backdoor to the store."""

from __future__ import annotations

import asyncio
from pathlib import Path

__all__ = ["memories_in"]


def memories_in(path: Path, user_id: str) -> list[str]:
    """The contents of ``user_id``'s memories in the local store at ``path``, newest first."""
    from proxy.memory.stores.local.store import LocalMemoryStore

    async def read() -> list[str]:
        store = LocalMemoryStore(path)
        try:
            return [record.content for record in await store.list(user_id)]
        finally:
            await store.close()

    return asyncio.run(read())
