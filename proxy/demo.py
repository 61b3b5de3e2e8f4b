"""The built-in demo model: needs no key and no network, and answers by echoing what it received.

It is a LiteLLM custom provider (``memory-proxy-demo/echo``, in :mod:`proxy.demo_llm`), registered through
``litellm_settings.custom_provider_map`` so that the same demo config works in-process (sdk backend) and
in a LiteLLM proxy process (binary backend). Echoing the whole prompt lets a newcomer see exactly what
reached the model, injected memory included.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEMO_MODEL_LIST", "DEMO_MODEL_NAME", "DEMO_SETTINGS", "echo_text", "prompt_words"]

DEMO_PROVIDER = "memory-proxy-demo"
DEMO_MODEL_NAME = "demo"
DEMO_MODEL_LIST: list[dict[str, Any]] = [
    {"model_name": DEMO_MODEL_NAME, "litellm_params": {"model": f"{DEMO_PROVIDER}/echo"}},
]
DEMO_SETTINGS: dict[str, Any] = {
    "custom_provider_map": [{"provider": DEMO_PROVIDER, "custom_handler": "proxy.demo_llm.echo_llm"}],
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def echo_text(messages: list[dict[str, Any]]) -> str:
    """The demo's answer: every message it received, one per line, role first."""
    lines = [f"{message.get('role', '?')}: {_text(message.get('content'))}" for message in messages]
    return f"[demo model, no provider called] I received {len(messages)} message(s):\n" + "\n".join(lines)


def prompt_words(messages: list[dict[str, Any]]) -> int:
    """How many words the messages hold: the demo's stand-in for a prompt's token count."""
    return sum(len(_text(message.get("content")).split()) for message in messages)
