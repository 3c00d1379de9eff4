#!/usr/bin/env bash
# The whole test suite from a fresh checkout on Debian 12, as root: installs what it
# needs, builds once, runs every ctest label but the full benchmarks while the .deb is
# finished and a separate clang build of policy/ compiles in the background, then the
# package tests and the libFuzzer smoke runs (the policy parser, the MQTT codec) side by
# side.
#
# Builds once: the build is the Debian package's own (scripts/build-deb.sh --ci: dh's
# configure and build, Debian's hardening flags) with the test suite in the same build
# tree, so the programs the package ships are the objects the tests ran; the lab runs
# their copies with the test hooks (build tree's test-bin/). The package's binary stage
# (install, strip, dpkg-deb) runs while the tests do.
#
# Environment: SEKISHO_BUILD_DIR (default build; the build tree is
# BUILD/sekisho-VERSION/obj-*, the .deb in its deb/), SEKISHO_FUZZ_SECONDS (default 30).
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

echo "== building (the package's build with the test suite, in $build)"
mkdir -p "$build"
scripts/build-deb.sh --ci "$build" build | tee "$build/build-stage.log"
build_tree=$(sed -n 's/^build-deb: tree //p' "$build/build-stage.log")
# Exactly one tree, which exists: the steps below remove and run things inside it.
if [ -z "$build_tree" ] || [ "$(printf '%s\n' "$build_tree" | wc -l)" -ne 1 ] ||
  [ ! -d "$build_tree" ]; then
  echo "test.sh: build-deb.sh named no single build tree (see $build/build-stage.log)" >&2
  exit 1
fi
phase_done "build"

# The rest of the .deb and the clang fuzz build of policy/ run in the background, at low
# priority, while the tests run: most of the lab's time is waiting on the network and
# the clock. The package tests and the fuzz run follow once they are done.
echo "== finishing the Debian package ($build_tree/deb) and the fuzz build ($build-fuzz) in the background"
rm -rf "$build_tree/deb"
(
  begun=$(date +%s)
  nice -n 10 scripts/build-deb.sh --ci "$build" binary "$build_tree/deb" >"$build/deb-build.log" 2>&1 || exit 1
  echo "binary stage of the .deb (background) $(($(date +%s) - begun))" >"$build/background-times"
  begun=$(date +%s)
  CXX=clang++ cmake -S . -B "$build-fuzz" -G Ninja -DSEKISHO_FUZZ=ON \
    -DSEKISHO_FUZZ_SECONDS="$fuzz_seconds" >/dev/null &&
    nice -n 10 cmake --build "$build-fuzz" >"$build/fuzz-build.log" 2>&1 || exit 2
  echo "fuzz build (background) $(($(date +%s) - begun))" >>"$build/background-times"
) &
background=$!
phase_done "start background builds"

echo "== tests"
ctest_status=0
ctest --test-dir "$build_tree" --no-tests=error --output-on-failure -j "$(nproc)" -LE '^(bench|package)$' ||
  ctest_status=$?
# The package run below writes its own LastTest.log: keep this one for "== measured".
cp "$build_tree/Testing/Temporary/LastTest.log" "$build_tree/Testing/Temporary/LastTest.log.main"
phase_done "ctest"

echo "== waiting for the background builds"
background_status=0
wait "$background" || background_status=$?
phase_done "wait for background builds"
while read -r line; do
  phases+=("$(printf '%-28s %5ss' "${line% *}" "${line##* }")")
done <"$build/background-times" 2>/dev/null || true
if [ "$background_status" = 1 ]; then
  tail -n 40 "$build/deb-build.log"
  echo "FAIL: building the Debian package (log: $build/deb-build.log)" >&2
  exit 1
elif [ "$background_status" != 0 ]; then
  tail -n 40 "$build/fuzz-build.log"
  echo "FAIL: the fuzz build (log: $build/fuzz-build.log)" >&2
  exit 1
fi
grep "^build-deb: " "$build/deb-build.log" || true

echo "== package tests"
ctest --test-dir "$build_tree" --no-tests=error --output-on-failure -L '^package$' || ctest_status=$?
phase_done "ctest (package)"

# What the tests measured, from ctest's logs: lines a test starts with "== measured" (the
# systemd units' exposure), the lab's figures and the benchmark smoke runs (the full
# benchmarks: ctest -L bench).
echo "== measured"
grep -hE "== measured|traffic matrix:|restored after|reload in force|WATCHDOG=1 in|benchmark:|ratio [a-z]|sekisho / |median|resident memory|peak memory" \
  "$build_tree/Testing/Temporary/LastTest.log"* | sed 's/^[0-9]*: //' || true

echo "== fuzz smoke (${fuzz_seconds}s each, side by side, clang + libFuzzer: the policy parser, the MQTT codec)"
# Verbose, but only each fuzzer's end: its final stats, or the crash and its artifact. The
# two run side by side, one core each (each runs for its time, however many inputs that
# is); every line keeps its test's number, and ctest's status is either's failure.
set +o pipefail
ctest --test-dir "$build-fuzz" --no-tests=error -V -j 2 -L fuzz 2>&1 |
  grep -E "^[0-9]+: (stat::|Done|#[0-9]+ *DONE|==[0-9]+==|SUMMARY|artifact|Test command)|Passed|Failed|tests passed|tests failed|Test #" | tail -n 40
fuzz_status=${PIPESTATUS[0]}
set -o pipefail
phase_done "fuzz smoke"
if [ "$ctest_status" != 0 ] || [ "$fuzz_status" != 0 ]; then
  echo "FAIL: ctest exit $ctest_status, fuzz smoke exit $fuzz_status" >&2
  exit 1
fi

# No test may leave sekisho's table in this machine's own network namespace.
if command -v nft >/dev/null && nft list table inet sekisho >/dev/null 2>&1; then
  echo "FAIL: table inet sekisho exists in the root network namespace" >&2
  exit 1
fi
