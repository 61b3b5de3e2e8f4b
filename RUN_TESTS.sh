#!/usr/bin/env bash
# ./RUN_TESTS.sh [all|unit|regression|parity|e2e|coverage|lint] [pytest args...]
# Creates .venv and installs the project with [dev] on first use; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
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
  all)
    ruff check .
    ruff format --check .
    exec pytest "${workers[@]}" "${coverage[@]}" -m "not real_api" tests "$@"
    ;;
  *)
    echo "usage: $0 [all|unit|regression|parity|e2e|coverage|lint] [pytest args...]" >&2
    exit 2
    ;;
esac
