#!/usr/bin/env bash
# Builds the sekisho Debian package from this source tree with Debian's own tooling
# (dpkg-buildpackage, debhelper; the debian/ directory is packaging/debian).
#
# Usage: scripts/build-deb.sh [OUTDIR]     (default: dist/)
# Writes OUTDIR/sekisho_VERSION_ARCH.deb (and the -dbgsym .deb beside it) and prints its
# path. Installs the build dependencies it lacks (as root; scripts/install-deps.sh).
# The tree is copied first, so the build leaves no file in the checkout; uncommitted
# changes are included.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$src/dist}" && cd "${1:-$src/dist}" && pwd)

"$src/scripts/install-deps.sh" package

# One version: the changelog's must be the one CMake builds into the programs.
cmake_version=$(sed -n 's/^project(sekisho VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
deb_version=$(cd "$src/packaging" && dpkg-parsechangelog -S Version)
if [ "${deb_version%%[+~]*}" != "$cmake_version" ]; then
  echo "build-deb: packaging/debian/changelog says $deb_version, CMakeLists.txt $cmake_version" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/sekisho-$deb_version
mkdir "$tree"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard | grep -zv '^packaging/debian/' |
    xargs -0 tar -cf - --no-recursion --ignore-failed-read) | tar -xf - -C "$tree"
else
  tar -C "$src" --exclude='./build*' --exclude=./dist --exclude=./packaging/debian -cf - . |
    tar -xf - -C "$tree"
fi
cp -r "$src/packaging/debian" "$tree/debian"

jobs=$(nproc)
echo "build-deb: building sekisho $deb_version with $jobs jobs in $tree"
(cd "$tree" && DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
  dpkg-buildpackage --build=binary --no-sign -j"$jobs") >"$work/build.log" 2>&1 || {
  tail -n 60 "$work/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed (the last 60 lines of its log are above)" >&2
  exit 1
}
shopt -s nullglob
debs=("$work"/sekisho*_"$deb_version"_*.deb "$work"/sekisho*_"$deb_version"_*.ddeb)
cp "${debs[@]}" "$out/"
deb=$(ls "$out"/sekisho_"$deb_version"_*.deb)
echo "build-deb: $deb"
sha256sum "$deb"
