"""Running the LiteLLM proxy process the binary backend talks to.

``litellm --config FILE`` reads the same config file as the memory proxy (it ignores our sections). It
needs a strong master key to start, and without ``LITELLM_LOCAL_MODEL_COST_MAP`` it would try to fetch its
cost map from the network at every start.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from pathlib import Path

__all__ = ["generate_master_key", "litellm_command", "litellm_environment"]


def generate_master_key() -> str:
    """A strong LiteLLM master key (LiteLLM wants the ``sk-`` prefix)."""
    return "sk-" + secrets.token_urlsafe(32)


def _litellm_executable() -> str:
    beside_python = Path(sys.executable).with_name("litellm")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("litellm")
    if found is None:
        raise FileNotFoundError("the 'litellm' command is not installed (pip install 'litellm[proxy]')")
    return found


def litellm_command(config_file: str | Path, *, host: str = "127.0.0.1", port: int = 4000) -> list[str]:
    return [_litellm_executable(), "--config", str(config_file), "--host", host, "--port", str(port)]


def litellm_environment(base: dict[str, str], master_key: str) -> dict[str, str]:
    """The environment for the LiteLLM child: ``base`` plus the master key and the offline cost map.

    LiteLLM's default aiohttp transport drops what a provider sent just before its connection broke
    (aiohttp's ``StreamReader`` raises the connection error before handing out data it already buffered),
    so a stream cut mid-answer loses its last chunks at random. httpx's transport relays them; it is chosen
    unless ``base`` says otherwise.
    """
    return {
        "DISABLE_AIOHTTP_TRANSPORT": "True",
        **base,
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
