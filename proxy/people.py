"""Whose memory a request is: the person its key names, on a proxy a team shares.

With ``memory_proxy.keys`` each key names a person, and everything that person's clients remember is kept
under their name: ``sam:billing-api-3f9c1e`` for a project, ``sam:claude-code`` for a client,
``sam:<x-memory-user-id>`` for a namespace a request names outright, and ``person:sam`` for what holds in
every project. A name holds no ``:``, so nothing another person's request can name reaches those
namespaces, whatever it sends; ``person`` itself is no one's name, since ``person:<x>`` is already taken.
Without ``keys`` (one ``auth_key``, or none) the proxy serves one person, :data:`OWNER`, and namespaces are
the plain ones they have always been.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxy.errors import InvalidRequest

__all__ = ["OWNER", "PERSON_NAME_PATTERN", "RESERVED_NAME", "Person"]

PERSON_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,39}$"
"""A person's name: lower case, no ``:`` (what keeps one person's namespaces apart from another's), and
not :data:`RESERVED_NAME`."""
RESERVED_NAME = "person"

_MAX_NAMESPACE = 128
_PROJECT_HASH = re.compile(r"-[0-9a-f]{6}$")


@dataclass(frozen=True, slots=True)
class Person:
    """Who sent a request: a named person of ``memory_proxy.keys``, or the one person of a proxy without
    them (``name`` None, whose namespaces carry no prefix)."""

    name: str | None
    admin: bool = False
    """Sees and changes every person's memories in the console (the one person always does)."""

    @property
    def prefix(self) -> str:
        return f"{self.name}:" if self.name is not None else ""

    def namespace(self, name: str) -> str:
        """``name`` inside this person's memory. A project's id too long for the prefix keeps its path's
        hash and loses the end of its directory name; any other name that no longer fits is a 400."""
        inside = self.prefix + name
        if len(inside) <= _MAX_NAMESPACE:
            return inside
        hashed = _PROJECT_HASH.search(name)
        if hashed is None:
            raise InvalidRequest(
                f"The memory namespace {name[:40]!r}… is too long: with the prefix of your key's person "
                f"({self.prefix!r}) it must stay within {_MAX_NAMESPACE} characters.",
                param="user_id",
            )
        room = _MAX_NAMESPACE - len(self.prefix) - len(hashed.group())
        return self.prefix + name[: hashed.start()][:room].rstrip("-.:_") + hashed.group()

    def sees(self, namespace: str) -> bool:
        """Whether this person may read and change ``namespace`` (the console, the CLI's filters)."""
        if self.admin or self.name is None:
            return True
        return namespace.startswith(self.prefix) or namespace == f"person:{self.name}"


OWNER = Person(name=None, admin=True)
"""The one person of a proxy without ``memory_proxy.keys``."""
