# Shared by the lab scripts: skip without the privilege, the policies to try, a scratch
# folder removed on exit, and pass/fail counting with a closing line ctest can read.

# Skips the test (exit 77) unless nft works and network namespaces can be made.
lab_require() {
  if ! command -v nft >/dev/null || ! command -v unshare >/dev/null; then
    echo "SKIP: nft or unshare is not installed (apt-get install nftables util-linux)"
    exit 77
  fi
  if ! unshare --net true 2>/dev/null; then
    echo "SKIP: cannot create a network namespace here (needs root)"
    exit 77
  fi
}

# Every example policy and every golden compile input under source tree $1.
lab_policies() {
  printf '%s\n' "$1"/configs/*.yaml "$1"/tests/golden/compile/*.yaml
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
lab_pass() { echo "ok: $*"; passed=$((passed + 1)); }
lab_fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
lab_finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}
