"""Embeddings parity: ``/v1/embeddings`` reaches the provider through LiteLLM, with no memory involved."""

from __future__ import annotations

import pytest

from conformance.capabilities import Capability
from conformance.fakes import embedding_of, fake_directive
from conformance.suites.support import last_call, model_calls, unique

__all__ = ["EmbeddingsSuite"]


@pytest.mark.parity
@pytest.mark.requires(Capability.EMBEDDINGS)
class EmbeddingsSuite:
    @pytest.mark.parametrize("path", ["/v1/embeddings", "/embeddings"])
    def test_embeddings_are_the_providers(self, proxy, fake_provider, path):
        """An embeddings request returns the provider's vectors, one per input in order, after one
        provider call with the config's key and the client's inputs."""
        texts = [unique("first"), unique("second")]
        with proxy.client() as http:
            response = http.post(path, json={"model": "embed-fake", "input": texts})
        assert response.status_code == 200, response.text
        body = response.json()
        assert [item["embedding"] for item in body["data"]] == [embedding_of(text) for text in texts]
        assert [item["index"] for item in body["data"]] == [0, 1]
        [upstream] = model_calls(fake_provider)
        assert upstream.endpoint == "/embeddings"
        assert upstream.json["input"] == texts
        assert upstream.headers["authorization"] == "Bearer sk-fake-provider-key-0123456789"

    def test_openai_sdk_embeds(self, proxy):
        """The openai SDK's ``embeddings.create`` gets the vector, with dimensions passed on."""
        text = unique()
        created = proxy.openai().embeddings.create(model="embed-fake", input=text, dimensions=4)
        assert created.data[0].embedding == embedding_of(text, 4)
        assert last_call(proxy.provider).json["dimensions"] == 4

    @pytest.mark.requires(Capability.ERROR_NORMALISATION)
    def test_a_provider_error_keeps_its_status(self, proxy):
        """A provider 429 on embeddings reaches the client as rate_limit_error in the OpenAI envelope."""
        body = {"model": "embed-fake", "input": f"x {fake_directive('rate_limit', retry_after=4)}"}
        with proxy.client() as http:
            response = http.post("/v1/embeddings", json=body)
        assert response.status_code == 429, response.text
        assert response.json()["error"]["type"] == "rate_limit_error"
        assert response.headers["retry-after"] == "4"

    @pytest.mark.requires(Capability.INPUT_VALIDATION)
    @pytest.mark.parametrize(
        "body",
        [{"model": "embed-fake"}, {"model": "embed-fake", "input": []},
         {"model": "embed-fake", "input": {"a": 1}},
         {"model": "embed-fake", "input": "x", "encoding_format": "yaml"}],
        ids=["no-input", "empty-input", "input-object", "bad-encoding-format"],
    )  # fmt: skip
    def test_bad_bodies_are_400_before_the_provider(self, proxy, fake_provider, body):
        """An embeddings body without something to embed is a 400 in the OpenAI envelope, never sent on."""
        with proxy.client() as http:
            response = http.post("/v1/embeddings", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert model_calls(fake_provider) == []
