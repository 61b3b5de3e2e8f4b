#!/usr/bin/env bash
# Sourced by ./RUN_TESTS.sh, ./start-proxies and scripts/*.sh: make sure a venv holds exactly one of the
# committed locks (locks/*.txt) plus this checkout, installed by the pinned uv, so a fresh clone gets what
# was tested and needs nothing but Python 3.11+ and access to a package index.
#
#   BOOTSTRAP_LOCK   runtime | binary | dev | bench | lowest (default: dev); none: only the venv and uv
#   BOOTSTRAP_VENV   the venv (default: .venv in the checkout)
#
# The locks nest: bench holds dev, dev holds binary, binary holds runtime, at the same versions. A venv
# synced to one of them serves every lock below it, so ./start-proxies after ./RUN_TESTS.sh installs
# nothing. A lock whose file (or pyproject.toml, or the version) changed since the venv was synced is synced
# again.
# Afterwards BOOTSTRAP_SECONDS holds the time the install took (0 when nothing was installed).
set -euo pipefail

bootstrap_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bootstrap_venv="${BOOTSTRAP_VENV:-$bootstrap_root/.venv}"
bootstrap_lock="${BOOTSTRAP_LOCK:-dev}"
BOOTSTRAP_SECONDS=0

bootstrap_say() { echo "bootstrap: $*" >&2; }

bootstrap_python() {
  # The interpreter the venv is made from: $PYTHON, else the newest python3.x (3.11 or later) on PATH.
  local candidate
  for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  bootstrap_say "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)"
  return 1
}

bootstrap_uv() {
  # The venv's own uv, installed with pip from locks/uv.txt (hash-checked) when missing.
  local venv="$1"
  if [ ! -x "$venv/bin/python" ]; then
    bootstrap_say "creating $venv"
    "$(bootstrap_python)" -m venv "$venv"
  fi
  if [ -x "$venv/bin/uv" ]; then
    return
  fi
  if [ -f "$bootstrap_root/locks/uv.txt" ]; then
    bootstrap_say "installing uv (locks/uv.txt) into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
      -r "$bootstrap_root/locks/uv.txt" >&2
  else  # scripts/lock.sh writing the first locks
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "$(grep -E '^uv==' "$bootstrap_root/locks/base.in")" >&2
  fi
}

bootstrap_stamp() {
  # The name of the file that says the venv holds lock $1 as it is now (and this checkout's metadata:
  # pyproject.toml, and proxy/__init__.py, where the version is).
  local digest
  digest="$(cat "$bootstrap_root/locks/$1.txt" "$bootstrap_root/pyproject.toml" "$bootstrap_root/proxy/__init__.py" |
    sha256sum | cut -c1-16)"
  echo ".synced-$1-$digest"
}

bootstrap_holds() {
  # Whether the venv was synced to lock $1, or to a lock that holds it, as those locks are now.
  local wanted="$1" chain="runtime binary dev bench" lock seen=""
  [ "$wanted" = lowest ] && chain="lowest"
  for lock in $chain; do
    [ "$lock" = "$wanted" ] && seen=1
    if [ -n "$seen" ] && [ -f "$bootstrap_venv/$(bootstrap_stamp "$lock")" ]; then
      return 0
    fi
  done
  return 1
}

bootstrap_sync() {
  local lock="$1" started=$SECONDS count
  bootstrap_uv "$bootstrap_venv"
  count=$(grep -c '^[A-Za-z0-9]' "$bootstrap_root/locks/$lock.txt")
  bootstrap_say "installing locks/$lock.txt ($count packages) and this checkout into $bootstrap_venv ..."
  rm -f "$bootstrap_venv"/.synced-*
  # No downloads of Python itself, and uv's own index settings only (it does not read pip.conf: set
  # UV_DEFAULT_INDEX for a mirror). The lock's hashes are checked.
  UV_PYTHON_DOWNLOADS=never "$bootstrap_venv/bin/uv" pip sync --quiet --python "$bootstrap_venv/bin/python" \
    "$bootstrap_root/locks/$lock.txt" >&2
  UV_PYTHON_DOWNLOADS=never "$bootstrap_venv/bin/uv" pip install --quiet --python "$bootstrap_venv/bin/python" \
    --no-deps --no-build-isolation -e "$bootstrap_root" >&2
  touch "$bootstrap_venv/$(bootstrap_stamp "$lock")"
  BOOTSTRAP_SECONDS=$((SECONDS - started))
  bootstrap_say "installed in ${BOOTSTRAP_SECONDS} s ($(du -sh "$bootstrap_venv" | cut -f1) in $bootstrap_venv)"
}

if [ "$bootstrap_lock" = none ]; then
  bootstrap_uv "$bootstrap_venv"
elif ! bootstrap_holds "$bootstrap_lock"; then
  bootstrap_sync "$bootstrap_lock"
fi

export PATH="$bootstrap_venv/bin:$PATH"
export LITELLM_LOCAL_MODEL_COST_MAP=True
