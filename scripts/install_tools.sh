#!/usr/bin/env bash
# The real tools the tests drive beside the Python packages of the lock; called by ./RUN_TESTS.sh.
#  - chromium, for the console's browser tests (tests/browser): $MEMORY_PROXY_TEST_CHROMIUM, else chromium
#    or chromium-browser on PATH; when there is none and this is root with apt-get, Debian's chromium is
#    installed (quietly, at most $INSTALL_TOOLS_TIMEOUT seconds, 600 by default).
#  - the clients of locks/clients/package-lock.json (Claude Code, Codex, the openai Node SDK), `npm ci` into
#    $MEMORY_PROXY_TEST_TOOLS (default .tools/), again only when that lock changed.
# PostgreSQL comes from the Python lock (pgserver). A tool that cannot be installed is one line here and a
# skip in the tests that need it, or a failure under CI=true (conformance/tools.py). Always exits 0.
set -u

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
install_seconds="${INSTALL_TOOLS_TIMEOUT:-600}"

say() { echo "install_tools: $*" >&2; }

find_chromium() {
  if [ -n "${MEMORY_PROXY_TEST_CHROMIUM:-}" ]; then
    command -v "$MEMORY_PROXY_TEST_CHROMIUM"
    return
  fi
  command -v chromium || command -v chromium-browser
}

install_chromium() {
  local skip_note="the browser tests (tests/browser) will skip" log status found
  if find_chromium >/dev/null 2>&1; then
    return
  fi
  if [ -n "${MEMORY_PROXY_TEST_CHROMIUM:-}" ]; then
    say "MEMORY_PROXY_TEST_CHROMIUM=$MEMORY_PROXY_TEST_CHROMIUM is not an executable; $skip_note"
    return
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "no chromium, and not root with apt-get to install it (apt-get install chromium," \
      "or set MEMORY_PROXY_TEST_CHROMIUM); $skip_note"
    return
  fi
  say "installing Debian's chromium for the browser tests ..."
  log="$(mktemp "${TMPDIR:-/tmp}/install-chromium.XXXXXX.log")"
  # A fresh container has no package lists yet: update them only when the first try cannot find chromium.
  timeout "$install_seconds" env DEBIAN_FRONTEND=noninteractive sh -c \
    'apt-get install -y -qq --no-install-recommends chromium ||
     { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }' >"$log" 2>&1
  status=$?
  if [ "$status" = 0 ] && found="$(find_chromium 2>/dev/null)"; then
    say "installed chromium ($found)"
    rm -f "$log"
  elif [ "$status" = 124 ]; then
    say "installing chromium took over ${install_seconds} s, stopped (see $log); $skip_note"
  else
    say "apt-get could not install chromium (exit $status, see $log); $skip_note"
  fi
}

install_clients() {
  local tools="${MEMORY_PROXY_TEST_TOOLS:-$root/.tools}" lock="$root/locks/clients" stamp log
  stamp="$tools/.installed-$(cat "$lock/package.json" "$lock/package-lock.json" | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ]; then
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    say "no npm: the tests that run the real Claude Code and Codex CLIs will skip (install Node.js 18+)"
    return
  fi
  say "installing the clients of locks/clients (Claude Code, Codex, the openai Node SDK) into $tools ..."
  mkdir -p "$tools"
  rm -f "$tools"/.installed-*
  cp "$lock/package.json" "$lock/package-lock.json" "$tools/"
  log="$(mktemp "${TMPDIR:-/tmp}/install-clients.XXXXXX.log")"
  if timeout "$install_seconds" npm ci --prefix "$tools" --no-audit --no-fund >"$log" 2>&1; then
    touch "$stamp"
    rm -f "$log"
  else
    say "npm ci failed (see $log): the tests that run the real CLIs will skip"
  fi
}

install_chromium
install_clients
exit 0
