#!/usr/bin/env bash
# ./RUN_TESTS.sh compat [pytest args...]: the unit, regression and parity tests (both backends) on other
# releases than locks/dev.txt holds, each in a venv of its own:
#   lowest   locks/lowest.txt: the lowest LiteLLM (and httpx) the project supports. Locked: its failure
#            fails this command, as `all` does.
#   newest   no lock: the newest release of everything pyproject.toml allows, resolved now. A report, not a
#            gate: it lists what differs from locks/dev.txt and how the tests went, and never fails this
#            command (an upstream release must not block every change; it shows up here first).
# COMPAT_RUNS names the runs to make (default "lowest newest").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${COMPAT_RUNS:-lowest newest}"

suites() {
  python -c 'import importlib.metadata as m; print(*(f"{p} {m.version(p)}" for p in ("litellm", "httpx")))' >&2
  pytest -n "${PYTEST_WORKERS:-auto}" --dist loadgroup tests/unit tests/regression -m "not real_api" "$@" &&
    pytest -n "${PYTEST_WORKERS:-auto}" --dist loadgroup -m parity tests "$@"
}

status=0
for run in $runs; do
  case "$run" in
    lowest)
      echo "== compat lowest: locks/lowest.txt" >&2
      (
        export BOOTSTRAP_VENV="$root/.venv-lowest" BOOTSTRAP_LOCK=lowest
        source scripts/bootstrap.sh
        suites "$@"
      ) || status=1
      ;;
    newest)
      echo "== compat newest: every package at its newest release, unlocked (a report, never a failure)" >&2
      newest="$root/.venv-newest"
      report="$newest/resolved.txt"
      (
        BOOTSTRAP_VENV="$newest" BOOTSTRAP_LOCK=none source scripts/bootstrap.sh
        # The same inputs as locks/dev.txt, resolved afresh with no lock to prefer.
        UV_PYTHON_DOWNLOADS=never "$newest/bin/uv" pip compile --quiet --universal --python-version 3.11 \
          --no-header --no-annotate --override locks/overrides.txt --upgrade \
          pyproject.toml locks/base.in --extra dev -o "$report"
        "$newest/bin/uv" pip sync --quiet --python "$newest/bin/python" "$report"
        "$newest/bin/uv" pip install --quiet --python "$newest/bin/python" --no-deps --no-build-isolation -e .
      ) || { echo "compat newest: could not install the newest releases (see above)" >&2; exit "$status"; }
      echo "-- what the newest releases change from locks/dev.txt:" >&2
      changed="$(diff <(grep -E '^[A-Za-z0-9]' locks/dev.txt | cut -d' ' -f1 | sort -u) \
        <(grep -E '^[A-Za-z0-9]' "$report" | cut -d' ' -f1 | sort -u) | grep '^[<>]' || true)"
      echo "${changed:-   nothing: the lock holds the newest releases}" >&2
      if (PATH="$newest/bin:$PATH" LITELLM_LOCAL_MODEL_COST_MAP=True suites "$@"); then
        echo "compat newest: the tests pass on the newest releases" >&2
      else
        echo "compat newest: the tests FAIL on the newest releases above (a report: this run stays green;" \
          "fix the code, or keep the lock, before the next scripts/lock.sh --upgrade)" >&2
      fi
      ;;
    *)
      echo "compat: unknown run $run (lowest, newest)" >&2
      exit 2
      ;;
  esac
done
exit "$status"
