"""The kit's suites, one line each: every test runs against the relay, or is skipped naming what it lacks."""

from conformance.suites import (
    ChatSuite,
    ErrorsSuite,
    HealthSuite,
    HostileInputSuite,
    MemoryFailureSuite,
    MemorySuite,
    MessagesSuite,
    ModelsSuite,
    RoutingSuite,
    StreamingSuite,
)


class TestChat(ChatSuite):
    pass


class TestStreaming(StreamingSuite):
    pass


class TestErrors(ErrorsSuite):
    pass


class TestHealth(HealthSuite):
    pass


class TestHostileInput(HostileInputSuite):
    pass


class TestMessages(MessagesSuite):
    pass


class TestModels(ModelsSuite):
    pass


class TestRouting(RoutingSuite):
    pass


class TestMemory(MemorySuite):
    pass


class TestMemoryFailure(MemoryFailureSuite):
    pass
