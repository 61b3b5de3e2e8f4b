#!/usr/bin/env bash
# Make sure the console's browser tests (tests/browser) have a chromium to drive; called by ./RUN_TESTS.sh.
# Finds it as the tests do: $MEMORY_PROXY_TEST_CHROMIUM, else chromium or chromium-browser on PATH. When
# there is none and this is root with apt-get, installs Debian's chromium (quietly, at most 10 minutes);
# otherwise says in one line why the browser tests will skip. Always exits 0: a missing browser skips
# those tests, it does not fail the run. With chromium present it does nothing, in milliseconds.
set -u

install_seconds="${INSTALL_BROWSER_TIMEOUT:-600}"
skip_note="the browser tests (tests/browser) will skip"

find_chromium() {
  if [ -n "${MEMORY_PROXY_TEST_CHROMIUM:-}" ]; then
    command -v "$MEMORY_PROXY_TEST_CHROMIUM"
    return
  fi
  command -v chromium || command -v chromium-browser
}

if find_chromium >/dev/null 2>&1; then
  exit 0
fi
if [ -n "${MEMORY_PROXY_TEST_CHROMIUM:-}" ]; then
  echo "install_browser: MEMORY_PROXY_TEST_CHROMIUM=$MEMORY_PROXY_TEST_CHROMIUM is not an executable; $skip_note"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: no chromium, and not root with apt-get to install it (apt-get install chromium," \
    "or set MEMORY_PROXY_TEST_CHROMIUM); $skip_note"
  exit 0
fi

log="$(mktemp "${TMPDIR:-/tmp}/install-chromium.XXXXXX.log")"
# A fresh container has no package lists yet: update them only when the first try cannot find chromium.
timeout "$install_seconds" env DEBIAN_FRONTEND=noninteractive sh -c \
  'apt-get install -y -qq --no-install-recommends chromium ||
   { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }' >"$log" 2>&1
status=$?
if [ "$status" = 0 ] && found="$(find_chromium 2>/dev/null)"; then
  echo "install_browser: installed chromium ($found) for the browser tests"
  rm -f "$log"
elif [ "$status" = 124 ]; then
  echo "install_browser: installing chromium took over ${install_seconds} s, stopped (see $log); $skip_note"
else
  echo "install_browser: apt-get could not install chromium (exit $status, see $log); $skip_note"
fi
exit 0
