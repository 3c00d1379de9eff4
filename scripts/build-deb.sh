#!/usr/bin/env bash
# Builds the sekisho Debian package from this source tree with Debian's own tooling
# (dpkg-buildpackage, debhelper; the debian/ directory is packaging/debian).
#
# Usage: scripts/build-deb.sh [OUTDIR]     (default: dist/)
# Writes OUTDIR/sekisho_VERSION_ARCH.deb (and the -dbgsym .deb beside it) and prints its
# path. Installs the build dependencies it lacks (as root; scripts/install-deps.sh).
# The tree is copied first, so the build leaves no file in the checkout; uncommitted
# changes are included.
#
# CI (scripts/test.sh) builds the package in two stages with the test suite in its build
# tree (DEB_BUILD_OPTIONS=sekisho-ci, packaging/debian/rules), so that everything compiles
# once and the tests run on the package's own objects:
#   scripts/build-deb.sh --ci WORKDIR build            copies the tree to
#       WORKDIR/sekisho-VERSION and runs debian/rules build; prints "build-deb: tree DIR"
#       with DIR the build tree (obj-*) where ctest runs
#   scripts/build-deb.sh --ci WORKDIR binary OUTDIR     the rest of dpkg-buildpackage in
#       that tree (install, strip, dpkg-deb; the build is not redone), the .debs to OUTDIR
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
stage=all
if [ "${1:-}" = --ci ]; then
  [ $# -ge 3 ] && { [ "$3" = build ] || { [ "$3" = binary ] && [ $# = 4 ]; }; } || {
    echo "usage: $0 [OUTDIR] | --ci WORKDIR build | --ci WORKDIR binary OUTDIR" >&2
    exit 2
  }
  work=$(mkdir -p "$2" && cd "$2" && pwd)
  stage=$3
  out=${4:-}
  export DEB_BUILD_OPTIONS="sekisho-ci ${DEB_BUILD_OPTIONS:-}"
else
  out=${1:-$src/dist}
fi

"$src/scripts/install-deps.sh" package

# One version: the changelog's must be the one CMake builds into the programs.
cmake_version=$(sed -n 's/^project(sekisho VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
deb_version=$(cd "$src/packaging" && dpkg-parsechangelog -S Version)
if [ "${deb_version%%[+~]*}" != "$cmake_version" ]; then
  echo "build-deb: packaging/debian/changelog says $deb_version, CMakeLists.txt $cmake_version" >&2
  exit 1
fi

if [ "$stage" = all ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
tree=$work/sekisho-$deb_version
if [ "$stage" != binary ]; then
  rm -rf "$tree"
  mkdir "$tree"
  if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
      xargs -0 tar -cf - --no-recursion --ignore-failed-read) | tar -xf - -C "$tree"
  else
    tar -C "$src" --exclude='./build*' --exclude=./dist -cf - . | tar -xf - -C "$tree"
  fi
  cp -r "$src/packaging/debian" "$tree/debian"
fi

jobs=$(nproc)
export DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}"
case $stage in
  all) what=(--build=binary) ;;
  build) what=(--rules-target=build) ;;
  binary) what=(--build=binary --no-pre-clean) ;;
esac
echo "build-deb: $stage stage of sekisho $deb_version with $jobs jobs in $tree"
(cd "$tree" && dpkg-buildpackage "${what[@]}" --no-sign -j"$jobs") >"$work/$stage.log" 2>&1 || {
  tail -n 60 "$work/$stage.log" >&2
  echo "build-deb: dpkg-buildpackage failed (the last 60 lines of its log are above)" >&2
  [ "$stage" = all ] || echo "build-deb: the whole log: $work/$stage.log" >&2
  exit 1
}
if [ "$stage" = build ]; then
  echo "build-deb: tree $(echo "$tree"/obj-*)"
  exit 0
fi
out=$(mkdir -p "$out" && cd "$out" && pwd)
shopt -s nullglob
debs=("$work"/sekisho*_"$deb_version"_*.deb "$work"/sekisho*_"$deb_version"_*.ddeb)
cp "${debs[@]}" "$out/"
deb=$(ls "$out"/sekisho_"$deb_version"_*.deb)
echo "build-deb: $deb"
sha256sum "$deb"
