"""Write a memory store with the proxy that is installed, and what it must still answer, as a fixture.

Run at a release's commit (``git worktree add /tmp/old vX && cd /tmp/old && python
/path/to/scripts/write_store_fixture.py OUT [--postgres]``): a SQLite file, or with ``--postgres`` a
PostgreSQL database (on a throwaway pgserver) dumped as SQL. ``tests/unit/test_store_upgrade.py`` then opens
it with today's code and checks that every memory, custom id and vector is kept and that a fixed set of
questions ranks the same memories first. Memories, times and questions are fixed, so a rerun writes the
same contents (ids are random: the expectations name them).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

try:  # 0.6.0 and later
    from proxy.memory.recall.embeddings import EncoderLoader
    from proxy.memory.stores.base import NewMemory
    from proxy.memory.stores.local.store import LocalMemoryStore
    from proxy.memory.stores.postgres.store import PostgresMemoryStore
except ImportError:  # 0.5.0 and before
    from proxy.memory.base import NewMemory  # type: ignore[no-redef]
    from proxy.memory.embeddings import EncoderLoader  # type: ignore[no-redef]
    from proxy.memory.local_store import LocalMemoryStore  # type: ignore[no-redef]
    from proxy.memory.postgres_store import PostgresMemoryStore  # type: ignore[no-redef]

from proxy import __version__

FACTS = {
    "claude-code": [
        "user: the build tool in this project is bazel\nassistant: noted, bazel it is",
        "user: our CI runs on GitHub Actions with a self-hosted runner\nassistant: ok",
        "user: the payments service talks to Postgres 16\nassistant: understood",
        "user: deploys go out on Tuesdays after the standup\nassistant: noted",
        "user: the staging cluster is called kestrel\nassistant: ok, kestrel",
        "user: my favourite editor is Helix\nassistant: Helix, noted",
        "user: we pin numpy below 2 because of the legacy reports\nassistant: ok",
        "user: the API is versioned under /v2\nassistant: noted",
    ],
    "pycharm-ai": [
        "user: I moved to Lisbon last spring\nassistant: nice",
        "user: my favourite colour is teal\nassistant: teal, noted",
        "user: I keep bees on the roof\nassistant: lovely",
        "user: the invoices module uses Django 5\nassistant: ok",
        "user: I prefer tabs over spaces\nassistant: tabs it is",
        "user: our frontend is React with Vite\nassistant: noted",
    ],
    "person:sam": [
        "user: call me Sam\n",
        "user: I am vegetarian",
        "user: keep answers short",
    ],
}
CUSTOM = {("claude-code", 0): "exchange_bazel", ("pycharm-ai", 1): "exchange_teal", ("person:sam", 0): "name"}
QUESTIONS = [
    ("claude-code", "which build tool do we use?"),
    ("claude-code", "what is the staging environment called"),
    ("claude-code", "which database does payments use"),
    ("pycharm-ai", "where do I live now?"),
    ("pycharm-ai", "what colour do I like"),
    ("person:sam", "what should you call me"),
    ("claude-code", "the project: build tool, CI, database, deploys, staging, API version"),
    ("pycharm-ai", "what do I like, where do I live, what do I keep, which frameworks"),
]


async def write(store: Any) -> dict[str, Any]:
    """Store the fixed memories; what the store then holds and recalls."""
    memories = [
        NewMemory(user, text, {"n": n}, CUSTOM.get((user, n)), 1_700_000_000.0 + 60 * n + len(user))
        for user, texts in FACTS.items()
        for n, text in enumerate(texts)
    ]
    await store.add_batch(memories)
    await store.wait_for_model(120)
    return {
        "written_by": __version__,
        "memories": {
            user: [
                {"id": m.id, "custom_id": m.custom_id, "content": m.content, "created_at": m.created_at}
                async for m in store.export(user)
            ]
            for user in FACTS
        },
        "top5": [
            {"user": user, "question": q, "ids": [r.id for r in await store.search(user, q, limit=5)]}
            for user, q in QUESTIONS
        ],
    }


def loaded() -> Any:
    loader = EncoderLoader()
    if loader.wait(timeout=120) is None:
        raise SystemExit(f"the embedding model did not load: {loader.status}")
    return loader


async def write_sqlite(folder: Path) -> None:
    path = folder / "memory.sqlite3"
    path.unlink(missing_ok=True)
    store = LocalMemoryStore(path, semantic=loaded())
    try:
        expected = await write(store)
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        expected["vectors"] = conn.execute("SELECT count(*) FROM vectors").fetchone()[0]
        conn.execute("VACUUM")
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


async def fill_postgres(dsn: str) -> dict[str, Any]:
    store = PostgresMemoryStore(dsn, semantic=loaded())
    try:
        await store.open()
        return await write(store)
    finally:
        await store.close()


def write_postgres(folder: Path) -> None:
    import pgserver
    import psycopg

    server = pgserver.get_server(tempfile.mkdtemp(prefix="pg"), cleanup_mode="delete")
    try:
        dsn = server.get_uri()
        expected = asyncio.run(fill_postgres(dsn))
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM memory_proxy.memories WHERE embedding IS NOT NULL"
            ).fetchone()
            expected["vectors"] = row[0] if row else 0
        dump = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
        schema = ["--schema", "memory_proxy", "--inserts", "--no-owner", "--no-privileges", dsn]
        dumped = subprocess.run([str(dump), *schema], check=True, capture_output=True, text=True).stdout
        (folder / "dump.sql").write_text(dumped)
    finally:
        server.cleanup()
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    if "--postgres" in sys.argv[2:]:
        write_postgres(out)
    else:
        asyncio.run(write_sqlite(out))
    print(f"wrote {out} with {__version__}")
