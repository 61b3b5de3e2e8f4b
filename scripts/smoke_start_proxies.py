"""A smoke test of a ``start-proxies`` command as a user gets it, for `./RUN_TESTS.sh release`.

    python scripts/smoke_start_proxies.py START_PROXIES MEMORY_PROXY

START_PROXIES is an installed ``start-proxies`` (pipx, ``uv tool``) or a fresh clone's ``./start-proxies``
script; MEMORY_PROXY the ``memory-proxy`` beside it (for the clone, in the ``.venv`` the script makes). The
demo (no config) must serve, say that it recalls by meaning, answer a chat request, and recall it on the
next one; then ``memory-proxy version`` must print this checkout's version. It prints how long the start took
until the proxy served (the clone's first run installs the runtime lock in that time). Runs from a scratch
folder with scratch data folders, so neither the checkout nor the user's memory is involved.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from proxy import __version__
from proxy.processes import ManagedProcess, free_port

QUESTION = {"model": "any-model-name", "messages": [{"role": "user", "content": "My cat is called Miso."}]}


def main(start_proxies: Path, memory_proxy: Path) -> int:
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="memory-proxy-smoke-"))
    port = free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MEMORY_PROXY_", "VIRTUAL_ENV"))},
        "XDG_DATA_HOME": str(scratch / "data"),
        "XDG_CONFIG_HOME": str(scratch / "config"),
    }
    with ManagedProcess([str(start_proxies), "--port", str(port)], env=environment, cwd=scratch) as run:
        run.wait_for_line(r"memory proxy ready", timeout=300)
        ready = time.monotonic() - started
        if "recall by words and meaning" not in run.tail():
            print(f"the installed proxy cannot recall by meaning:\n{run.tail()}", file=sys.stderr)
            return 1
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            first = http.post("/v1/chat/completions", json=QUESTION)
            first.raise_for_status()
            for _ in range(100):  # write-back is off the request path
                second = http.post("/v1/chat/completions", json=QUESTION)
                if second.headers.get("x-memory-status") == "used":
                    break
                time.sleep(0.1)
    if "Miso" not in second.json()["choices"][0]["message"]["content"].split("Relevant memories", 1)[-1]:
        print(f"the second request did not recall the first: {second.text[:500]}", file=sys.stderr)
        return 1
    printed = subprocess.run([str(memory_proxy), "version"], capture_output=True, text=True, check=True)
    if printed.stdout.strip() != __version__:
        print(
            f"memory-proxy version printed {printed.stdout!r}, the checkout is {__version__}", file=sys.stderr
        )
        return 1
    print(
        f"{start_proxies}: served after {ready:.1f} s, answered and remembered; version {__version__}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
