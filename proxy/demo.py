"""The built-in demo model: needs no key and no network, and answers by echoing what it received.

It is a LiteLLM custom provider (``memory-proxy-demo/echo``, in :mod:`proxy.demo_llm`), registered through
``litellm_settings.custom_provider_map`` so that the same demo config works in-process (sdk backend) and
in a LiteLLM proxy process (binary backend). Echoing the whole prompt lets a newcomer see exactly what
reached the model, injected memory included.

Any client must work against it unchanged: it answers every model name (Claude Code asks for its own
Claude models, Codex for its GPT ones), and it drops the parameters an echo cannot take (Claude Code sends
thinking settings, which LiteLLM turns into ``reasoning_effort``). Its memories go to a store of their
own, never the user's default store, so echoes never sit beside real memories.
"""

from __future__ import annotations

from typing import Any

from proxy.memory.placement import CONTEXT_HEADING

__all__ = [
    "DEMO_MODEL_LIST",
    "DEMO_MODEL_NAME",
    "DEMO_SETTINGS",
    "DEMO_STORE_NAME",
    "ECHO_LIMIT",
    "echo_text",
    "prompt_words",
]

DEMO_PROVIDER = "memory-proxy-demo"
DEMO_MODEL_NAME = "demo"
ECHO_LIMIT = 300
"""Characters of each message the echo repeats (the recalled memory block is always shown whole)."""
DEMO_STORE_NAME = "demo-memory.sqlite3"
"""The demo's own SQLite file, beside the default store (``$XDG_DATA_HOME/litellm-memory-proxy/``)."""
_ECHO = {"model": f"{DEMO_PROVIDER}/echo"}
DEMO_MODEL_LIST: list[dict[str, Any]] = [
    {"model_name": DEMO_MODEL_NAME, "litellm_params": dict(_ECHO)},
    {"model_name": "*", "litellm_params": dict(_ECHO)},  # whatever name a client asks for
]
DEMO_SETTINGS: dict[str, Any] = {
    "drop_params": True,
    "custom_provider_map": [{"provider": DEMO_PROVIDER, "custom_handler": "proxy.demo_llm.echo_llm"}],
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _capped(text: str) -> str:
    if len(text) <= ECHO_LIMIT:
        return text
    return f"{text[:ECHO_LIMIT]}… ({len(text) - ECHO_LIMIT} more characters)"


def _shown(text: str) -> str:
    """A message's text as the echo shows it: the proxy's memory block whole, the rest capped, so a coding
    agent's long system prompt does not bury what memory added."""
    start = text.find(CONTEXT_HEADING)
    if start < 0:
        return _capped(text)
    end = text.find("\n\n", start)
    end = len(text) if end < 0 else end
    pieces = (_capped(text[:start].strip()), text[start:end], _capped(text[end:].strip()))
    return "\n".join(piece for piece in pieces if piece)


def echo_text(messages: list[dict[str, Any]]) -> str:
    """The demo's answer: every message it received, one per line, role first (each at most
    :data:`ECHO_LIMIT` characters but for the recalled memory, shown whole)."""
    lines = [f"{message.get('role', '?')}: {_shown(_text(message.get('content')))}" for message in messages]
    return f"[demo model, no provider called] I received {len(messages)} message(s):\n" + "\n".join(lines)


def prompt_words(messages: list[dict[str, Any]]) -> int:
    """How many words the messages hold: the demo's stand-in for a prompt's token count."""
    return sum(len(_text(message.get("content")).split()) for message in messages)
