#!/usr/bin/env bash
# lintian on the .deb that scripts/build-deb.sh wrote: no error. Every tag is printed, so
# the accepted warnings are in the log (and overridden ones are named in
# packaging/debian/sekisho.lintian-overrides with the reason).
#
# Usage: deb_lintian.sh DEB_DIR
set -u
deb=$(ls "$1"/sekisho_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)
if [ -z "$deb" ]; then
  echo "SKIP: no sekisho_*.deb in $1 (build it: scripts/build-deb.sh $1)"
  exit 77
fi
if ! command -v lintian >/dev/null; then
  echo "FAIL: lintian is not installed (scripts/install-deps.sh test)"
  exit 1
fi
# --pedantic and --show-overrides: every tag in the log; only errors fail.
lintian --fail-on error --pedantic --show-overrides "$deb" 2>&1 |
  grep -v '^running with root privileges' | sed 's/^/lintian: /'
status=${PIPESTATUS[0]}
if [ "$status" = 0 ]; then
  echo "ok: lintian reports no error for $(basename "$deb")"
else
  echo "FAIL: lintian reports errors for $(basename "$deb") (exit $status)"
fi
exit "$status"
