"""Moving memory between stores: ``memory-proxy memories export`` and ``import``, one JSON object per line.

The file: a header line (``format``, ``version``, ``exported_at``, ``store``), then one line per memory
(``user_id``, ``id``, ``content``, ``metadata``, ``created_at``, ``custom_id``), by client and oldest first,
then an end line (``{"end": true, "memories": N}``). The end line is there so an export that was cut off
(a full disk, a store that failed half-way) is refused as a whole rather than imported in part. Vectors
are not in the file: they belong to the embedding model, and the importing store makes its own.

An import reads and checks the whole file before it writes anything, so a bad line costs nothing but the
message naming it. It then writes through :meth:`~proxy.memory.stores.base.MemoryStore.add_batch`, every
memory
under a ``custom_id`` (its own, else one made from its exported id), so importing a file twice, or again
after a failure half-way, replaces what the first attempt wrote instead of doubling it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proxy.errors import ProxyError
from proxy.identification import validate_user_id
from proxy.memory.journal import Journal
from proxy.memory.secrets import mask_secrets
from proxy.memory.stores.base import ExportableStore, MemoryStore, MemoryStoreError, NewMemory
from proxy.people import OWNER, Person
from proxy.scopes import namespace_kind

__all__ = [
    "FORMAT",
    "IMPORT_BATCH",
    "VERSION",
    "ExportFileError",
    "already_there",
    "import_memories",
    "move_memories",
    "read_export",
    "write_export",
]

FORMAT = "litellm-memory-proxy.memories"
VERSION = 1
MOVE_LIMIT = 1_000_000
"""The most memories one move takes from a namespace."""
IMPORT_BATCH = 500
"""Memories written per transaction by an import (with their vectors, where the model is ready)."""

_MEMORY_KEYS = frozenset({"user_id", "id", "content", "metadata", "created_at", "custom_id"})


class ExportFileError(ValueError):
    """A line of an export file that cannot be imported, and why."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


async def write_export(
    store: ExportableStore,
    store_name: str,
    user_id: str | None,
    write: Callable[[str], object],
    person: Person = OWNER,
) -> tuple[int, int]:
    """Write the export of ``user_id``'s memories (``None``: every namespace ``person`` sees), a line at a
    time through ``write``; returns how many memories, and of how many users."""
    exported_at = datetime.now(UTC).isoformat(timespec="seconds")
    write(_line({"format": FORMAT, "version": VERSION, "exported_at": exported_at, "store": store_name}))
    count = 0
    users: set[str] = set()
    async for memory in store.export(user_id):
        if not person.sees(memory.user_id):
            continue
        users.add(memory.user_id)
        write(
            _line(
                {
                    "user_id": memory.user_id,
                    "id": memory.id,
                    "content": memory.content,
                    "metadata": memory.metadata,
                    "created_at": memory.created_at,
                    "custom_id": memory.custom_id,
                }
            )
        )
        count += 1
    write(_line({"end": True, "memories": count}))
    return count, len(users)


def read_export(lines: Iterable[bytes]) -> list[NewMemory]:
    """Every memory of an export file (read as bytes, so text that is not UTF-8 is reported by line too),
    checked line by line; the first bad line raises :class:`ExportFileError` (with its number) before
    anything is written."""
    memories: list[NewMemory] = []
    header_seen = False
    end: int | None = None
    number = 0
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ExportFileError(number, "not UTF-8 text") from None
        if not text.strip():
            continue  # a blank line (a trailing one, say) holds nothing to lose
        item = _object(text, number)
        if end is not None:
            raise ExportFileError(number, "a line after the end line")
        if not header_seen:
            _check_header(item, number)
            header_seen = True
        elif "end" in item:
            if item != {"end": True, "memories": len(memories)}:
                raise ExportFileError(
                    number, f"the end line should be {{'end': true, 'memories': {len(memories)}}}"
                )
            end = number
        else:
            memories.append(_memory(item, number))
    if not header_seen:
        raise ExportFileError(1, f"empty: an export starts with a {FORMAT} header line")
    if end is None:
        raise ExportFileError(number + 1, "the file ends without the end line: was the export cut off?")
    return memories


async def import_memories(
    store: MemoryStore, memories: Sequence[NewMemory], *, journal: Path | None = None
) -> None:
    """Write ``memories`` in batches of :data:`IMPORT_BATCH`. When the store fails, what is not written yet
    goes to ``journal`` (the store's journal folder, :mod:`proxy.memory.journal`), where a running proxy
    finds it and stores it once the store is back; the error says how far it got and where the rest is."""
    for start in range(0, len(memories), IMPORT_BATCH):
        try:
            await store.add_batch(memories[start : start + IMPORT_BATCH])
        except MemoryStoreError as exc:
            written = f"after {start:,} of {len(memories):,} memories were written"
            if journal is None:
                raise MemoryStoreError(
                    f"{exc} ({written}: importing the file again completes it without doubling any)"
                ) from exc
            try:
                _journal(journal, memories[start:])
            except MemoryStoreError as problem:
                raise MemoryStoreError(
                    f"{exc} ({written}; {problem}: importing the file again completes it without doubling "
                    "any)"
                ) from exc
            raise MemoryStoreError(
                f"{exc} ({written}; the other {len(memories) - start:,} are in the journal at {journal}: the "
                "proxy stores them when the store is back, or import the file again)"
            ) from exc


async def already_there(store: MemoryStore, memories: Sequence[NewMemory]) -> int | None:
    """How many of ``memories`` the store holds already (by namespace and custom id: importing them again
    replaces them); None for a store that cannot list what it holds."""
    if not isinstance(store, ExportableStore):
        return None
    held: set[tuple[str, str]] = set()
    for user_id in {memory.user_id for memory in memories}:
        async for held_memory in store.export(user_id):
            if held_memory.custom_id is not None:
                held.add((user_id, held_memory.custom_id))
    return sum(1 for memory in memories if (memory.user_id, memory.custom_id) in held)


def _journal(folder: Path, memories: Sequence[NewMemory]) -> None:
    journal = Journal(folder, max_bytes=1 << 62)  # what the user asked to import is never refused
    try:
        journal.open()
    except OSError as exc:
        raise MemoryStoreError(f"the journal at {folder} cannot be opened either ({exc.strerror})") from exc
    try:
        for memory in memories:
            if journal.append(memory) is None:
                raise MemoryStoreError(f"the journal at {folder} cannot be written either")
    finally:
        journal.close()  # the entries stay, pending, for the next process that claims the file


def _line(item: dict[str, Any]) -> str:
    """One line of the file: ASCII only (escapes instead), so no terminal or locale can garble it."""
    return json.dumps(item, allow_nan=False) + "\n"


def _object(text: str, number: int) -> dict[str, Any]:
    try:
        item = json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ExportFileError(number, f"not JSON ({exc})") from None
    if not isinstance(item, dict):
        raise ExportFileError(number, "not a JSON object")
    return item


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _check_header(item: dict[str, Any], number: int) -> None:
    if item.get("format") != FORMAT:
        raise ExportFileError(number, f"not a memory export (its first line has no format {FORMAT!r})")
    version = item.get("version")
    if version != VERSION or isinstance(version, bool):
        raise ExportFileError(
            number, f"format version {version!r}: this memory-proxy reads version {VERSION}"
        )


def _memory(item: dict[str, Any], number: int) -> NewMemory:
    """A memory line as what to store: its user's namespace checked as a request's would be."""
    missing = sorted(_MEMORY_KEYS - item.keys())
    unknown = sorted(item.keys() - _MEMORY_KEYS)
    if missing or unknown:
        reason = f"lacks {', '.join(missing)}" if missing else f"unknown key {', '.join(unknown)}"
        raise ExportFileError(number, f"not a memory: {reason}")
    memory_id = _text(item, "id", number)
    custom_id = None if item["custom_id"] is None else _text(item, "custom_id", number)
    try:
        user_id = validate_user_id(_text(item, "user_id", number), source="user_id")
    except ProxyError as exc:
        raise ExportFileError(number, exc.message) from None
    metadata, created_at = item["metadata"], item["created_at"]
    if not isinstance(metadata, dict):
        raise ExportFileError(number, "metadata is not a JSON object")
    if (
        not isinstance(created_at, int | float)
        or isinstance(created_at, bool)
        or not math.isfinite(created_at)
    ):
        raise ExportFileError(number, "created_at is not a time in seconds since the epoch")
    return NewMemory(
        user_id,
        mask_secrets(_text(item, "content", number, empty=True)),  # an export older than the masking
        metadata,
        custom_id or f"import_{memory_id}",
        float(created_at),
    )


def _text(item: dict[str, Any], key: str, number: int, *, empty: bool = False) -> str:
    """A string a store can keep: UTF-8 (JSON's escapes can spell half a character), non-empty unless
    ``empty``."""
    value = item[key]
    if not isinstance(value, str) or not (value or empty):
        raise ExportFileError(number, f"{key} is not a {'' if empty else 'non-empty '}string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ExportFileError(number, f"{key} holds half a UTF-16 character") from None
    return value


async def move_memories(
    store: MemoryStore, source: str, target: str, only: Collection[str] | None = None
) -> int:
    """Move ``source``'s memories (those with an id in ``only``, or all) to ``target``: a project fact taken
    for the person's back to its project, or the reverse. Each keeps its content, metadata (its ``scope``
    becoming the target's kind) and time, and is written where it goes before it leaves where it was, so a
    failure half-way leaves a memory twice, never nowhere. Returns how many moved."""
    records = [r for r in await store.list(source, limit=MOVE_LIMIT) if only is None or r.id in only]
    kind = namespace_kind(target)
    moved = [
        NewMemory(target, r.content, {**r.metadata, "scope": kind}, None, r.created_at)
        for r in reversed(records)  # oldest first, as they were written
    ]
    await store.add_batch(moved)
    for record in records:
        await store.forget(source, record.id)
    return len(moved)
