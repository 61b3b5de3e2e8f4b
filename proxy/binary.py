"""``uvicorn proxy.binary:app``: the memory proxy in front of a LiteLLM proxy process."""

from proxy.app import app_from_environment
from proxy.backends.binary import BinaryBackend

__all__ = ["app"]

app = app_from_environment(BinaryBackend)
