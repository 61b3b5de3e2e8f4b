"""The backends: the one step of the request flow that differs (how a completion is obtained)."""

from proxy.backends.base import Backend

__all__ = ["Backend"]
