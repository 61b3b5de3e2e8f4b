"""Parity: the conformance kit's RoutingSuite, once per registered backend."""

from conformance.suites import RoutingSuite


class TestRouting(RoutingSuite):
    pass
