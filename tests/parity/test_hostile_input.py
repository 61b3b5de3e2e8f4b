"""Parity: the conformance kit's HostileInputSuite, once per registered backend."""

from conformance.suites import HostileInputSuite


class TestHostileInput(HostileInputSuite):
    pass
