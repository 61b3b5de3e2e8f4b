#!/usr/bin/env bash
# ./RUN_TESTS.sh [all|unit|regression|parity|e2e|coverage|lint] [pytest args...]
# ./RUN_TESTS.sh compat [pytest args...]   (the tests on the lowest and highest supported LiteLLM)
# ./RUN_TESTS.sh kit [pytest args...]   (the conformance kit's wheel in a fresh venv, on examples/third_party_proxy)
# ./RUN_TESTS.sh bench [memory|load] [--quick] [bench args...]   (the benchmarks: python -m bench, results in bench/results/)
# Creates .venv and installs the project with [dev] on first use (and [bench] for bench); extra arguments
# go to pytest (to the benchmark for bench).
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "bench" ]; then
  BOOTSTRAP_EXTRAS="${BOOTSTRAP_EXTRAS:-dev,bench}"
fi
if [ "${1:-}" = "compat" ]; then
  shift
  exec scripts/compat.sh "$@"
fi
if [ "${1:-}" = "kit" ]; then
  shift
  exec scripts/kit_example.sh "$@"
fi
source scripts/bootstrap.sh

mode="${1:-all}"
[ $# -gt 0 ] && shift

workers=(-n "${PYTEST_WORKERS:-auto}" --dist loadgroup)
coverage=(--cov=proxy --cov-report=term --cov-report=xml:coverage.xml --cov-fail-under=85)

case "$mode" in
  unit)       exec pytest "${workers[@]}" tests/unit tests/kit "$@" ;;
  regression) exec pytest "${workers[@]}" tests/regression "$@" ;;
  parity)     exec pytest "${workers[@]}" -m parity tests "$@" ;;
  e2e)        exec pytest "${workers[@]}" -m e2e tests "$@" ;;
  coverage)   exec pytest "${workers[@]}" "${coverage[@]}" -m "not real_api" tests "$@" ;;
  lint)       ruff check . && exec ruff format --check . ;;
  bench)      exec python -m bench "$@" ;;
  all)
    scripts/install_browser.sh  # chromium for tests/browser, when missing and installable
    ruff check .
    ruff format --check .
    exec pytest "${workers[@]}" "${coverage[@]}" -m "not real_api" tests "$@"
    ;;
  *)
    echo "usage: $0 [all|unit|regression|parity|e2e|coverage|lint|compat|kit|bench] [args...]" >&2
    exit 2
    ;;
esac
