"""Client identification: which memory namespace (``user_id``) a request's headers name.

The custom header wins, then the ordered User-Agent patterns (first match), then the default. The
built-in patterns match the strings real clients send (the README's table) as well as the seed's test strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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

DEFAULT_HEADER_PATTERNS: tuple[HeaderPattern, ...] = (
    # JetBrains AI Assistant talks through the openai-java client.
    HeaderPattern(header="user-agent", pattern=r"^OpenAIClient(Async)?Impl/Java", user_id="pycharm-ai"),
    # "claude-cli/2.1.197 (external, cli)", "claude-code/2.1.45", and the seed's "Claude Code CLI".
    HeaderPattern(
        header="user-agent",
        pattern=r"\bclaude[- ](cli|code)\b",
        user_id="claude-code",
        project=r"Primary working directory: (?P<path>[^\n]+)",
    ),
    # "codex_exec/0.171.0 (Debian 12.0.0; x86_64) ...", "codex_cli_rs/0.171.0 ..." (the interactive one).
    HeaderPattern(
        header="user-agent",
        pattern=r"^codex_\w+/",
        user_id="codex",
        project=r"<environment_context>\s*<cwd>(?P<path>[^<\n]+)</cwd>",
    ),
    # Codex names itself in an "originator" header too ("codex_exec", "codex_cli_rs", "codex_vscode"), which
    # holds where its User-Agent is another's (an editor extension's, a wrapper's).
    HeaderPattern(
        header="originator",
        pattern=r"^codex_",
        user_id="codex",
        project=r"<environment_context>\s*<cwd>(?P<path>[^<\n]+)</cwd>",
    ),
    # "Anthropic/Python 0.69.0", "AsyncAnthropic/Python 0.69.0", and the seed's "anthropic-sdk-python/1.0".
    HeaderPattern(
        header="user-agent",
        pattern=r"^(Async)?Anthropic/Python|anthropic-sdk-python",
        user_id="anthropic-python",
    ),
    HeaderPattern(header="user-agent", pattern=r"^(Async)?OpenAI/Python", user_id="openai-python"),
)


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
