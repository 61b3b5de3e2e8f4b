"""Parity: the conformance kit's MessagesSuite (Anthropic Messages), once per registered backend."""

from conformance.suites import MessagesSuite


class TestMessages(MessagesSuite):
    pass
