"""A client's own housekeeping requests, which are not the person's conversation.

Claude Code asks the model for a session title on the side of each session (its own system prompt, the
session's first prompt wrapped in ``<session>``): recalled memory would only confuse that request, and its
answer ("Fix login button") is no memory of the person's. Which requests are side requests is data: each
client rule's ``side_requests`` (:mod:`proxy.client_rules`), or ``context_retrieval.side_requests``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from proxy.call import Api, Call
from proxy.client_rules import side_requests_of
from proxy.config import SideRequestRule

__all__ = ["DEFAULT_SIDE_REQUESTS", "SideRequests", "system_text"]

DEFAULT_SIDE_REQUESTS: tuple[SideRequestRule, ...] = side_requests_of()
"""A one-token probe, and the side requests of the built-in client rules (:mod:`proxy.client_rules`)."""


def system_text(call: Call) -> str:
    """The request's system prompt as text: Anthropic's ``system``, or OpenAI's system/developer messages."""
    if call.api is Api.MESSAGES:
        return _text(call.payload.get("system"))
    return "\n".join(
        _text(m.get("content")) for m in call.messages if m.get("role") in ("system", "developer")
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text"]
        return "\n".join(texts)
    return ""


def _max_tokens(payload: Mapping[str, Any]) -> int | None:
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = payload.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class SideRequests:
    """Tells a side request by the rules it was built with."""

    def __init__(self, rules: Iterable[SideRequestRule] = DEFAULT_SIDE_REQUESTS) -> None:
        self._rules = [
            (rule, re.compile(rule.system, re.IGNORECASE) if rule.system is not None else None)
            for rule in rules
            if rule.system is not None or rule.max_tokens_at_most is not None
        ]

    def match(self, call: Call) -> str | None:
        """The name of the rule ``call`` matches (None for a request of the conversation itself)."""
        system: str | None = None
        for rule, pattern in self._rules:
            if rule.max_tokens_at_most is not None:
                limit = _max_tokens(call.payload)
                if limit is None or limit > rule.max_tokens_at_most:
                    continue
            if pattern is not None:
                system = system_text(call) if system is None else system
                if not pattern.search(system):
                    continue
            return rule.name
        return None
