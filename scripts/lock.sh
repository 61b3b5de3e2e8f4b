#!/usr/bin/env bash
# scripts/lock.sh [--upgrade | --check]: write the locks (locks/*.txt) that ./start-proxies and
# ./RUN_TESTS.sh install from, with uv pip compile: universal (every platform and Python >= 3.11), hashed.
#
#   (nothing)  keep every pin a lock already has that its inputs still allow (so editing pyproject.toml
#              changes only what it must)
#   --upgrade  every package to its newest release within pyproject.toml's ranges
#   --check    write nothing; fail, showing the difference, when the committed locks' pins are not what
#              their inputs resolve to now (pyproject.toml edited without a new lock, say). Hashes are not
#              compared: a package may add a wheel to a release it already published.
# Then run ./RUN_TESTS.sh all and commit the locks with the change. Inputs: pyproject.toml, locks/base.in,
# locks/overrides.txt, locks/lowest.in (docs/dependencies.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BOOTSTRAP_LOCK=none source "$root/scripts/bootstrap.sh"  # the pinned uv, in .venv
cd "$root"

mode="${1:-}"
upgrade=()
out=locks
case "$mode" in
  "") ;;
  --upgrade) upgrade=(--upgrade) ;;
  --check)
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
    cp locks/*.txt "$out/"  # the committed pins are the preferences, as in a plain run
    ;;
  *) echo "usage: scripts/lock.sh [--upgrade | --check]" >&2; exit 2 ;;
esac

compile() {
  # compile OUTPUT [uv pip compile arguments...]
  local output="$1"
  shift
  echo "== locks/$output.txt" >&2
  UV_PYTHON_DOWNLOADS=never uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
    --no-header --annotation-style line --override locks/overrides.txt "${upgrade[@]}" \
    -o "$out/$output.txt" "$@"
}

# dev is resolved first; the locks it holds take its versions (-c), so every lock nests in the next.
compile dev pyproject.toml locks/base.in --extra dev
compile bench pyproject.toml locks/base.in --extra dev --extra bench -c "$out/dev.txt"
compile binary pyproject.toml locks/base.in --extra binary -c "$out/dev.txt"
compile runtime pyproject.toml locks/base.in -c "$out/dev.txt"
compile lowest pyproject.toml locks/base.in --extra dev -c locks/lowest.in
# The installer alone, for `pip install --require-hashes` into a new venv (scripts/bootstrap.sh).
grep -E '^uv==' locks/base.in | compile uv -

pins() { grep -E '^[A-Za-z0-9]' "$1" | cut -d' ' -f1 | sort; }
if [ "$mode" = --check ]; then
  stale=0
  for lock in "$out"/*.txt; do
    name="$(basename "$lock")"
    if ! diff <(pins "locks/$name") <(pins "$lock") >"$out/diff" 2>&1; then
      echo "locks/$name is not what its inputs resolve to (< committed, > now); run scripts/lock.sh:" >&2
      cat "$out/diff" >&2
      stale=1
    fi
  done
  [ "$stale" = 0 ] && echo "the locks are current" >&2
  exit "$stale"
fi
for lock in runtime binary dev; do
  echo "locks/$lock.txt: $(grep -c '^[A-Za-z0-9]' "locks/$lock.txt") packages," \
    "$(pins "locks/$lock.txt" | grep -E '^(litellm|httpx)==' | tr '\n' ' ')" >&2
done
