"""``start-proxies``: run the memory proxy from one config file, or a demo when there is none.

It checks the config and the ports before anything starts, so a mistake is one clear line rather than a
stack trace, and prints the URL and a ready-to-paste curl once the proxy is actually serving. With the
binary backend it first starts ``litellm --config`` (same file, a master key shared with the memory
proxy), waits for its liveliness with a visible progress line, and stops it again on Ctrl-C or SIGTERM;
a LiteLLM proxy that dies ends the whole stack with its last log lines and a non-zero exit.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn
import yaml
from rich.console import Console
from rich.markup import escape

from proxy.cli_support import AnnouncingServer, ConfigOption, load_config_or_exit
from proxy.config import CONFIG_ENV_VAR, DEMO_SOURCE, Config
from proxy.header_deadline import http_protocol
from proxy.litellm_process import generate_master_key, litellm_command, litellm_environment
from proxy.processes import ManagedProcess

__all__ = [
    "claude_code_example",
    "curl_example",
    "forwarding",
    "main",
    "memory_summary",
    "port_problem",
    "run",
]

# soft_wrap: the curl line must stay one line, whatever the terminal width, so it can be pasted.
console = Console(stderr=True, highlight=False, soft_wrap=True)


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None if it can (port 0 always can)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a port whose last connection is still in TIME_WAIT is free to listen on.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use (choose another with --port)"
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def memory_summary(config: Config) -> str:
    settings = config.context_retrieval
    if not settings.enabled:
        return "off (context_retrieval.enabled: false)"
    from proxy.memory.stores import STORES, describe_store

    where = describe_store(settings)
    if not STORES[settings.provider].recalls_by_meaning:
        return where
    from proxy.memory.recall.embeddings import INSTALL_HINT, default_model_dir

    if not settings.semantic:
        recall = "recall by words (semantic: false)"
    elif default_model_dir() is None:
        recall = f"recall by words only: no embedding model is installed ({INSTALL_HINT})"
    else:
        recall = "recall by words and meaning (the model loads in the background)"
    return f"{where}; {recall}"


def curl_example(config: Config, base_url: str) -> str:
    model = config.model_names[0] if config.model_names else "MODEL"
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello! What do you remember?"}]}
    )
    parts = ["curl", "-sS", f"{base_url}/v1/chat/completions", "-H", "content-type: application/json"]
    if config.memory_proxy.auth_key or config.memory_proxy.keys:
        parts += ["-H", "authorization: Bearer $MEMORY_PROXY_KEY"]
    return " ".join(shlex.quote(p) if not p.startswith("authorization") else f'"{p}"' for p in parts) + (
        f" -d {shlex.quote(body)}"
    )


def forwarding(config: Config) -> dict[str, Any]:
    """uvicorn's proxy headers handling as the config says: ``X-Forwarded-For``/``-Proto`` are believed only
    from ``memory_proxy.forwarded_allow_ips`` (uvicorn's own default would believe any local process)."""
    trusted = config.memory_proxy.forwarded_allow_ips
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}


def claude_code_example(base_url: str) -> str:
    """The demo's one-line Claude Code session: a placeholder key is all the CLI needs to start."""
    return f"ANTHROPIC_BASE_URL={base_url} ANTHROPIC_API_KEY=any claude -p 'hi, I am Sam'"


def run(
    config_file: ConfigOption = None,
    backend: Annotated[
        str,
        typer.Option(help="sdk (LiteLLM in-process) or binary (a LiteLLM proxy process); default: config"),
    ] = "",
    host: Annotated[str, typer.Option(help="Address to listen on (default 127.0.0.1)")] = "",
    port: Annotated[int | None, typer.Option(help="Port for the memory proxy (default 8764)")] = None,
    litellm_port: Annotated[int, typer.Option(help="Port for the LiteLLM proxy (binary backend)")] = 4000,
    startup_timeout: Annotated[float, typer.Option(help="Seconds to wait for the LiteLLM proxy")] = 180.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Server processes on the port (default: config, 1)")
    ] = None,
) -> None:
    """Start the memory proxy (and, for the binary backend, the LiteLLM proxy behind it)."""
    config = load_config_or_exit(config_file, console)
    settings = config.memory_proxy
    workers = workers or settings.workers
    chosen = backend or settings.backend
    if chosen not in ("sdk", "binary"):
        console.print(f"[red]error:[/red] unknown backend {chosen!r}; choose sdk or binary")
        raise typer.Exit(2)
    host = host or settings.host
    port = settings.port if port is None else port
    for wanted_port in (port, litellm_port) if chosen == "binary" else (port,):
        problem = port_problem(host if wanted_port == port else "127.0.0.1", wanted_port)
        if problem:
            console.print(f"[red]error:[/red] {problem}")
            raise typer.Exit(1)
    if chosen == "sdk":
        _serve(config, "sdk", host, port, log_level, workers)
        return
    with _litellm_proxy(config, litellm_port, startup_timeout) as (litellm_url, master_key, child):
        updated = config.model_copy(
            update={
                "memory_proxy": settings.model_copy(update={"litellm_base_url": litellm_url}),
                "general_settings": {**config.general_settings, "master_key": master_key},
            }
        )
        _serve(updated, "binary", host, port, log_level, workers, watched=child)


def _serve(
    config: Config,
    backend: str,
    host: str,
    port: int,
    log_level: str,
    workers: int,
    *,
    watched: ManagedProcess | None = None,
) -> None:
    base_url = f"http://{host}:{port}"
    demo = config.source == DEMO_SOURCE
    lines = [
        "",
        f"[bold green]memory proxy ready[/bold green] at {base_url}"
        f"  (backend: {backend}, config: {config.source})",
    ]
    if backend == "binary":
        lines.append(f"LiteLLM proxy at {config.memory_proxy.litellm_base_url}")
    lines.append(f"memory: {memory_summary(config)}")
    if config.memory_proxy.console:
        lines.append(f"console: {base_url}/ui  (what each client's memory holds, and the latest requests)")
    lines.append(f"metrics: {base_url}/metrics")
    if demo:
        lines += [
            "demo mode: every model name is an echo of what it receives; no key, no network needed.",
            "send the curl below twice: the second answer shows the first exchange recalled.",
            f"Claude Code: {escape(claude_code_example(base_url))}",
        ]
    else:
        lines.append(f"models: {', '.join(config.model_names) or '(none configured)'}")
    lines += ["try it:", f"  {escape(curl_example(config, base_url))}", ""]
    if workers > 1:  # announced once a worker listens (the socket refuses connections until then)
        lines[1] = lines[1].replace("memory proxy ready", f"memory proxy ({workers} workers)", 1)
        _serve_workers(config, backend, host, port, log_level, workers, "\n".join(lines), watched)
        return
    server = AnnouncingServer(
        uvicorn.Config(
            _app(config, backend),
            host=host,
            port=port,
            log_level=log_level,
            lifespan="on",
            access_log=False,
            http=http_protocol(config.memory_proxy.client_timeout),
            **forwarding(config),
        ),
        "\n".join(lines),
        console,
    )
    # uvicorn stops on SIGTERM, then re-raises it; by default that kills this process on the spot, before
    # the LiteLLM child is stopped. Turned into SystemExit, it unwinds through the cleanup like Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    died = threading.Event()
    if watched is not None:
        threading.Thread(target=_stop_when_dead, args=(watched, server, died), daemon=True).start()
    server.run()
    if died.is_set():
        console.print(
            f"[red]error:[/red] the LiteLLM proxy exited; its last lines:\n{escape(watched.tail())}"
        )
        raise typer.Exit(1)
    if not server.started:
        raise typer.Exit(1)


def _app(config: Config, backend: str) -> Any:
    from proxy.app import create_app

    if backend == "sdk":
        from proxy.backends.sdk import SdkBackend

        return create_app(config, SdkBackend(config))
    from proxy.backends.binary import BinaryBackend

    return create_app(config, BinaryBackend(config))


def _serve_workers(
    config: Config,
    backend: str,
    host: str,
    port: int,
    log_level: str,
    workers: int,
    banner: str,
    watched: ManagedProcess | None,
) -> None:
    """``workers`` server processes on one socket, under uvicorn's own supervisor (``uvicorn.run``; it
    restarts a worker that dies and stops them all on SIGTERM or Ctrl-C). Each builds the app itself
    (``proxy.sdk:app``/``proxy.binary:app``) from what this process puts in the environment: the config
    file, and for the binary backend the LiteLLM proxy it started (URL and master key). They share the
    memory store (SQLite in WAL mode, or PostgreSQL)."""
    from proxy.app import LITELLM_URL_ENV_VAR
    from proxy.header_deadline import DEADLINE_ENV_VAR, WorkerHTTPProtocol
    from proxy.metrics import MULTIPROCESS_ENV
    from proxy.shared_records import WORKERS_DIR_ENV

    if config.source != DEMO_SOURCE:
        os.environ[CONFIG_ENV_VAR] = str(Path(config.source).resolve())
    os.environ[DEADLINE_ENV_VAR] = str(config.memory_proxy.client_timeout)
    if backend == "binary":
        os.environ[LITELLM_URL_ENV_VAR] = config.memory_proxy.litellm_base_url
        if config.master_key:
            os.environ["LITELLM_MASTER_KEY"] = config.master_key
    # What the workers share for this run only (the console's request records, the metrics' files): a
    # private folder, gone when the run ends.
    run = Path(tempfile.mkdtemp(prefix="memory-proxy-workers-"))
    (run / "metrics").mkdir()
    os.environ[WORKERS_DIR_ENV] = str(run)
    os.environ[MULTIPROCESS_ENV] = str(run / "metrics")
    threading.Thread(target=_announce_when_listening, args=(host, port, banner), daemon=True).start()
    died = threading.Event()
    if watched is not None:
        threading.Thread(target=_stop_workers_when_dead, args=(watched, died), daemon=True).start()
    try:
        uvicorn.run(
            f"proxy.{backend}:app",
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            lifespan="on",
            access_log=False,
            http=WorkerHTTPProtocol,
            **forwarding(config),
        )
    finally:
        shutil.rmtree(run, ignore_errors=True)
    if died.is_set() and watched is not None:
        console.print(
            f"[red]error:[/red] the LiteLLM proxy exited; its last lines:\n{escape(watched.tail())}"
        )
        raise typer.Exit(1)


def _announce_when_listening(host: str, port: int, banner: str, timeout: float = 300.0) -> None:
    """Print ``banner`` once a worker accepts connections. uvicorn's supervisor binds the socket and each
    worker starts listening on it only when its app has started (seconds, with LiteLLM's import): a
    client that took the banner at its word before then would be refused."""
    address = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address, port), timeout=1.0).close()
        except OSError:
            time.sleep(0.1)
            continue
        console.print(banner)
        return


def _stop_workers_when_dead(child: ManagedProcess, died: threading.Event) -> None:
    """The supervisor stops its workers on SIGTERM: sent to ourselves when the LiteLLM proxy dies."""
    child.process.wait()
    died.set()
    os.kill(os.getpid(), signal.SIGTERM)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _stop_when_dead(child: ManagedProcess, server: uvicorn.Server, died: threading.Event) -> None:
    child.process.wait()
    if not server.should_exit:
        died.set()
        server.should_exit = True


@contextmanager
def _litellm_proxy(config: Config, port: int, timeout: float) -> Iterator[tuple[str, str, ManagedProcess]]:
    """Start the LiteLLM proxy on the same config, wait until it is alive, and always stop it again."""
    master_key = config.master_key or os.environ.get("LITELLM_MASTER_KEY") or generate_master_key()
    with tempfile.TemporaryDirectory(prefix="memory-proxy-") as scratch:
        if config.source.startswith("<"):  # the built-in demo has no file for LiteLLM to read
            config_file = Path(scratch) / "demo-config.yaml"
            config_file.write_text(yaml.safe_dump(config.litellm_view()), encoding="utf-8")
        else:
            config_file = Path(config.source)
        url = f"http://127.0.0.1:{port}"
        console.print(f"starting the LiteLLM proxy on {url} (config: {config_file}) ...")
        child = ManagedProcess(
            litellm_command(config_file, port=port), env=litellm_environment(dict(os.environ), master_key)
        )
        try:
            _wait_until_alive(child, url, timeout)
            yield url, master_key, child
        finally:
            child.stop(timeout=10.0)


def _wait_until_alive(child: ManagedProcess, url: str, timeout: float) -> None:
    started = time.monotonic()
    with console.status("waiting for the LiteLLM proxy ...") as status, httpx.Client(timeout=2.0) as http:
        while True:
            if child.process.poll() is not None:
                console.print("[red]error:[/red] the LiteLLM proxy exited at start; its last lines:")
                console.print(escape(child.tail()), markup=False)
                raise typer.Exit(1)
            try:
                if http.get(f"{url}/health/liveliness").status_code == 200:
                    console.print(f"LiteLLM proxy alive after {time.monotonic() - started:.1f}s")
                    return
            except httpx.HTTPError:
                pass
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                console.print(
                    f"[red]error:[/red] the LiteLLM proxy was not alive after {timeout:.0f}s; last lines:"
                )
                console.print(escape(child.tail()), markup=False)
                raise typer.Exit(1)
            status.update(f"waiting for the LiteLLM proxy ... {elapsed:.0f}s")
            time.sleep(0.25)


def main() -> None:
    typer.run(run)


if __name__ == "__main__":
    sys.exit(main())
