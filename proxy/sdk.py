"""``uvicorn proxy.sdk:app``: the memory proxy with LiteLLM in-process, configured as ``load_config`` says."""

from proxy.app import app_from_environment
from proxy.backends.sdk import SdkBackend

__all__ = ["app"]

app = app_from_environment(SdkBackend)
