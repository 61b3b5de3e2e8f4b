"""Where the proxy keeps its files on this machine, by the XDG base directory spec.

A relative ``XDG_*_HOME`` is ignored, as the spec says, so a file does not move with the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["APP_DIR", "cache_home", "config_home", "data_home"]

APP_DIR = "litellm-memory-proxy"
"""The folder of this application inside each XDG base directory."""


def _base(variable: str, fallback: Path) -> Path:
    value = os.environ.get(variable, "")
    return Path(value) if value and os.path.isabs(value) else fallback


def data_home() -> Path:
    """``$XDG_DATA_HOME/litellm-memory-proxy`` (``~/.local/share/...`` by default): memories."""
    return _base("XDG_DATA_HOME", Path.home() / ".local" / "share") / APP_DIR


def config_home() -> Path:
    """``$XDG_CONFIG_HOME/litellm-memory-proxy`` (``~/.config/...`` by default): the port registry."""
    return _base("XDG_CONFIG_HOME", Path.home() / ".config") / APP_DIR


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/litellm-memory-proxy`` (``~/.cache/...`` by default): what can be made again."""
    return _base("XDG_CACHE_HOME", Path.home() / ".cache") / APP_DIR
