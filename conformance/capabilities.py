"""What a backend can do, as data: suites declare what they need, backends declare what they have.

Off by default, so a new backend opts in to each capability it really has; a test that needs a missing
one is skipped with the reason, never silently passed.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Capability"]


class Capability(StrEnum):
    COOKIE_JAR = "cookie_jar"
    """The proxy owns the cookie jar between LiteLLM and the provider (a ``cf_clearance`` set by the
    provider is sent back on later calls). A separate LiteLLM process keeps its own HTTP clients."""

    IN_PROCESS_LITELLM = "in_process_litellm"
    """LiteLLM runs inside the proxy process, so its objects can be inspected from a test."""

    MESSAGES_RETRY_AFTER = "messages_retry_after"
    """A provider's Retry-After reaches /v1/messages clients. The LiteLLM proxy drops it on that route: its
    429 carries no retry-after or llm_provider-* header (on /v1/chat/completions it keeps the provider's as
    llm_provider-retry-after), and its body only the provider's error message, which for Anthropic names no
    wait at all. So the binary backend cannot."""
