"""Supermemory's Memory Router: models whose ``api_base`` is a provider URL behind
``https://api.supermemory.ai/v3/``. Supermemory does the memory work for them (recall and storage), so the
proxy neither recalls nor stores for those models; it only names the user (``x-sm-user-id``) and its
Supermemory key in the headers the provider call carries.

Decided once per app, here: the flow asks :meth:`SupermemoryRouter.handles` before memory and
:meth:`SupermemoryRouter.headers_for` for the call's provider headers.
"""

from __future__ import annotations

from proxy.config import Config, resolve_env

__all__ = ["SUPERMEMORY_ROUTER_BASE", "SupermemoryRouter", "is_memory_router_base"]

SUPERMEMORY_ROUTER_BASE = "https://api.supermemory.ai/v3/"


def is_memory_router_base(api_base: str | None, supermemory_base_url: str) -> bool:
    """Whether ``api_base`` is a provider URL behind Supermemory's Memory Router (or a configured one)."""
    if not api_base:
        return False
    own = supermemory_base_url.rstrip("/") + "/v3/"
    return api_base.startswith((SUPERMEMORY_ROUTER_BASE, own))


class SupermemoryRouter:
    """Which model names go through the Memory Router (aliases included), and the headers they need."""

    def __init__(self, config: Config) -> None:
        base_url = config.context_retrieval.base_url
        routed = {
            entry["model_name"]
            for entry in config.model_list
            if is_memory_router_base(resolve_env(entry["litellm_params"].get("api_base")), base_url)
        }
        aliases = config.router_settings.get("model_group_alias") or {}
        targets = {alias: t if isinstance(t, str) else (t or {}).get("model") for alias, t in aliases.items()}
        self.models = frozenset(routed | {alias for alias, target in targets.items() if target in routed})
        self._api_key = config.context_retrieval.api_key

    def handles(self, model: str) -> bool:
        """Whether Supermemory does the memory work for calls to ``model``."""
        return model in self.models

    def headers_for(self, model: str, user_id: str) -> dict[str, str]:
        """The Memory Router headers for a call to ``model`` by ``user_id`` (empty for other models)."""
        if not self.handles(model):
            return {}
        headers = {"x-sm-user-id": user_id}
        if self._api_key:
            headers["x-supermemory-api-key"] = self._api_key
        return headers
