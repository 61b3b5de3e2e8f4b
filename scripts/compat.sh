#!/usr/bin/env bash
# ./RUN_TESTS.sh compat [pytest args...]: the unit, regression and parity tests (both backends) once per
# LiteLLM release in scripts/litellm-releases.txt, each in its own venv (.venv-litellm-NAME); then the
# project installed with `pip install .` beside the highest of them alone (no LiteLLM proxy extras, no
# test tools), where scripts/smoke_install.py must get answers from both APIs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python_bin="${PYTHON:-python3}"

status=0
highest=""
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
  highest="$(printf '%s\n' $requirements | grep -m1 '^litellm')"
done < scripts/litellm-releases.txt

beside="$root/.venv-beside-litellm"
echo "== pip install . beside ${highest%%\[*} alone" >&2
(
  rm -rf "$beside"
  "$python_bin" -m venv "$beside"
  "$beside/bin/python" -m pip install --quiet --disable-pip-version-check "${highest/\[proxy\]/}" >&2
  "$beside/bin/python" -m pip install --quiet --disable-pip-version-check "$root" >&2
  "$beside/bin/python" -m pip check >&2
  cd "$(mktemp -d)"  # not the checkout: the installed package must be what runs
  LITELLM_LOCAL_MODEL_COST_MAP=True "$beside/bin/python" "$root/scripts/smoke_install.py"
) || status=1
exit "$status"
