"""The ``[[fake:…]]`` directives a test writes into a prompt to script the fake provider's behaviour.

A directive travels inside the request body, so it survives every layer between the test and the fake
(the proxy, LiteLLM, an SDK) without any side channel; the fake obeys the first one it finds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DIRECTIVES", "Directive", "DirectiveError", "fake_directive", "parse_directive"]

DIRECTIVES: Mapping[str, str] = {
    "rate_limit": "429 with retry-after (param retry_after, default 7)",
    "bad_request": "400 invalid_request_error",
    "context_length": "400 that LiteLLM maps to ContextWindowExceededError",
    "auth": "401 authentication error",
    "permission": "403 permission error",
    "not_found": "404 model not found",
    "server_error": "500 server error",
    "overloaded": "503 with retry-after (529 overloaded_error on /v1/messages); param retry_after",
    "slow": "sleep `seconds` (default 1) before answering normally",
    "empty": "answer with no text at all (a model that says nothing, as after a tool loop's last result)",
    "malformed": "200 application/json whose body is not JSON (nor a stream), echoing the credentials it got",
    "cut": "stream `after` (default 2) content chunks, then drop the connection",
    "slow_stream": "stream `chunks` (default 40) content chunks `delay` (default 0.05) seconds apart",
    "cookie_challenge": "Cloudflare-like cf_clearance cookie: issue once, then 403 html without it",
    "tool_call": "if the request has tools, call the first one with {'echo': <last user text>}; with "
    "`rounds`, only until the conversation holds that many tool results (then answer: a tool loop's end); "
    "with `say` (underscores for spaces), say that before the call (JSON answers); with `cmd` (underscores "
    "for spaces), the arguments are {'cmd': <cmd>}, a shell tool's call (Codex's exec_command); with `tool`, "
    "call the tool of that name (an MCP tool: mcp__memory__remember) with the arguments `arg_NAME=value` "
    "(underscores for spaces)",
}
"""Directive name → what the fake does; the only names :func:`parse_directive` accepts."""

_DIRECTIVE_RE = re.compile(r"\[\[fake:([a-z_]+)((?:\s+[a-z_]+=[^\]\s]+)*)\]\]")
_PARAM_RE = re.compile(r"([a-z_]+)=([^\]\s]+)")


class DirectiveError(ValueError):
    """A ``[[fake:…]]`` directive the fake does not know, or with a bad parameter: a bug in the test."""


@dataclass(frozen=True)
class Directive:
    """One scripted behaviour parsed from the request text."""

    name: str
    params: Mapping[str, str] = field(default_factory=dict)

    def number(self, key: str, default: float) -> float:
        """A numeric parameter; a malformed value is a test bug, so it raises instead of defaulting."""
        raw = self.params.get(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise DirectiveError(f"[[fake:{self.name}]]: {key}={raw!r} is not a number") from None


def fake_directive(name: str, **params: object) -> str:
    """Format a directive for a prompt, e.g. ``fake_directive("rate_limit", retry_after=3)``."""
    if name not in DIRECTIVES:
        raise DirectiveError(f"unknown fake directive {name!r}; known: {', '.join(DIRECTIVES)}")
    args = "".join(f" {key}={value}" for key, value in params.items())
    return f"[[fake:{name}{args}]]"


def parse_directive(text: str) -> Directive | None:
    """The first directive in ``text``, or None; unknown names raise so a typo cannot pass silently."""
    match = _DIRECTIVE_RE.search(text)
    if match is None:
        return None
    name = match.group(1)
    if name not in DIRECTIVES:
        raise DirectiveError(f"unknown fake directive [[fake:{name}]]; known: {', '.join(DIRECTIVES)}")
    return Directive(name, dict(_PARAM_RE.findall(match.group(2))))
