#!/usr/bin/env bash
# Installs the Debian 12 packages sekisho needs to build, test or demo from a source
# checkout. Usage: scripts/install-deps.sh build|test|demo|package
# Runs apt-get only when something is missing, so repeated runs cost nothing.
set -euo pipefail

build_packages=(
  cmake ninja-build g++ pkg-config
  libyaml-cpp-dev libhowardhinnant-date-dev tzdata nlohmann-json3-dev
  libnftnl-dev libmnl-dev
  libboost-dev libsystemd-dev  # sekishod: Boost.Asio, sd_notify
  libssl-dev                   # SHA-256 (and, next, Ed25519 audit checkpoints)
  libsqlite3-dev               # the audit log
  zlib1g-dev                   # exported audit bundles (.tar.gz)
  libpaho-mqtt-dev             # the cloud broker connection (Paho C: MQTT over TLS)
)
test_packages=(
  doctest-dev python3 python3-yaml python3-jsonschema
  clang libclang-rt-14-dev   # the libFuzzer build of policy/
  nftables iproute2 util-linux  # the lab: nft to load and read back, namespaces
  iputils-ping iperf3           # the lab's probes and the forwarding benchmark
  sqlite3                       # tampering with the audit log, as an attacker would
  openssl                       # checking audit checkpoints as an auditor would
  systemd                       # systemd-analyze verify/security on the staged units
  lintian                       # checking the .deb
  wireguard-tools wireguard-go  # the lab VPN: wg, wg-quick and the userspace WireGuard
  nmap                          # port scans of the gateway from every side
  conntrack                     # reading the kernel's connection table (jump sessions)
  mosquitto mosquitto-clients   # the lab's local and cloud MQTT brokers, publishers, subscribers
)
package_packages=(debhelper dpkg-dev)  # scripts/build-deb.sh

case "${1:-}" in
  build) packages=("${build_packages[@]}") ;;
  demo) packages=("${build_packages[@]}" nftables iproute2 util-linux python3 iputils-ping) ;;
  test) packages=("${build_packages[@]}" "${test_packages[@]}" "${package_packages[@]}") ;;
  package) packages=("${build_packages[@]}" "${package_packages[@]}") ;;
  *)
    echo "usage: $0 build|test|demo|package" >&2
    exit 2
    ;;
esac

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
