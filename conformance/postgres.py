"""A real PostgreSQL (with pgvector) for the tests of a PostgreSQL memory store, and a fresh database in it
per test.

The server is ``$MEMORY_PROXY_TEST_POSTGRES_DSN`` when set (a role that may create databases, pgvector
installed), else one the ``pgserver`` package runs from a temporary folder for the session (a few hundred
milliseconds). Neither at hand, the tests that need it skip and say why (under CI they fail:
:mod:`conformance.tools`). A database per test (created from
the template in ~20 ms, dropped after) keeps tests independent of each other and of their order, and lets
each one start from an empty schema.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from conformance.tools import missing_tool

__all__ = ["DSN_VARIABLE", "fresh_database", "postgres_server"]

DSN_VARIABLE = "MEMORY_PROXY_TEST_POSTGRES_DSN"


@contextmanager
def postgres_server(dsn: str | None) -> Iterator[str]:
    """The server's DSN: ``dsn`` as given, else a pgserver running until the block ends (else a skip)."""
    if dsn:
        yield dsn
        return
    try:
        import pgserver
        import psycopg  # noqa: F401  (the tests' client: without it the server is of no use)
    except ImportError as exc:
        missing_tool(f"no PostgreSQL to test with: set ${DSN_VARIABLE}, or pip install pgserver ({exc.name})")
    # A short folder: the server's Unix socket lives in it, and a socket's path is limited to ~100 bytes.
    folder = tempfile.mkdtemp(prefix="pg")
    try:
        server = pgserver.get_server(folder, cleanup_mode="delete")
    except Exception as exc:
        missing_tool(f"pgserver could not start PostgreSQL: {type(exc).__name__}: {exc}")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@contextmanager
def fresh_database(server_dsn: str) -> Iterator[str]:
    """A new empty database on the server, dropped (connections and all) when the block ends: its DSN."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    database = f"memory_test_{uuid.uuid4().hex[:16]}"
    name = sql.Identifier(database)
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        yield make_conninfo(server_dsn, dbname=database)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
