#!/usr/bin/env bash
# Installs what is missing, runs the whole suite (the real-NAT tests need
# root), and prints a final "N passed, N failed, N skipped" line.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

report="$(mktemp -t hp-junit.XXXXXX.xml)"
bun test --reporter=junit --reporter-outfile="$report" --only-failures "$@" 2>&1
code=$?
summary="$(grep -o '<testsuites [^>]*>' "$report" | head -n 1)"
attr() { printf '%s' "$summary" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
tests="$(attr tests)"; failures="$(attr failures)"; skipped="$(attr skipped)"
rm -f "$report"
if [ -z "$tests" ]; then
  echo "0 passed, 1 failed (the test runner produced no report)"
  exit 1
fi
passed=$((tests - failures - skipped))
# A non-zero exit without a counted failure (an error outside any test) is a failure too.
if [ "$code" -ne 0 ] && [ "$failures" -eq 0 ]; then failures=1; fi
echo "${passed} passed, ${failures} failed, ${skipped} skipped"
[ "$failures" -eq 0 ] && [ "$code" -eq 0 ]
