#!/usr/bin/env bash
# ./RUN_TESTS.sh kit: the conformance kit as a third party gets it. The project's wheel is built and
# installed with its [conformance] extra into a fresh venv outside the repository, examples/third_party_proxy
# is copied beside it, and plain `pytest` runs there: the relay must pass the generic suites, and the
# product suites must be skipped by capability (tests/kit/test_third_party_example.py checks the same
# from inside the repository; this checks the wheel: its data files, its extra, its entry point).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_bin="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/memory-proxy-kit-XXXXXX")"
trap 'rm -rf "$work"' EXIT

"$python_bin" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --upgrade pip
"$work/venv/bin/pip" wheel --quiet --no-deps --wheel-dir "$work/dist" "$root"
wheel="$(ls "$work"/dist/litellm_memory_proxy-*.whl)"
"$work/venv/bin/pip" install --quiet "${wheel}[conformance]"
cp -r "$root/examples/third_party_proxy" "$work/example"
cd "$work/example"
echo "== examples/third_party_proxy against the installed kit ($(basename "$wheel"))" >&2
"$work/venv/bin/python" -m pytest -p no:cacheprovider -q -rs "$@" | tee "$work/report.txt"
grep -q "relay: missing capability memory" "$work/report.txt"
! grep -q "\[sdk\]\|\[binary\]" "$work/report.txt"
