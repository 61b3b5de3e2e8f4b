"""Parity: the conformance kit's ClientCredentialsSuite, once per registered backend."""

from conformance.suites import ClientCredentialsSuite


class TestClientCredentials(ClientCredentialsSuite):
    pass
