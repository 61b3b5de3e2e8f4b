"""Model listing parity."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.capabilities import Capability

__all__ = ["ModelsSuite"]


def _served(config: dict[str, Any]) -> list[str]:
    """The config's model names, in order and once each, then its aliases."""
    names = dict.fromkeys(entry["model_name"] for entry in config["model_list"])
    return [*names, *((config.get("router_settings") or {}).get("model_group_alias") or {})]


@pytest.mark.parity
@pytest.mark.requires(Capability.MODELS_FROM_CONFIG)
class ModelsSuite:
    @pytest.mark.parametrize("path", ["/v1/models", "/models"])
    def test_lists_every_configured_model(self, proxy, path):
        """GET /v1/models lists each model_name of the config, then its aliases, in OpenAI's list shape."""
        with proxy.client() as http:
            response = http.get(path)
        assert response.status_code == 200
        body = response.json()
        assert body["object"] == "list"
        assert [model["id"] for model in body["data"]] == _served(proxy.config)
        assert all(model["object"] == "model" for model in body["data"])

    def test_openai_sdk_lists_models(self, proxy):
        """The openai SDK's models.list() parses the listing."""
        ids = [model.id for model in proxy.openai().models.list()]
        assert ids == _served(proxy.config)
