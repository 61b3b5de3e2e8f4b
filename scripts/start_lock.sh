#!/usr/bin/env bash
# Sourced by ./start-proxies: start_proxies_lock ARGS... prints the lock running needs, binary when the
# binary backend is chosen (--backend binary, or no --backend and a config whose memory_proxy section says
# `backend: binary`), else runtime. The config is found as start-proxies finds it: --config/-c, else
# $MEMORY_PROXY_CONFIG, else ./config.yaml. tests/unit/test_start_script.py holds it to these rules.

start_proxies_lock() {
  local config="${MEMORY_PROXY_CONFIG:-}" previous="" argument backend=""
  [ -z "$config" ] && [ -f config.yaml ] && config=config.yaml
  for argument in "$@"; do
    case "$previous" in
      --backend) backend="$argument" ;;
      --config | -c) config="$argument" ;;
    esac
    case "$argument" in
      --backend=*) backend="${argument#--backend=}" ;;
      --config=*) config="${argument#--config=}" ;;
    esac
    previous="$argument"
  done
  if [ -z "$backend" ] && [ -n "$config" ] && [ -f "$config" ] &&
    grep -Eq '^[[:space:]]+backend:[[:space:]]*["'\'']?binary\b' "$config"; then
    backend=binary
  fi
  if [ "$backend" = binary ]; then echo binary; else echo runtime; fi
}
