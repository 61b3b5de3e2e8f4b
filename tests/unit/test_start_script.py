"""./start-proxies installs what running needs: the binary lock only when the binary backend is chosen."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lock_for(arguments: list[str], cwd: Path, environ: dict[str, str] | None = None) -> str:
    script = f'source {ROOT / "scripts" / "start_lock.sh"}; start_proxies_lock "$@"'
    result = subprocess.run(
        ["bash", "-c", script, "start-proxies", *arguments],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **(environ or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("arguments", "lock"),
    [
        ([], "runtime"),
        (["--port", "9000"], "runtime"),
        (["--backend", "binary"], "binary"),
        (["--backend=binary", "--port", "1"], "binary"),
        (["--backend", "sdk", "--config", "binary.yaml"], "runtime"),  # the flag wins over the file
        (["--config", "binary.yaml"], "binary"),
        (["-c", "binary.yaml"], "binary"),
        (["--config=binary.yaml"], "binary"),
        (["--config", "sdk.yaml"], "runtime"),
        (["--config", "missing.yaml"], "runtime"),  # start-proxies itself says what is wrong with it
    ],
)
def test_the_lock_follows_the_backend_chosen(tmp_path, arguments, lock):
    (tmp_path / "binary.yaml").write_text("memory_proxy:\n  backend: binary\n  port: 8764\n")
    (tmp_path / "sdk.yaml").write_text("memory_proxy:\n  backend: sdk\n")
    assert lock_for(arguments, tmp_path) == lock


def test_the_config_is_found_as_start_proxies_finds_it(tmp_path):
    (tmp_path / "elsewhere.yaml").write_text("memory_proxy:\n  port: 1\n  backend: 'binary'\n")
    assert lock_for([], tmp_path, {"MEMORY_PROXY_CONFIG": str(tmp_path / "elsewhere.yaml")}) == "binary"
    (tmp_path / "config.yaml").write_text("memory_proxy:\n  backend: binary\n")
    assert lock_for([], tmp_path) == "binary"
