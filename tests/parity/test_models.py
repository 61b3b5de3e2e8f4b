"""Parity: the conformance kit's ModelsSuite, once per registered backend."""

from conformance.suites import ModelsSuite


class TestModels(ModelsSuite):
    pass
