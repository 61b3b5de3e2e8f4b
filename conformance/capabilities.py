"""What a backend can do, as data: suites declare what they need, backends declare what they have.

A capability is a plain string, so a project can invent its own (``@pytest.mark.requires("my_cache")``)
without editing the kit. A test that needs one the backend lacks is skipped with that reason, never
silently passed. The names the kit's own suites use are listed here; the generic suites need none of
them except where a test says so, the product suites (memory, identification…) need theirs.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Capability"]


class Capability(StrEnum):
    """The capabilities the kit's suites ask for (any other string is a capability too)."""

    ANTHROPIC_MESSAGES = "anthropic_messages"
    """Serves Anthropic's ``/v1/messages`` (at least for Anthropic-format models)."""

    RESPONSES_API = "responses_api"
    """Serves OpenAI's Responses API (``/v1/responses``), JSON and its typed event stream (Codex CLI speaks
    only this)."""

    TOKEN_COUNTING = "token_counting"
    """Serves Anthropic's ``/v1/messages/count_tokens`` (Claude Code asks it), through the provider's own
    counting API where it has one."""

    EMBEDDINGS = "embeddings"
    """Serves OpenAI's ``/v1/embeddings``."""

    MEMORY_TOOL = "memory_tool"
    """``memory_proxy.memory_tool: serve``: runs Anthropic's memory tool for Anthropic Messages requests on
    the project's ``/memories`` and answers the client as if no tool had been called."""

    MCP = "mcp"
    """Serves its memory as MCP tools at ``/mcp`` (streamable HTTP): remember, recall, forget, list_recent,
    scoped like requests (a session's project from the client's roots)."""

    TRANSLATION = "translation"
    """Translates between the APIs as LiteLLM does: chat completions to an Anthropic-format model, and
    ``/v1/messages`` to an OpenAI-format model."""

    MODELS_FROM_CONFIG = "models_from_config"
    """``GET /v1/models`` lists exactly the config's ``model_list`` names (then its aliases)."""

    ROUTING = "routing"
    """Model aliases (``router_settings.model_group_alias``) and wildcard deployments (``claude-any/*``)."""

    ERROR_NORMALISATION = "error_normalisation"
    """Errors are answered with this project's table of status, type and code (docs/errors.md), whatever
    the provider sent, and every proxy-side error (unknown model or path, a body over the limit) in the
    protocol's envelope."""

    INPUT_VALIDATION = "input_validation"
    """Bad input is refused with a 400 before any provider call (not passed to the provider)."""

    PROXY_AUTH = "proxy_auth"
    """``memory_proxy.auth_key``: clients must present the proxy's own key."""

    CLIENT_CREDENTIALS = "client_credentials"
    """``memory_proxy.client_credentials``: the named models use the caller's own provider credential
    (``Authorization`` or ``x-api-key``), the proxy's key then travelling in ``x-memory-proxy-key``."""

    IDENTIFICATION = "identification"
    """Tells clients apart (User-Agent rules, ``x-memory-user-id``) and says which it saw in
    ``x-memory-user-id`` on every answer and in ``GET /memory-routing/info``."""

    MEMORY = "memory"
    """Recalls and stores memories per client (``context_retrieval``), on the local store and Supermemory."""

    HEALTH_DETAILS = "health_details"
    """``GET /health`` names the backend, and ``/health/readiness`` exists."""

    COOKIE_JAR = "cookie_jar"
    """The proxy owns the cookie jar between itself and the provider (a ``cf_clearance`` set by the
    provider is sent back on later calls). A separate LiteLLM process keeps its own HTTP clients."""

    IN_PROCESS_LITELLM = "in_process_litellm"
    """LiteLLM runs inside the proxy process, so its objects can be inspected from a test."""
