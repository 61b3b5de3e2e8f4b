"""Parity: the conformance kit's memory suites, once per registered backend and memory store."""

from conformance.suites import MemoryFailureSuite, MemorySuite


class TestMemory(MemorySuite):
    pass


class TestMemoryFailures(MemoryFailureSuite):
    pass
