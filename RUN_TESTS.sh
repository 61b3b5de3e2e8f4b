#!/usr/bin/env bash
# ./RUN_TESTS.sh [all|unit|regression|parity|e2e|coverage|lint] [pytest args...]
# ./RUN_TESTS.sh stacks [pytest args...]   the tests that start whole stacks of processes (not in all)
# ./RUN_TESTS.sh faults [pytest args...]   the durability tests with outages of minutes (a full disk for
#                                          $MEMORY_PROXY_TEST_DISK_FULL_SECONDS, default 60; PostgreSQL down
#                                          for $MEMORY_PROXY_TEST_POSTGRES_DOWN_SECONDS, default 300)
# ./RUN_TESTS.sh compat [pytest args...]   the tests on the lowest supported releases (locked, gating), then
#                                          on the newest of everything (unlocked, a report that never fails)
# ./RUN_TESTS.sh kit [pytest args...]      the conformance kit's wheel in a fresh venv, on examples/third_party_proxy
# ./RUN_TESTS.sh release                   the package as users install it: wheel, pip, pipx, uv tool
# ./RUN_TESTS.sh bench [memory|load|soak|ranking_weights] [--quick] [bench args...]   the benchmarks (python -m bench)
# Installs locks/dev.txt (locks/bench.txt for bench) into .venv when it is missing or out of date, and the
# real tools the tests drive (scripts/install_tools.sh); extra arguments go to pytest (the benchmark for bench).
set -euo pipefail
cd "$(dirname "$0")"

mode="${1:-all}"
[ $# -gt 0 ] && shift
case "$mode" in
  compat) exec scripts/compat.sh "$@" ;;
  kit) exec scripts/kit_example.sh "$@" ;;
  release) exec scripts/release_check.sh "$@" ;;
  bench) BOOTSTRAP_LOCK=bench ;;
  *) BOOTSTRAP_LOCK=dev ;;
esac
source scripts/bootstrap.sh
installed=$BOOTSTRAP_SECONDS

workers=(-n "${PYTEST_WORKERS:-auto}" --dist loadgroup)
coverage=(--cov=proxy --cov-report=term --cov-report=xml:coverage.xml --cov-fail-under=85)

case "$mode" in
  unit)       exec pytest "${workers[@]}" tests/unit tests/kit "$@" ;;
  regression) exec pytest "${workers[@]}" tests/regression "$@" ;;
  parity)     exec pytest "${workers[@]}" -m parity tests "$@" ;;
  e2e)        scripts/install_tools.sh; exec pytest "${workers[@]}" -m e2e tests "$@" ;;
  coverage)   scripts/install_tools.sh; exec pytest "${workers[@]}" "${coverage[@]}" -m "not real_api" tests "$@" ;;
  stacks)     exec pytest "${workers[@]}" -m "stack and not real_api" tests "$@" ;;
  lint)       ruff check . && exec ruff format --check . ;;
  faults)
    scripts/install_tools.sh
    export MEMORY_PROXY_TEST_DISK_FULL_SECONDS="${MEMORY_PROXY_TEST_DISK_FULL_SECONDS:-60}"
    export MEMORY_PROXY_TEST_POSTGRES_DOWN_SECONDS="${MEMORY_PROXY_TEST_POSTGRES_DOWN_SECONDS:-300}"
    exec pytest "${workers[@]}" -m fault tests "$@"
    ;;
  bench)      exec python -m bench "$@" ;;
  all)
    started=$SECONDS
    scripts/install_tools.sh  # chromium and the client CLIs, when missing and installable
    installed=$((installed + SECONDS - started))
    started=$SECONDS
    status=0
    ruff check . && ruff format --check . &&
      pytest "${workers[@]}" "${coverage[@]}" -m "not real_api and not stack" tests "$@" || status=$?
    echo "RUN_TESTS.sh all: install ${installed} s, tests $((SECONDS - started)) s, exit status ${status}" >&2
    exit "$status"
    ;;
  *)
    echo "usage: $0 [all|unit|regression|parity|e2e|stacks|coverage|lint|faults|compat|kit|release|bench] [args...]" >&2
    exit 2
    ;;
esac
