#!/usr/bin/env bash
# `sekishoctl vpn genkey` against the real WireGuard tools: `wg pubkey < FILE` must print
# the public key genkey printed, for several keys; the file is what `wg genkey` writes
# (44 characters of base64 and a newline) and has mode 0600. And `vpn peer-config` names
# the gateway by the public key `wg pubkey` derives from the gateway's key file.
#
# Usage: vpn_genkey_wg.sh SEKISHOCTL
set -u
ctl=$1
if ! command -v wg >/dev/null; then
  echo "SKIP: wg is not installed (Debian package wireguard-tools; scripts/install-deps.sh test)"
  exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=0
for i in 1 2 3 4 5; do
  printed=$("$ctl" vpn genkey --out "$tmp/key$i")
  theirs=$(wg pubkey <"$tmp/key$i")
  if [ -n "$printed" ] && [ "$printed" = "$theirs" ]; then
    echo "ok: key $i: wg pubkey agrees: $printed"
  else
    echo "FAIL: key $i: genkey printed '$printed', wg pubkey says '$theirs'"
    failed=1
  fi
  if [ "$(stat -c %a "$tmp/key$i")" = 600 ] && [ "$(wc -c <"$tmp/key$i")" = 45 ] &&
    grep -qE '^[A-Za-z0-9+/]{43}=$' "$tmp/key$i"; then
    echo "ok: key $i: 0600, base64 and a newline as wg genkey writes"
  else
    echo "FAIL: key $i: $(stat -c %a "$tmp/key$i") $(wc -c <"$tmp/key$i") bytes"
    failed=1
  fi
done

# peer-config names the gateway by the public key wg derives from the gateway's key file.
sed "s|/etc/sekisho/keys/wg0.key|$tmp/key1|" "$(dirname "$0")/../../configs/factory-line.yaml" >"$tmp/policy.yaml"
if [ "$(id -u)" = 0 ]; then
  config=$("$ctl" vpn peer-config vendor-a --endpoint 198.51.100.1:51820 --policy "$tmp/policy.yaml")
  if grep -qxF "PublicKey = $(wg pubkey <"$tmp/key1")" <<<"$config"; then
    echo "ok: peer-config's PublicKey is wg pubkey of the gateway's key file"
  else
    echo "FAIL: peer-config printed: $config"
    failed=1
  fi
else
  echo "skipped: peer-config needs a root-owned key file (run as root)"
fi
exit "$failed"
