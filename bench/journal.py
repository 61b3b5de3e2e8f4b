"""``python -m bench journal``: what journaling one exchange costs the request path, measured alone.

The request path pays for :meth:`~proxy.memory.journal.Journal.append` only (one JSON line handed to the
kernel with ``os.write``); syncing to the disk happens on a thread of its own. This appends exchanges of
the size the proxy stores (``max_memory_chars``, 4,000 characters) to a journal in a temporary folder, as
write-back would, and reports the cost per append: p50, p99 and the mean, in microseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from proxy.memory.journal import Journal
from proxy.memory.stores.base import NewMemory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench journal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=20_000)
    parser.add_argument("--chars", type=int, default=4_000, help="characters of each exchange")
    args = parser.parse_args(argv)
    content = "user: " + "x" * (args.chars // 2) + "\nassistant: " + "y" * (args.chars // 2)
    with tempfile.TemporaryDirectory(prefix="memory-proxy-journal-") as folder:
        journal = Journal(Path(folder), max_bytes=1 << 40)
        journal.open()
        costs: list[float] = []
        for n in range(args.appends):
            memory = NewMemory("bench", content, {"model": "m", "conversation": "c"}, f"exchange_{n}")
            started = time.perf_counter()
            number = journal.append(memory)
            costs.append(time.perf_counter() - started)
            if number is not None and n % 64 == 63:
                journal.done(list(range(n - 63, n + 1)))  # as write-back records a stored batch
        journal.close()
    costs.sort()
    micro = [cost * 1e6 for cost in costs]
    print(
        f"journal append of a {args.chars:,}-character exchange, {args.appends:,} times: "
        f"p50 {micro[len(micro) // 2]:.1f} µs, p99 {micro[int(len(micro) * 0.99)]:.1f} µs, "
        f"mean {statistics.fmean(micro):.1f} µs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
