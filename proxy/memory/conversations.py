"""Which earlier request a request continues, and what memory that conversation already holds.

Providers cache a prompt by its prefix (Anthropic's ``cache_control``, OpenAI's automatic caching): a turn
is cheap when everything before it is byte for byte what the previous turn sent. So memory recalled into a
conversation is pinned where it was first placed (:class:`Pin`) and re-applied unchanged on every later
turn; only memory new to the conversation is added, at its newest prompt, after everything cached.

A request continues a conversation when its messages extend, strictly, the messages of a request served
before: each message is hashed onto the hash of those before it, and the longest earlier prefix that was
served names the conversation (a Responses request that names a ``previous_response_id`` carries only its
new input: the answer's id names the conversation instead). Messages are compared as the client means
them, not byte for byte: Claude Code moves its ``cache_control`` marker to the newest turn and re-sends an
older one-part turn as a plain string, so markers are dropped and a string is one text part. The ledger
lives in this process, bounded and expiring: a conversation it has forgotten recalls afresh, which costs
one cache miss, never a wrong answer. Processes of one machine share what they served through
:mod:`proxy.memory.shared_ledger`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = ["Conversation", "Conversations", "Pin", "prefix_hashes", "response_key"]

MAX_CONVERSATIONS = 10_000
"""Served requests remembered (each is a prefix a later turn may extend)."""

TTL_SECONDS = 24 * 3600
"""How long an untouched conversation is remembered."""

MAX_PROMPTS = 20
"""A conversation's latest prompts kept to tell its own stored exchanges from other memories."""


@dataclass(frozen=True)
class Pin:
    """A block of recalled memory fixed to one place in a conversation.

    ``message`` is None for the system prompt, else the index (in the client's messages) of the user turn
    the block is placed before (``prefix``) or after (``suffix``).
    """

    text: str
    message: int | None = None
    where: Literal["system", "prefix", "suffix"] = "system"


@dataclass(frozen=True)
class Conversation:
    """What memory a conversation holds: its pins, in the order they were made, and what they recalled."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    pins: tuple[Pin, ...] = ()
    recalled: frozenset[str] = frozenset()
    """The memories already placed (their text), so none is placed twice."""
    prompts: tuple[str, ...] = ()
    """How the exchanges of its latest prompts begin, as stored: they are its own, never recalled into it
    (a Responses request that continues a stored response does not carry its earlier turns)."""

    def with_pin(self, pin: Pin, memories: Sequence[str]) -> Conversation:
        return replace(self, pins=(*self.pins, pin), recalled=self.recalled | frozenset(memories))

    def asked(self, head: str) -> Conversation:
        """This conversation with ``head`` among its prompts (the last :data:`MAX_PROMPTS` are kept)."""
        if head in self.prompts:
            return self
        return replace(self, prompts=(*self.prompts, head)[-MAX_PROMPTS:])


def _canonical(message: Any) -> Any:
    if isinstance(message, dict):
        if message.get("type") == "text" and set(message) <= {"type", "text", "cache_control"}:
            return {"type": "text", "text": message.get("text")}
        canonical = {key: _canonical(value) for key, value in message.items() if key != "cache_control"}
        if isinstance(canonical.get("content"), str):
            canonical["content"] = [{"type": "text", "text": canonical["content"]}]
        return canonical
    if isinstance(message, list):
        return [_canonical(item) for item in message]
    return message


def prefix_hashes(namespace: str, messages: Sequence[dict[str, Any]]) -> list[bytes]:
    """The hash of every prefix of ``messages`` (the first of one message, the last of all of them)."""
    digest = hashlib.sha256(namespace.encode()).digest()
    hashes = []
    for message in messages:
        encoded = json.dumps(_canonical(message), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256(digest + encoded.encode()).digest()
        hashes.append(digest)
    return hashes


def response_key(namespace: str, response_id: str) -> bytes:
    """Where the conversation whose answer had ``response_id`` is kept."""
    return hashlib.sha256(f"{namespace}\0response\0{response_id}".encode()).digest()


class Conversations:
    """The conversations served lately, by the hash of each served request's messages (thread-safe)."""

    def __init__(self, *, max_entries: int = MAX_CONVERSATIONS, ttl: float = TTL_SECONDS) -> None:
        self._entries: OrderedDict[bytes, tuple[float, Conversation]] = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl
        self._lock = threading.Lock()

    def find(self, hashes: Sequence[bytes]) -> Conversation | None:
        """The conversation a request continues: the one served with the longest strict prefix of it."""
        found = self.find_at(hashes)
        return found[1] if found is not None else None

    def find_at(self, hashes: Sequence[bytes]) -> tuple[int, Conversation] | None:
        """:meth:`find`, with the position among ``hashes`` of the prefix it was found by."""
        now = time.monotonic()
        with self._lock:
            for position in range(len(hashes) - 2, -1, -1):
                entry = self._entries.get(hashes[position])
                if entry is not None and now - entry[0] <= self._ttl:
                    return position, entry[1]
        return None

    def find_response(self, namespace: str, response_id: str) -> Conversation | None:
        """The conversation whose answer had ``response_id`` (a Responses ``previous_response_id``)."""
        with self._lock:
            entry = self._entries.get(response_key(namespace, response_id))
        if entry is not None and time.monotonic() - entry[0] <= self._ttl:
            return entry[1]
        return None

    def remember_response(self, namespace: str, response_id: str, conversation: Conversation) -> None:
        """Record that ``conversation``'s latest answer has ``response_id``."""
        self.remember([response_key(namespace, response_id)], conversation)

    def remember(self, hashes: Sequence[bytes], conversation: Conversation) -> None:
        """Record that the request with these hashes was served as ``conversation``."""
        if not hashes:
            return
        with self._lock:
            self._entries[hashes[-1]] = (time.monotonic(), conversation)
            self._entries.move_to_end(hashes[-1])
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
