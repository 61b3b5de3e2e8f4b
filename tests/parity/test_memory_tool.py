"""Parity: the conformance kit's MemoryToolSuite, once per registered backend."""

from conformance.suites import MemoryToolSuite


class TestMemoryTool(MemoryToolSuite):
    pass
