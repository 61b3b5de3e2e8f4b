"""Client identification: which memory namespace (``user_id``) a request's headers name.

The custom header wins, then the ordered User-Agent patterns (first match), then the default. The
built-in patterns match the strings real clients send (the README's table) as well as the seed's test strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.client_rules import CLIENT_RULES
from proxy.config import USER_ID_PATTERN, HeaderPattern, UserIdMappings
from proxy.errors import InvalidRequest

__all__ = [
    "DEFAULT_HEADER_PATTERNS",
    "USER_ID_RE",
    "ClientIdentifier",
    "ClientIdentity",
    "validate_user_id",
]

USER_ID_RE = re.compile(USER_ID_PATTERN)

DEFAULT_HEADER_PATTERNS: tuple[HeaderPattern, ...] = CLIENT_RULES
"""The built-in rules (:mod:`proxy.client_rules`), used when ``user_id_mappings.header_patterns`` is unset."""


def validate_user_id(value: str, *, source: str) -> str:
    """Return ``value`` if it may name a memory namespace, else raise a 400 naming ``source``."""
    if not USER_ID_RE.fullmatch(value):
        raise InvalidRequest(
            f"Invalid {source}: a user id is 1-128 characters of letters, digits, '.', '_', ':' or '-'.",
            param=source,
        )
    return value


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """Who a request is from, and why; ``as_info()`` is the flat /memory-routing/info body."""

    user_id: str
    matched_pattern: HeaderPattern | None = None
    custom_header_present: bool = False
    is_default: bool = False

    def as_info(self) -> dict[str, Any]:
        pattern = self.matched_pattern
        return {
            "user_id": self.user_id,
            "matched_pattern": pattern.model_dump(include={"header", "pattern", "user_id"})
            if pattern
            else None,
            "custom_header_present": self.custom_header_present,
            "is_default": self.is_default,
        }


class ClientIdentifier:
    """Identifies the client behind a request's headers; built once per app from ``user_id_mappings``."""

    def __init__(self, mappings: UserIdMappings) -> None:
        self.custom_header = mappings.custom_header.lower()
        self.default_user_id = mappings.default_user_id
        patterns = mappings.header_patterns
        self.patterns: tuple[HeaderPattern, ...] = (
            DEFAULT_HEADER_PATTERNS if patterns is None else tuple(patterns)
        )

    def identify(self, headers: Mapping[str, str]) -> ClientIdentity:
        """The client behind ``headers`` (case-insensitive, as Starlette's are); a bad custom header is a
        400."""
        custom = headers.get(self.custom_header)
        if custom is not None:
            return ClientIdentity(
                user_id=validate_user_id(custom.strip(), source=self.custom_header),
                custom_header_present=True,
            )
        for pattern in self.patterns:
            value = headers.get(pattern.header)
            if value is not None and pattern.regex.search(value):
                return ClientIdentity(user_id=pattern.user_id, matched_pattern=pattern)
        return ClientIdentity(user_id=self.default_user_id, is_default=True)
