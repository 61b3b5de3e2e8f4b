"""Parity: the conformance kit's ResponsesSuite (OpenAI Responses), once per registered backend."""

from conformance.suites import ResponsesSuite


class TestResponses(ResponsesSuite):
    pass
