#!/usr/bin/env bash
# ./RUN_TESTS.sh compat [pytest args...]: the unit, regression and parity tests (both backends) once per
# LiteLLM release in scripts/litellm-releases.txt, each in its own venv (.venv-litellm-NAME).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

status=0
while read -r name requirements; do
  case "$name" in '' | '#'*) continue ;; esac
  echo "== LiteLLM $name: $requirements" >&2
  (
    export BOOTSTRAP_VENV="$root/.venv-litellm-$name" BOOTSTRAP_REQUIREMENTS="$requirements"
    source scripts/bootstrap.sh
    python -c 'import importlib.metadata as m; print("litellm", m.version("litellm"))' >&2
    pytest -n "${PYTEST_WORKERS:-auto}" --dist loadgroup tests/unit tests/regression -m "not real_api" "$@"
    pytest -n "${PYTEST_WORKERS:-auto}" --dist loadgroup -m parity tests "$@"
  ) || status=1
done < scripts/litellm-releases.txt
exit "$status"
