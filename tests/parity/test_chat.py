"""Parity: the conformance kit's ChatSuite, once per registered backend."""

from conformance.suites import ChatSuite


class TestChat(ChatSuite):
    pass
