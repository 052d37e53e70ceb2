#!/usr/bin/env bash
# One command for a newcomer: install, build the binaries, run the local demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bun run build
bun scripts/demo.ts
