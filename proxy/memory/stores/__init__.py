"""The memory stores, opened by the name ``context_retrieval.provider`` gives.

Each store lives in its own module behind :class:`~proxy.memory.stores.base.MemoryStore`, the one seam the
service, the CLI and the console use. What else the proxy needs to know of a store (how it is described at
start-up, where its write-back journal lives) is said once, here, in its :class:`StoreKind`: a new store is
its module and one entry in :data:`STORES`. A store's module is imported only when it is opened, so the
PostgreSQL driver or the embedding model never load for a proxy that does not use them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from proxy.paths import data_home
from proxy.redaction import redact

if TYPE_CHECKING:
    from proxy.config import ContextRetrieval
    from proxy.memory.stores.base import MemoryStore

__all__ = ["STORES", "StoreKind", "describe_store", "journal_folder", "open_store"]


@dataclass(frozen=True)
class StoreKind:
    """What the proxy knows of one kind of store besides its :class:`MemoryStore` methods."""

    open: Callable[[ContextRetrieval], MemoryStore]
    """The store for these settings, not opened yet (its ``open()`` runs at start-up)."""
    where: Callable[[ContextRetrieval], str]
    """Where its memories are, as shown at start-up: never a password."""
    identity: Callable[[ContextRetrieval], str]
    """What tells this store apart from every other of its kind (a file, a database, an account): the
    next process on the same identity takes over what a stopped one left in its journal."""
    recalls_by_meaning: bool
    """Whether ``semantic`` applies: recall by meaning is this proxy's (an embedding model it loads), not
    the store service's."""
    journal_beside: bool = False
    """The identity is a file the user chose: its journal is a folder beside it, not in the data home."""


def _local(settings: ContextRetrieval) -> MemoryStore:
    from proxy.memory.recall.embeddings import shared_loader
    from proxy.memory.stores.local.store import LocalMemoryStore

    semantic = shared_loader(settings.embedding_runtime) if settings.semantic else None
    return LocalMemoryStore(
        settings.local_store_path, semantic=semantic, min_similarity=settings.min_similarity
    )


def _local_file(settings: ContextRetrieval) -> str:
    from proxy.memory.stores.local.store import default_path

    return str(settings.local_store_path or default_path())


def _postgres(settings: ContextRetrieval) -> MemoryStore:
    from proxy.memory.recall.embeddings import shared_loader
    from proxy.memory.stores.postgres.store import PostgresMemoryStore

    assert settings.dsn is not None  # the config requires it
    semantic = shared_loader(settings.embedding_runtime) if settings.semantic else None
    return PostgresMemoryStore(settings.dsn, semantic=semantic, min_similarity=settings.min_similarity)


def _postgres_identity(settings: ContextRetrieval) -> str:
    """The DSN without its password: a new password is still the same database."""
    from proxy.memory.stores.postgres.dsn import dsn_passwords

    identity = settings.dsn or ""
    for password in dsn_passwords(identity):
        identity = identity.replace(password, "")
    return identity


def _supermemory(settings: ContextRetrieval) -> MemoryStore:
    from proxy.memory.stores.supermemory import SupermemoryStore

    return SupermemoryStore(settings.base_url, settings.api_key, timeout=settings.timeout)


STORES: dict[str, StoreKind] = {
    "local": StoreKind(
        _local,
        lambda s: f"local store at {_local_file(s)}",
        _local_file,
        recalls_by_meaning=True,
        journal_beside=True,
    ),
    "postgres": StoreKind(
        _postgres,
        lambda s: f"PostgreSQL at {redact(s.dsn or '')}",
        _postgres_identity,
        recalls_by_meaning=True,
    ),
    "supermemory": StoreKind(
        _supermemory,
        lambda s: f"Supermemory at {s.base_url}",
        lambda s: f"{s.base_url}\0{s.api_key or ''}",  # one URL serves many accounts
        recalls_by_meaning=False,
    ),
}
"""Every store, by the name ``context_retrieval.provider`` gives it."""


def open_store(settings: ContextRetrieval) -> MemoryStore:
    """The store ``context_retrieval.provider`` names, not opened yet."""
    return STORES[settings.provider].open(settings)


def describe_store(settings: ContextRetrieval) -> str:
    """Where the store's memories are, for the start-up banner (a DSN's password masked)."""
    return STORES[settings.provider].where(settings)


def journal_folder(settings: ContextRetrieval) -> Path:
    """Where this store's write-back journal lives: ``journal_dir``, else beside the local store's file,
    else a folder of its own per store identity under the data home (only a digest of the identity is in
    the folder's name, so no key or address ever is)."""
    if settings.journal_dir:
        return Path(settings.journal_dir)
    kind = STORES[settings.provider]
    identity = kind.identity(settings)
    if kind.journal_beside:
        return Path(identity).with_name(f"{Path(identity).name}.journal")
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return data_home() / "journal" / f"{settings.provider}-{digest}"
