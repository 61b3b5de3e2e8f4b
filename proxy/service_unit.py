"""A systemd unit that keeps the proxy running: for a user's session (``systemctl --user``) or for the
machine (a team's proxy), written by ``memory-proxy systemd-unit``.

The unit runs ``start-proxies`` from the environment the command itself runs in (its virtualenv, pipx or
uv tool install) on an absolute config path, and restarts it when it fails. It holds no secret: keys and
the database's password stay in the config file (``os.environ/NAME``) and in an optional environment file
the unit reads (``EnvironmentFile=-``, its ``-`` meaning the file may be absent), which only its owner
reads. A system unit runs as an unprivileged user, with the usual sandboxing (no new privileges, a private
``/tmp``, the system read-only but for the proxy's data folder, ``/var/lib/litellm-memory-proxy``).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["UNIT_NAME", "UnitSpec", "launcher_command", "unit_path", "unit_text"]

UNIT_NAME = "litellm-memory-proxy.service"


@dataclass(frozen=True)
class UnitSpec:
    """What the unit runs, and for whom."""

    config: Path
    system: bool = False
    """A machine's service (``/etc/systemd/system``), else the user's (``~/.config/systemd/user``)."""
    run_as: str | None = None
    """The user a system unit runs as."""
    workers: int | None = None
    environment_file: Path | None = None
    data_dir: Path | None = None
    """Another folder a system unit may write (a local store kept elsewhere than its data folder,
    ``/var/lib/litellm-memory-proxy``): the rest of the system is read-only to it."""


def launcher_command(workers: int | None, config: Path) -> list[str]:
    """``start-proxies`` of this installation (beside this interpreter), else ``python -m proxy.launcher``."""
    beside = Path(sys.executable).parent / "start-proxies"
    command = [str(beside)] if beside.is_file() else [sys.executable, "-m", "proxy.launcher"]
    command += ["--config", str(config)]
    if workers is not None:
        command += ["--workers", str(workers)]
    return command


def unit_path(system: bool, home: Path | None = None) -> Path:
    if system:
        return Path("/etc/systemd/system") / UNIT_NAME
    return (home or Path.home()) / ".config" / "systemd" / "user" / UNIT_NAME


def unit_text(spec: UnitSpec) -> str:
    """The unit file for ``spec``."""
    command = " ".join(shlex.quote(part) for part in launcher_command(spec.workers, spec.config))
    service = [
        "Type=exec",
        f"ExecStart={command}",
        f"WorkingDirectory={spec.config.parent}",
        "Environment=LITELLM_LOCAL_MODEL_COST_MAP=True",
        "Environment=PYTHONUNBUFFERED=1",
    ]
    if spec.environment_file is not None:
        service.append(f"EnvironmentFile=-{spec.environment_file}")
    service += ["Restart=on-failure", "RestartSec=5", "TimeoutStopSec=30"]
    if spec.system:
        if spec.run_as is not None:
            service.append(f"User={spec.run_as}")
        service += [
            # The proxy's data (the local store, the journal) in /var/lib, made for the unit's user.
            "StateDirectory=litellm-memory-proxy",
            "CacheDirectory=litellm-memory-proxy",
            "Environment=XDG_DATA_HOME=/var/lib",
            "Environment=XDG_CACHE_HOME=/var/cache",
            "NoNewPrivileges=yes",
            "PrivateTmp=yes",
            "ProtectSystem=strict",
            "ProtectControlGroups=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelTunables=yes",
            "RestrictSUIDSGID=yes",
            "LockPersonality=yes",
        ]
        if spec.data_dir is not None:
            service.append(f"ReadWritePaths={spec.data_dir}")
    install = "multi-user.target" if spec.system else "default.target"
    lines = [
        "# Written by `memory-proxy systemd-unit`; keys belong in the config (os.environ/NAME) or the",
        "# environment file, never here.",
        "[Unit]",
        "Description=litellm-memory-proxy: memory for LLM clients, in front of LiteLLM",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        *service,
        "",
        "[Install]",
        f"WantedBy={install}",
    ]
    return "\n".join(lines) + "\n"
