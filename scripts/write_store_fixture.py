"""Write a SQLite memory store with the proxy that is installed, and what it must still answer, as a fixture.

Run at a release's commit (``git worktree add /tmp/old vX && cd /tmp/old && python
/path/to/scripts/write_store_fixture.py OUT``): ``tests/unit/test_store_upgrade.py`` then opens the file with
today's code and checks that every memory, custom id and vector is kept and that a fixed set of questions
ranks the same five memories first. Memories, times and questions are fixed, so a rerun writes the same
contents (ids are random: the expectations name them).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

try:  # 0.6.0 and later
    from proxy.memory.recall.embeddings import EncoderLoader
    from proxy.memory.stores.base import NewMemory
    from proxy.memory.stores.local.store import LocalMemoryStore
except ImportError:  # 0.5.0 and before
    from proxy.memory.base import NewMemory  # type: ignore[no-redef]
    from proxy.memory.embeddings import EncoderLoader  # type: ignore[no-redef]
    from proxy.memory.local_store import LocalMemoryStore  # type: ignore[no-redef]

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


async def write(folder: Path) -> None:
    path = folder / "memory.sqlite3"
    path.unlink(missing_ok=True)
    loader = EncoderLoader()
    if loader.wait(timeout=120) is None:
        raise SystemExit(f"the embedding model did not load: {loader.status}")
    store = LocalMemoryStore(path, semantic=loader)
    try:
        memories = [
            NewMemory(user, text, {"n": n}, CUSTOM.get((user, n)), 1_700_000_000.0 + 60 * n + len(user))
            for user, texts in FACTS.items()
            for n, text in enumerate(texts)
        ]
        await store.add_batch(memories)
        await store.wait_for_model(120)
        expected = {
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
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        expected["vectors"] = conn.execute("SELECT count(*) FROM vectors").fetchone()[0]
        conn.execute("VACUUM")
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(write(out))
    print(f"wrote {out}/memory.sqlite3 and expected.json with {__version__}")
