#!/usr/bin/env bash
# Every example policy under configs/ is valid and has no warning: the examples are what
# people copy, so they must be clean.
set -u
ctl=$1
configs=$2
passed=0
failed=0
for file in "$configs"/*.yaml; do
  err=$("$ctl" check "$file" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -eq 0 ] && [ -z "$err" ]; then
    echo "ok: $file"
    passed=$((passed + 1))
  else
    echo "FAIL: $file (exit $rc)"
    echo "$err"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
