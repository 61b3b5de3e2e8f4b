"""Parity: the conformance kit's ErrorsSuite, once per registered backend."""

from conformance.suites import ErrorsSuite


class TestErrors(ErrorsSuite):
    pass
