"""The data the kit ships and reads: the conformance config, captured client requests, real clients'
User-Agent strings, Supermemory's documented shapes.

Read through :mod:`importlib.resources`, lazily (only when a test needs it), so the kit works the same from
a checkout, an installed wheel or a zip.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

__all__ = ["read_json", "read_text"]


def read_text(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


@functools.cache
def _parsed(name: str) -> str:
    return read_text(name)


def read_json(name: str) -> Any:
    """The JSON resource ``name``, parsed afresh (a test may change what it gets)."""
    return json.loads(_parsed(name))
