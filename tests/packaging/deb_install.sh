#!/usr/bin/env bash
# The .deb as a plant's IT person meets it, on this machine: what it contains,
# `apt-get install ./sekisho_*.deb`, the installed files, modes, groups and conffile, the
# installed units under systemd-analyze verify, the installed sekishod enforcing in the lab
# (never in this machine's own network namespace), then an upgrade to a repacked
# VERSION+test1, --reinstall, remove and purge, each checked for what it leaves.
# lintian runs in deb_lintian.sh, a test of its own that needs no lab.
#
# Usage: deb_install.sh SOURCE_DIR DEB_DIR
# DEB_DIR holds sekisho_VERSION_ARCH.deb from scripts/build-deb.sh (scripts/test.sh builds
# it before ctest). Skips (77) without root, without the .deb, and where sekisho is
# already installed: this test installs and purges the package.
set -u
src=$1
deb_dir=$2
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: installing a package needs root"
  exit 77
fi
deb=$(ls "$deb_dir"/sekisho_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)
if [ -z "$deb" ]; then
  echo "SKIP: no sekisho_*.deb in $deb_dir (build it: scripts/build-deb.sh $deb_dir)"
  exit 77
fi
if dpkg-query -W -f='${Status}' sekisho 2>/dev/null | grep -q 'ok \(installed\|config-files\)'; then
  echo "SKIP: sekisho is installed on this machine; this test installs and purges it"
  exit 77
fi
version=$(dpkg-deb -f "$deb" Version)
pkgtmp=$(mktemp -d)
bindir=$pkgtmp/bin
mkdir "$bindir"
ln -s /usr/sbin/sekishod "$bindir/sekishod"
ln -s /usr/bin/sekishoctl "$bindir/sekishoctl"
. "$src/tests/lab/lab_test.sh"
# Whatever happens, the machine ends without sekisho, as it began.
cleanup() {
  "$lab" down
  pkill -f 'sekishod .*--state-dir /var/lib/sekisho' 2>/dev/null
  DEBIAN_FRONTEND=noninteractive dpkg --purge sekisho >/dev/null 2>&1
  rm -rf /etc/sekisho "$pkgtmp" "$tmp"
}
trap cleanup EXIT

check() {
  local what=$1
  shift
  if "$@"; then lab_pass "$what"; else lab_fail "$what"; fi
}
mode_of() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >"$pkgtmp/apt.log" 2>&1 || {
    tail -n 30 "$pkgtmp/apt.log"
    return 1
  }
}
apt_said() { grep -q -- "$1" "$pkgtmp/apt.log"; }

echo "== $deb ($version)"

# No key, certificate or secret in the package: by name, and by content.
dpkg-deb -c "$deb" >"$pkgtmp/contents"
check "no key or certificate file in the package" \
  bash -c "! grep -Ei '\.(key|pem|crt|p12|pfx)$|private|secret' '$pkgtmp/contents'"
# Exactly the files of tests/packaging/deb_files.txt, with their modes and owners: a build
# or packaging change that adds, drops, moves or re-modes an installed file fails here
# (when it is meant, the list changes in the same commit).
awk '{ line = $1 " " $2; for (i = 6; i <= NF; i++) line = line " " $i; print line }' \
  "$pkgtmp/contents" | LC_ALL=C sort -k 3 >"$pkgtmp/files"
if diff -u "$src/tests/packaging/deb_files.txt" "$pkgtmp/files" >"$pkgtmp/files.diff"; then
  lab_pass "the package installs exactly the files of tests/packaging/deb_files.txt"
else
  lab_fail "the package's files differ from tests/packaging/deb_files.txt (- expected, + packaged):"
  sed -n '3,$p' "$pkgtmp/files.diff"
fi
dpkg-deb -x "$deb" "$pkgtmp/x"
# PEM armour, not prose: the docs and sekishoctl say "<VENDOR PRIVATE KEY>" as a placeholder.
check "no private key or certificate inside any packaged file" \
  bash -c "! grep -rlE -- '-----BEGIN ([A-Z0-9]+ )*(PRIVATE KEY|CERTIFICATE)-----' '$pkgtmp/x'"
# The test hooks are linked only into the lab's copies of the programs (build tree's
# test-bin/, daemon/common/test_hooks.hpp): no packaged program may name one.
programs=()
while IFS= read -r -d '' file; do
  [ "$(head -c 4 "$file" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] && programs+=("$file")
done < <(find "$pkgtmp/x" -type f -print0)
check "no test hook (SEKISHO_TEST_) in the package's ${#programs[@]} programs (ELF files)" \
  bash -c '[ $# -gt 0 ] && ! grep -l SEKISHO_TEST_ "$@"' grep_hooks "${programs[@]}"

# Install.
install_start=$(now_ms)
check "apt-get install ./$(basename "$deb")" apt_install "$deb"
echo "== measured package: $(basename "$deb") $(($(stat -c %s "$deb") / 1024)) KiB," \
  "installed $(dpkg-query -W -f='${Installed-Size}' sekisho 2>/dev/null) KiB," \
  "apt-get install took $(($(now_ms) - install_start)) ms"
sed 's/^/  apt: /' "$pkgtmp/apt.log" | grep -i 'sekisho\|loopback\|enable' | head -n 20
check "dpkg says installed, version $version" \
  test "$(dpkg-query -W -f='${Status} ${Version}' sekisho)" = "install ok installed $version"
check "first install tells that only loopback passes" apt_said "ONLY LOOPBACK PASSES"
check "sekishod is /usr/sbin/sekishod, 0755 root" test "$(mode_of /usr/sbin/sekishod)" = "755 root:root"
check "sekishoctl is /usr/bin/sekishoctl, 0755 root" test "$(mode_of /usr/bin/sekishoctl)" = "755 root:root"
check "sekishod --version says $version" test "$(/usr/sbin/sekishod --version)" = "sekishod ${version%%+*}"
check "the conffile is /etc/sekisho/policy.yaml, 0644" test "$(mode_of /etc/sekisho/policy.yaml)" = "644 root:root"
check "dpkg lists /etc/sekisho/policy.yaml as a conffile" \
  bash -c "dpkg-query -W -f='\${Conffiles}' sekisho | grep -q '^ /etc/sekisho/policy.yaml '"
check "the shipped policy is the starting policy" cmp -s /etc/sekisho/policy.yaml "$src/configs/starting-policy.yaml"
check "the shipped policy is valid" /usr/bin/sekishoctl check /etc/sekisho/policy.yaml
for group in sekisho-admin sekisho-operator sekisho-viewer; do
  check "group $group exists (sysusers.d)" bash -c "getent group $group >/dev/null"
done
check "/var/lib/sekisho exists, 0700 root (tmpfiles.d)" test "$(mode_of /var/lib/sekisho)" = "700 root:root"
check "/run/wireguard exists, 0700 root (tmpfiles.d)" test "$(mode_of /run/wireguard)" = "700 root:root"
check "user sekisho-broker exists, without a login (sysusers.d)" \
  bash -c "getent passwd sekisho-broker | grep -q ':/usr/sbin/nologin$'"
check "/etc/sekisho/broker exists, 2750 root:sekisho-broker (tmpfiles.d)" \
  test "$(stat -c '%a %U:%G' /etc/sekisho/broker)" = "2750 root:sekisho-broker"
check "sekisho-broker-apply is /usr/libexec/sekisho/sekisho-broker-apply, 0755 root" \
  test "$(mode_of /usr/libexec/sekisho/sekisho-broker-apply)" = "755 root:root"
unitdir=$(dirname "$(dpkg -L sekisho | grep '/systemd/system/sekishod.service$')")
for unit in sekishod.service sekisho-restore.service sekisho-broker.service \
  sekisho-broker-apply.path sekisho-broker-apply.service; do
  check "$unit installed in $unitdir" test -f "$unitdir/$unit"
  check "$unit is not enabled" bash -c "! ls /etc/systemd/system/*.wants/$unit 2>/dev/null | grep -q ."
done
check "sysctl.d sets nf_conntrack_acct = 1" grep -qx 'net.netfilter.nf_conntrack_acct = 1' \
  /usr/lib/sysctl.d/60-sekisho.conf
check "modules-load.d loads nf_conntrack" grep -qx 'nf_conntrack' /usr/lib/modules-load.d/sekisho.conf
for page in man1/sekishoctl.1 man5/sekisho-policy.5 man8/sekishod.8; do
  check "man page $page" test -f "/usr/share/man/$page.gz"
done
check "bash completion for sekishoctl" test -f /usr/share/bash-completion/completions/sekishoctl
check "copyright and changelog" test -f /usr/share/doc/sekisho/copyright -a -f /usr/share/doc/sekisho/changelog.gz

# The installed units, as systemd would load them.
if command -v systemd-analyze >/dev/null; then
  if systemd-analyze verify "$unitdir/sekishod.service" "$unitdir/sekisho-restore.service" \
    >"$pkgtmp/verify" 2>&1 && [ ! -s "$pkgtmp/verify" ]; then
    lab_pass "systemd-analyze verify on the installed units: silent"
  else
    lab_fail "systemd-analyze verify on the installed units:"
    cat "$pkgtmp/verify"
  fi
fi

# The installed programs in the lab: they enforce the lab's policy, then the shipped one.
lab_up
expect historian tcp 192.0.2.31 9005 reached "installed sekishod, lab policy"
expect historian tcp 192.0.2.31 22 blocked "installed sekishod, lab policy"
if "$ctl" --control "$LAB_RUN_DIR/control.sock" apply /etc/sekisho/policy.yaml >"$pkgtmp/apply" 2>&1; then
  lab_pass "the installed sekishoctl applies the shipped policy"
else
  lab_fail "apply the shipped policy: $(cat "$pkgtmp/apply")"
fi
expect historian tcp 192.0.2.31 9005 blocked "shipped policy: only loopback passes"
"$lab" daemon stop

# The installed sekishod with the installed policy and state directory, in the lab's
# gateway namespace: it makes the audit log and its key in /var/lib/sekisho.
"$lab" exec gw /usr/sbin/sekishod --policy /etc/sekisho/policy.yaml --state-dir /var/lib/sekisho \
  --control "$pkgtmp/control.sock" >"$pkgtmp/daemon.log" 2>&1 &
if wait_ms 10000 grep -q enforcing "$pkgtmp/daemon.log" >/dev/null; then
  lab_pass "the installed sekishod enforces /etc/sekisho/policy.yaml with /var/lib/sekisho"
else
  lab_fail "the installed sekishod did not start: $(cat "$pkgtmp/daemon.log")"
fi
pkill -TERM -f 'sekishod .*--state-dir /var/lib/sekisho'
wait
check "the audit signing key was made on the box, 0600" test "$(mode_of /var/lib/sekisho/audit-key.pem)" = "600 root:root"
check "the audit log is in /var/lib/sekisho" test -f /var/lib/sekisho/audit.db
"$lab" down

# Upgrade to the same package repacked as VERSION+test1, the admin's edit of the conffile
# kept; sekishod is not running (no systemd here), so nothing is restarted.
echo "# edited by the admin" >>/etc/sekisho/policy.yaml
dpkg-deb -R "$deb" "$pkgtmp/repack"
sed -i "s/^Version: .*/Version: $version+test1/" "$pkgtmp/repack/DEBIAN/control"
dpkg-deb --root-owner-group -b "$pkgtmp/repack" "$pkgtmp/sekisho_${version}+test1.deb" >/dev/null
check "upgrade to $version+test1" apt_install "$pkgtmp/sekisho_${version}+test1.deb"
check "dpkg says $version+test1" test "$(dpkg-query -W -f='${Version}' sekisho)" = "$version+test1"
check "upgrade keeps the admin's edit of the conffile" grep -q '^# edited by the admin' /etc/sekisho/policy.yaml
check "upgrade does not print the first-install notice" bash -c "! grep -q 'ONLY LOOPBACK' '$pkgtmp/apt.log'"
check "upgrade keeps the audit log and key" test -f /var/lib/sekisho/audit.db -a -f /var/lib/sekisho/audit-key.pem

check "apt-get install --reinstall" apt_install --reinstall "$pkgtmp/sekisho_${version}+test1.deb"
check "reinstall keeps the conffile edit" grep -q '^# edited by the admin' /etc/sekisho/policy.yaml
check "reinstall: sekishod is in place" test -x /usr/sbin/sekishod

# Remove: the programs go; the policy, state and keys stay.
DEBIAN_FRONTEND=noninteractive apt-get remove -y sekisho >"$pkgtmp/apt.log" 2>&1
check "remove: dpkg keeps only the config files" \
  test "$(dpkg-query -W -f='${Status}' sekisho)" = "deinstall ok config-files"
check "remove: the programs are gone" test ! -e /usr/sbin/sekishod -a ! -e /usr/bin/sekishoctl
check "remove: the policy stays" test -f /etc/sekisho/policy.yaml
check "remove: the audit log and key stay" test -f /var/lib/sekisho/audit.db -a -f /var/lib/sekisho/audit-key.pem
check "remove says the state is kept" apt_said "/var/lib/sekisho"

# Purge: state and keys go; a hook the admin wrote stays and is named.
mkdir -p /etc/sekisho/keys /etc/sekisho/hooks
echo key >/etc/sekisho/keys/wg0.key
printf '#!/bin/sh\n' >/etc/sekisho/hooks/wan-power
DEBIAN_FRONTEND=noninteractive apt-get purge -y sekisho >"$pkgtmp/apt.log" 2>&1
check "purge: dpkg forgets sekisho" bash -c "! dpkg-query -W -f='\${Status}' sekisho 2>/dev/null | grep -q ok"
check "purge: the state directory is gone" test ! -e /var/lib/sekisho
check "purge: the conffile is gone" test ! -e /etc/sekisho/policy.yaml
check "purge: the keys are gone" test ! -e /etc/sekisho/keys
check "purge: the local broker's configuration and store are gone" \
  test ! -e /etc/sekisho/broker -a ! -e /var/lib/sekisho-broker
check "purge: the admin's hook stays" test -f /etc/sekisho/hooks/wan-power
check "purge names what it kept" apt_said "/etc/sekisho/hooks/wan-power"
check "purge keeps the groups (files may still name them)" bash -c "getent group sekisho-admin >/dev/null"

lab_finish
