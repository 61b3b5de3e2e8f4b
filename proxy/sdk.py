"""``uvicorn proxy.sdk:app``: the memory proxy with LiteLLM in-process, configured as ``load_config`` says."""

from proxy.app import create_app
from proxy.backends.sdk import SdkBackend
from proxy.config import load_config

__all__ = ["app"]

config = load_config()
app = create_app(config, SdkBackend(config))
