#!/usr/bin/env bash
# The whole test suite from a fresh checkout on Debian 12, as root: installs what it
# needs, builds once (and the .deb, which has no test hooks), runs every ctest label but
# the full benchmarks, then the libFuzzer smoke run of the policy parser in a separate
# clang build of policy/ only.
#
# Environment: SEKISHO_BUILD_DIR (default build), SEKISHO_FUZZ_SECONDS (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SEKISHO_BUILD_DIR:-build}
fuzz_seconds=${SEKISHO_FUZZ_SECONDS:-30}
declare -a phases=()
started=$(date +%s)
phase_start=$started

phase_done() {
  local now
  now=$(date +%s)
  phases+=("$(printf '%-28s %5ss' "$1" $((now - phase_start)))")
  phase_start=$now
}
report() {
  local status=$?
  echo
  echo "== phase times"
  printf '%s\n' "${phases[@]}"
  printf '%-28s %5ss\n' "total" $(($(date +%s) - started))
  exit $status
}
trap report EXIT

echo "== installing Debian packages"
scripts/install-deps.sh test
phase_done "install packages"

echo "== building ($build)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEKISHO_BUILD_TESTS=ON \
  -DSEKISHO_WERROR=ON -DSEKISHO_TESTING=ON >/dev/null
cmake --build "$build"
phase_done "build"

# The .deb, built as a user builds it (no test hooks), for the package_install test.
echo "== building the Debian package ($build/deb)"
rm -rf "$build/deb"
scripts/build-deb.sh "$build/deb"
phase_done "build .deb"

echo "== tests"
ctest --test-dir "$build" --no-tests=error --output-on-failure -j "$(nproc)" -LE '^bench$'
phase_done "ctest (gcc build)"

# What the tests measured, from ctest's log: lines a test starts with "== measured" (the
# systemd units' exposure), the lab's figures and the benchmark smoke runs (the full
# benchmarks: ctest -L bench).
echo "== measured"
grep -hE "== measured|traffic matrix:|restored after|reload in force|WATCHDOG=1 in|benchmark:|ratio [a-z]|sekisho / |median|resident memory|peak memory" \
  "$build/Testing/Temporary/LastTest.log" | sed 's/^[0-9]*: //' || true

echo "== fuzz smoke (${fuzz_seconds}s, clang + libFuzzer, policy/ only)"
CXX=clang++ cmake -S . -B "$build-fuzz" -G Ninja -DSEKISHO_FUZZ=ON \
  -DSEKISHO_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build "$build-fuzz"
# Verbose, but only the end: libFuzzer's final stats, or the crash and its artifact.
ctest --test-dir "$build-fuzz" --no-tests=error -V -L fuzz 2>&1 | tail -n 25
phase_done "fuzz smoke"

# No test may leave sekisho's table in this machine's own network namespace.
if command -v nft >/dev/null && nft list table inet sekisho >/dev/null 2>&1; then
  echo "FAIL: table inet sekisho exists in the root network namespace" >&2
  exit 1
fi
