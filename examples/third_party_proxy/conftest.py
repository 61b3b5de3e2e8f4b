"""Registers this project's proxy with the conformance kit: the one call a project makes."""

from relay_proxy import create_app

from conformance.backends import BackendUnderTest, register_backend

register_backend(BackendUnderTest("relay", build_app=create_app))
