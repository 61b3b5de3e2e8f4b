"""Supermemory as a memory store: recall through ``/v4/profile``, store through ``/v3/documents``.

Everything is scoped by ``containerTag = user_id`` (the earlier codebase used one tag for everyone, so
users saw each other's memories). A recall combines the profile's static and dynamic facts with the
search results, which carry either ``memory`` or ``chunk``: both are used. Any failure (status, transport,
a body that is not the documented shape) is a :class:`MemoryStoreError`, which the caller treats as
"no memory this time".

Not an :class:`~proxy.memory.stores.base.ExportableStore`: this client has no call that lists every container
tag, nor a document's custom id and time, so ``memory-proxy memories export`` refuses it; importing into
it works (through :meth:`SupermemoryStore.add_batch`), each document timed by Supermemory itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from proxy.memory.stores.base import MemoryRecord, MemoryRefused, MemoryStoreError, NewMemory

__all__ = ["SupermemoryStore"]

BATCH_CONCURRENCY = 8
"""Documents of one write-back batch sent at once."""


_REFUSALS = frozenset({400, 404, 409, 413, 415, 422})
"""Statuses that refuse what was sent (it is too large, or malformed), not Supermemory's state (a 401, a 429,
a 5xx): that write is given up rather than tried for ever."""


class SupermemoryStore:
    """A client of the Supermemory API over one persistent ``httpx.AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    recall_mode: str | None = None
    """Supermemory's own recall is semantic: nothing limits it on our side."""

    async def open(self) -> None:
        """Nothing to open: a down Supermemory shows in recall's status header, request by request."""

    async def wait_for_model(self, seconds: float) -> None:
        """Nothing to wait for: the model is Supermemory's."""

    async def _call(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> Any:
        """Supermemory's JSON answer; None for a 204, and for a 404 when ``missing_ok``."""
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise MemoryStoreError(f"Supermemory unreachable: {type(exc).__name__}") from exc
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            detail = response.headers.get("retry-after")
            suffix = f" (retry after {detail}s)" if detail else ""
            error = MemoryRefused if response.status_code in _REFUSALS else MemoryStoreError
            raise error(f"Supermemory answered {response.status_code}{suffix}")
        if response.status_code == 204 or not response.content:
            return None  # DELETE answers 204 with no body
        try:
            return response.json()
        except ValueError as exc:
            raise MemoryStoreError("Supermemory answered something that is not JSON") from exc

    async def add(
        self,
        user_id: str,
        content: str,
        *,
        metadata: dict[str, Any] | None = None,
        custom_id: str | None = None,
    ) -> str:
        body: dict[str, Any] = {"content": content, "containerTag": user_id, "metadata": metadata or {}}
        body["customId"] = custom_id or f"conv_{uuid.uuid4().hex}"
        answer = await self._call("POST", "/v3/documents", json=body)
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise MemoryStoreError("Supermemory's answer to a new document has no id")
        return answer["id"]

    async def add_batch(self, memories: Sequence[NewMemory]) -> list[str]:
        """One document per memory (Supermemory has no transaction to share), ``BATCH_CONCURRENCY`` at a
        time; the first failure is raised once all have been tried, and a retry of the batch replaces the
        documents already stored through their custom ids rather than doubling them."""
        limit = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def add(memory: NewMemory) -> str:
            async with limit:
                return await self.add(
                    memory.user_id, memory.content, metadata=memory.metadata, custom_id=memory.custom_id
                )

        results = await asyncio.gather(*(add(memory) for memory in memories), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [result for result in results if isinstance(result, str)]

    async def search(self, user_id: str, query: str, *, limit: int = 5) -> list[MemoryRecord]:
        if not query.strip():
            return []
        answer = await self._call("POST", "/v4/profile", json={"containerTag": user_id, "q": query})
        if not isinstance(answer, dict):
            raise MemoryStoreError("Supermemory's profile answer is not an object")
        now = time.time()
        profile = answer.get("profile") or {}
        facts = [
            MemoryRecord(id=_profile_id(fact), user_id=user_id, content=fact, created_at=now, score=1.0)
            for fact in _profile_facts(profile)
        ]
        found: list[MemoryRecord] = []
        for result in (answer.get("searchResults") or {}).get("results") or []:
            text = result.get("memory") or result.get("chunk") if isinstance(result, dict) else None
            if isinstance(text, str) and text.strip():
                found.append(
                    MemoryRecord(
                        id=str(result.get("id", "")),
                        user_id=user_id,
                        content=text,
                        created_at=now,
                        metadata=result.get("metadata") or {},
                        score=float(result.get("similarity") or 0.0),
                    )
                )
        # The profile is short and always relevant; search results are capped, and one that the profile
        # already holds word for word is shown once (with one id, which forget takes).
        known = {fact.content for fact in facts}
        return facts + [record for record in found if record.content not in known][:limit]

    async def list(self, user_id: str, *, limit: int = 100) -> list[MemoryRecord]:
        answer = await self._call("GET", "/v4/memories", params={"containerTag": user_id, "limit": limit})
        items = answer.get("memories") or answer.get("results") or [] if isinstance(answer, dict) else []
        return [
            MemoryRecord(
                id=str(item.get("id", "")),
                user_id=user_id,
                content=str(item.get("memory") or item.get("content") or item.get("chunk") or ""),
                created_at=0.0,
                metadata=item.get("metadata") or {},
            )
            for item in items
            if isinstance(item, dict)
        ][:limit]

    async def forget(self, user_id: str, memory_id: str | None = None) -> int:
        """One memory of ``user_id``, or all of them (its profile's facts included). Supermemory deletes a
        document by id alone, whoever's it is, so an id is deleted only when the client's own listing holds
        it. A profile fact (what recall shows as ``profile-…``) is forgotten by its text, in its container."""
        if memory_id is not None and memory_id.startswith(PROFILE_ID_PREFIX):
            facts = [fact for fact in await self._profile(user_id) if _profile_id(fact) == memory_id]
            for fact in facts:
                await self._forget_fact(user_id, fact)
            return len(facts)
        own = [record.id for record in await self.list(user_id, limit=1000)]
        ids = [memory_id] if memory_id in own else [] if memory_id else own
        for item in ids:
            await self._call("DELETE", f"/v3/documents/{quote(item, safe='')}")
        if memory_id is None:
            facts = await self._profile(user_id)  # what is left once its documents are gone
            for fact in facts:
                await self._forget_fact(user_id, fact)
            return len(ids) + len(facts)
        return len(ids)

    async def _profile(self, user_id: str) -> list[str]:
        answer = await self._call("POST", "/v4/profile", json={"containerTag": user_id})
        return _profile_facts(answer.get("profile") or {}) if isinstance(answer, dict) else []

    async def _forget_fact(self, user_id: str, fact: str) -> None:
        """Forget a profile fact by its text; one already gone (with the document it came from) is fine."""
        body = {"containerTag": user_id, "content": fact}
        await self._call("DELETE", "/v4/memories", json=body, missing_ok=True)

    async def prune(self, user_id: str, *, keep: int | None = None, before: float | None = None) -> int:
        """Forget ``user_id``'s memories past its ``keep`` newest, and those made ``before``: as far as its
        listing reaches (the newest 1,000), one document at a time, as Supermemory deletes them."""
        listed = await self.list(user_id, limit=1000)
        doomed = [
            record.id
            for n, record in enumerate(listed)
            if (keep is not None and n >= keep) or (before is not None and record.created_at < before)
        ]
        for item in doomed:
            await self._call("DELETE", f"/v3/documents/{quote(item, safe='')}")
        return len(doomed)

    async def close(self) -> None:
        await self._client.aclose()


PROFILE_ID_PREFIX = "profile-"


def _profile_facts(profile: Any) -> list[str]:
    """The profile's static facts, then its dynamic ones (each once)."""
    if not isinstance(profile, dict):
        return []
    facts = [fact for kind in ("static", "dynamic") for fact in profile.get(kind) or []]
    return list(dict.fromkeys(fact for fact in facts if isinstance(fact, str)))


def _profile_id(fact: str) -> str:
    """A profile fact's id: its text's digest, so it names the same fact in every recall (the profile has no
    ids of its own) and forget can find it again."""
    return PROFILE_ID_PREFIX + hashlib.sha256(fact.encode()).hexdigest()[:16]
