#!/usr/bin/env bash
# The maintainer scripts' decisions (packaging/maint-functions.sh) against a temporary
# root, with stand-ins for systemctl, deb-systemd-invoke and the new sekishod: first
# install, upgrade with the daemon stopped / running and accepting / running and refusing
# the policy, remove, purge. Also that debian/rules pastes the functions into the maintainer
# scripts. Needs no root and no systemd.
#
# Usage: maint_functions.sh SOURCE_DIR
set -u
src=$1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
pass() {
  passed=$((passed + 1))
  echo "ok: $1"
}
fail() {
  failed=$((failed + 1))
  echo "FAIL: $1"
}
# check WHAT COMMAND...: passes when COMMAND succeeds.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# Stand-ins, each logging its argv to $tmp/calls. systemctl is-active answers from
# $STUB_ACTIVE (0 active, 3 inactive); the new sekishod's check from $STUB_CHECK (its exit
# status; it prints a diagnostic when it fails); deb-systemd-invoke from $STUB_RESTART.
mkdir "$tmp/bin"
for tool in systemctl deb-systemd-invoke systemd-sysctl; do
  cat >"$tmp/bin/$tool" <<STUB
#!/bin/sh
echo "$tool \$*" >>"$tmp/calls"
case "$tool \$1" in
  "systemctl is-active") exit \${STUB_ACTIVE:-3} ;;
  "deb-systemd-invoke restart") exit \${STUB_RESTART:-0} ;;
esac
exit 0
STUB
  chmod +x "$tmp/bin/$tool"
done

# new_root: an installed system's files under $tmp/root.
new_root() {
  rm -rf "$tmp/root" "$tmp/calls" "$tmp/outside"
  root=$tmp/root
  mkdir -p "$root/usr/sbin" "$root/etc/sekisho" "$root/var/lib/sekisho" "$root/run/sekisho"
  : >"$tmp/calls"
  cat >"$root/usr/sbin/sekishod" <<STUB
#!/bin/sh
echo "sekishod \$*" >>"$tmp/calls"
if [ "\${STUB_CHECK:-0}" != 0 ]; then
  echo "\$3:7:3: error[unknown-key]: unknown key 'zonez'" >&2
fi
exit \${STUB_CHECK:-0}
STUB
  chmod +x "$root/usr/sbin/sekishod"
  echo "version: 1" >"$root/etc/sekisho/policy.yaml"
}

# maint FUNCTION ARGS...: runs one function as the scripts do (sh, set -e), with systemd
# "running" and the stand-ins first in PATH; stdout and stderr to $tmp/out.
maint() {
  DPKG_ROOT=$root PATH="$tmp/bin:$PATH" sh -c '
    set -e
    . "$1"
    sekisho_systemd_running() { return 0; }
    shift
    "$@"' maint "$src/packaging/maint-functions.sh" "$@" >"$tmp/out" 2>&1
}
called() { grep -q "^$1" "$tmp/calls"; }
said() { grep -q -- "$1" "$tmp/out"; }

# First install: a notice, and nothing enabled, started or restarted.
new_root
check "first install succeeds" maint sekisho_postinst_configure ""
check "first install says only loopback passes" said "ONLY LOOPBACK PASSES"
check "first install says SSH is cut" said "SSH included"
check "first install says how to enable both units" \
  said "systemctl enable sekisho-restore.service"
check "first install enables, starts and restarts nothing" \
  bash -c "! grep -Eq '^(systemctl (enable|start|restart)|deb-systemd-invoke)' '$tmp/calls'"

# Upgrade while sekishod is stopped: nothing to check or restart.
new_root
STUB_ACTIVE=3 check "upgrade with sekishod stopped succeeds" maint sekisho_postinst_configure 0.1.0
check "upgrade with sekishod stopped asks whether it runs" called "systemctl is-active"
check "upgrade with sekishod stopped does not run the check" bash -c "! grep -q '^sekishod' '$tmp/calls'"
check "upgrade with sekishod stopped restarts nothing" bash -c "! grep -q '^deb-systemd-invoke' '$tmp/calls'"

# Upgrade while it runs and the new version accepts the policy: checked, then restarted.
new_root
export STUB_ACTIVE=0
STUB_CHECK=0 check "upgrade, policy accepted: succeeds" maint sekisho_postinst_configure 0.1.0
check "upgrade, policy accepted: the new sekishod checks the policy" \
  called "sekishod --check --policy $root/etc/sekisho/policy.yaml"
check "upgrade, policy accepted: sekishod restarted" called "deb-systemd-invoke restart sekishod.service"

# ...and when it refuses the policy: no restart, the diagnostics shown.
new_root
STUB_CHECK=78 check "upgrade, policy refused: still succeeds" maint sekisho_postinst_configure 0.1.0
check "upgrade, policy refused: the check ran" called "sekishod --check"
check "upgrade, policy refused: not restarted" bash -c "! grep -q '^deb-systemd-invoke' '$tmp/calls'"
check "upgrade, policy refused: diagnostics shown" said "error\[unknown-key\]"
check "upgrade, policy refused: says the old daemon keeps enforcing" said "NOT restarted"

# A restart that fails does not fail the upgrade (the ruleset stays in the kernel).
new_root
STUB_RESTART=1 check "upgrade, restart fails: succeeds" maint sekisho_postinst_configure 0.1.0
check "upgrade, restart fails: says where to look" said "journalctl -u sekishod"
unset STUB_ACTIVE

# Removal stops a running sekishod (prerm), and only a running one.
new_root
STUB_ACTIVE=0 check "prerm remove with sekishod running succeeds" maint sekisho_prerm_remove
check "prerm remove stops a running sekishod" called "deb-systemd-invoke stop sekishod.service"
check "prerm remove stops the local broker and its reloader" \
  bash -c "grep -q '^deb-systemd-invoke stop sekisho-broker.service' '$tmp/calls' &&
    grep -q '^deb-systemd-invoke stop sekisho-broker-apply.path' '$tmp/calls'"
new_root
STUB_ACTIVE=3 check "prerm remove with sekishod stopped succeeds" maint sekisho_prerm_remove
check "prerm remove with sekishod stopped stops nothing" bash -c "! grep -q '^deb-systemd-invoke' '$tmp/calls'"

# Remove keeps everything and says so.
new_root
echo state >"$root/var/lib/sekisho/audit.db"
check "remove notice" maint sekisho_removed_notice
check "remove notice names the kept state" said "/var/lib/sekisho"
check "remove notice says how to lift the ruleset" said "nft delete table inet sekisho"
check "remove keeps the state" test -f "$root/var/lib/sekisho/audit.db"

# Purge: state and keys go; what the admin added stays and is named; symlinks are removed,
# never followed.
new_root
rm "$root/etc/sekisho/policy.yaml" # dpkg deletes the conffile before postrm purge
mkdir -p "$root/etc/sekisho/keys" "$root/etc/sekisho/cloud" "$root/etc/sekisho/hooks"
mkdir -p "$root/etc/sekisho/broker" "$root/var/lib/sekisho-broker"
for file in var/lib/sekisho/audit.db var/lib/sekisho/audit-key.pem var/lib/sekisho/last-good.yaml \
  etc/sekisho/keys/wg0.key etc/sekisho/cloud/ca.pem etc/sekisho/cloud/line1.key \
  etc/sekisho/spare.key etc/sekisho/policy.yaml.new etc/sekisho/hooks/wan-power run/sekisho/x \
  var/lib/sekisho/broker-login.key var/lib/sekisho/broker-passwords etc/sekisho/broker/passwords \
  etc/sekisho/broker/mosquitto.conf var/lib/sekisho-broker/mosquitto.db; do
  echo secret >"$root/$file"
done
echo "keep me" >"$tmp/outside"
ln -s "$tmp/outside" "$root/etc/sekisho/hooks/link.pem"
check "purge succeeds" maint sekisho_purge
check "purge deletes the state directory" test ! -e "$root/var/lib/sekisho"
check "purge deletes /run/sekisho" test ! -e "$root/run/sekisho"
check "purge deletes keys/ and cloud/" test ! -e "$root/etc/sekisho/keys" -a ! -e "$root/etc/sekisho/cloud"
check "purge deletes *.key and policy.yaml.new" \
  test ! -e "$root/etc/sekisho/spare.key" -a ! -e "$root/etc/sekisho/policy.yaml.new"
check "purge removes a *.pem symlink, not what it points to" \
  test ! -L "$root/etc/sekisho/hooks/link.pem" -a -f "$tmp/outside"
check "purge deletes the local broker's configuration and store" \
  test ! -e "$root/etc/sekisho/broker" -a ! -e "$root/var/lib/sekisho-broker"
check "purge keeps the admin's hook" test -f "$root/etc/sekisho/hooks/wan-power"
check "purge names what it kept" said "/etc/sekisho/hooks/wan-power"

new_root
rm "$root/etc/sekisho/policy.yaml"
check "purge of an untouched install succeeds" maint sekisho_purge
check "purge of an untouched install leaves no /etc/sekisho" test ! -e "$root/etc/sekisho"
check "purge of an untouched install is quiet" test ! -s "$tmp/out"

# debian/rules pastes the functions into the scripts it generates.
mkdir -p "$tmp/pkg"
cp -r "$src/packaging" "$tmp/pkg/packaging"
cp -r "$src/packaging/debian" "$tmp/pkg/debian"
if (cd "$tmp/pkg" && make -s -f debian/rules execute_before_dh_installdeb >/dev/null); then
  for script in postinst prerm postrm; do
    generated=$tmp/pkg/debian/sekisho.$script
    check "debian/rules writes $script with the functions" grep -q '^sekisho_purge()' "$generated"
    check "$script has no placeholder left" bash -c "! grep -q '^#SEKISHO_FUNCTIONS#\$' '$generated'"
    check "$script is valid sh" sh -n "$generated"
  done
else
  fail "make -f debian/rules execute_before_dh_installdeb"
fi

echo "maintainer scripts: $passed passed, $failed failed"
[ "$failed" = 0 ]
