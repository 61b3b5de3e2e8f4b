"""Parity: the conformance kit's StreamingSuite, once per registered backend."""

from conformance.suites import StreamingSuite


class TestStreaming(StreamingSuite):
    pass
