"""Which model names the proxy serves: the config's ``model_list`` names, their aliases and wildcards.

One answer for both backends, decided before a request reaches either, so an unknown model is the same
404 whichever backend runs. Wildcards mean what they mean to LiteLLM's Router (``claude/*`` serves
``claude/anything``): ``*`` matches any run of characters, and a name matches a pattern when the pattern
matches its beginning (LiteLLM's ``re.match`` without an end anchor). tests/unit/test_litellm_adapter.py
holds this to LiteLLM's own pattern router.
"""

from __future__ import annotations

import re
from typing import Any

from proxy.config import Config

__all__ = ["STATEFUL_RESPONSES_PROVIDERS", "ModelCatalog", "wildcard_regex"]

STATEFUL_RESPONSES_PROVIDERS = frozenset({"openai", "azure", "litellm_proxy"})
"""Providers that keep the responses they gave, so that a Responses request may continue one by
``previous_response_id``. For any other, LiteLLM answers such a request from its new input alone."""


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression LiteLLM's Router builds for a wildcard ``model_name``."""
    return re.compile(re.escape(pattern).replace(r"\*", "(.*)"))


def _provider(params: dict[str, Any]) -> str | None:
    named = params.get("custom_llm_provider")
    if isinstance(named, str) and named:
        return named
    model = params.get("model")
    return model.split("/", 1)[0] if isinstance(model, str) and "/" in model else None


def _specificity(regex: str) -> tuple[int, int]:
    return len(regex), sum(regex.count(char) for char in "*+?\\^$|()")


class ModelCatalog:
    """The served model names; built once per app from the config."""

    def __init__(self, config: Config) -> None:
        aliases = config.router_settings.get("model_group_alias") or {}
        self._model_list: list[dict[str, Any]] = [e for e in config.model_list if isinstance(e, dict)]
        self.names: tuple[str, ...] = tuple(dict.fromkeys([*config.model_names, *aliases]))
        self._exact = frozenset(self.names)
        self._aliases: dict[str, str] = {
            alias: target if isinstance(target, str) else str((target or {}).get("model"))
            for alias, target in aliases.items()
        }
        # The most specific pattern first, as LiteLLM orders them: the longer regex, then the busier one.
        self._patterns = tuple(
            sorted(
                ((name, wildcard_regex(name)) for name in config.model_names if "*" in name),
                key=lambda item: _specificity(item[1].pattern),
                reverse=True,
            )
        )

    def providers_of(self, model: str) -> frozenset[str]:
        """The providers of the deployments serving ``model`` (as their ``litellm_params`` name them:
        ``custom_llm_provider``, else the ``provider/`` of ``model``; empty where none is named)."""
        group = self.group_of(model)
        return frozenset(
            provider
            for entry in self._model_list
            if entry.get("model_name") == group and (provider := _provider(entry.get("litellm_params") or {}))
        )

    def deployment_of(self, model: str) -> dict[str, Any] | None:
        """The ``litellm_params`` of the first deployment serving ``model``, with a wildcard deployment's
        ``*`` filled in as LiteLLM fills it (``claude-any/x`` of ``anthropic/*`` is ``anthropic/x``)."""
        group = self.group_of(model)
        entry = next((e for e in self._model_list if e.get("model_name") == group), None)
        if group is None or entry is None:
            return None
        params = dict(entry.get("litellm_params") or {})
        target = params.get("model")
        named = self._aliases.get(model, model)
        match = wildcard_regex(group).match(named) if "*" in group else None
        if isinstance(target, str) and "*" in target and match is not None and match.groups():
            params["model"] = target.replace("*", match.group(1), 1)
        return params

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.group_of(model) is not None

    def group_of(self, model: str) -> str | None:
        """The ``model_name`` whose deployments serve ``model`` (None when nothing does)."""
        model = self._aliases.get(model, model)
        if model in self._exact:
            return model
        return next((name for name, regex in self._patterns if regex.match(model)), None)

    def listing(self) -> list[dict[str, Any]]:
        """The served names in OpenAI's model list shape, in config order, aliases last."""
        return [
            {"id": name, "object": "model", "created": 0, "owned_by": "litellm-memory-proxy"}
            for name in self.names
        ]
