#!/usr/bin/env bash
# Installs what hole-punch needs on a fresh Debian/Ubuntu machine: Bun (pinned,
# from the npm registry), the JS dependencies, and (as root) what the tests
# use: nftables, iproute2 and conntrack for the real-NAT tests, gcc for the
# delay link, Debian's stun client and coturn for STUN interop, redis-server
# for the cluster tests and headless chromium for the status-page test. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

BUN_VERSION="$(sed -n 's/.*"packageManager": *"bun@\([^"]*\)".*/\1/p' package.json)"

if ! command -v bun >/dev/null 2>&1 || [ "$(bun --version)" != "$BUN_VERSION" ]; then
  echo "setup: installing bun@$BUN_VERSION from the npm registry" >&2
  npm install -g --silent "bun@$BUN_VERSION" >&2
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  command -v nft >/dev/null 2>&1 || missing+=(nftables)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
  command -v gcc >/dev/null 2>&1 || missing+=(gcc)
  command -v stun >/dev/null 2>&1 || missing+=(stun-client)
  command -v turnserver >/dev/null 2>&1 || missing+=(coturn)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: apt-get install ${missing[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
fi

bun install --frozen-lockfile >&2
