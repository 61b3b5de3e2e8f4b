"""Parity: the conformance kit's EmbeddingsSuite, once per registered backend."""

from conformance.suites import EmbeddingsSuite


class TestEmbeddings(EmbeddingsSuite):
    pass
