"""Parity: the conformance kit's McpSuite, once per registered backend."""

from conformance.suites import McpSuite


class TestMcp(McpSuite):
    pass
