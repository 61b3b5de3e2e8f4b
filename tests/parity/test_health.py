"""Parity: the conformance kit's HealthSuite, once per registered backend."""

from conformance.suites import HealthSuite


class TestHealth(HealthSuite):
    pass
