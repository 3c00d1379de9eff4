#!/usr/bin/env bash
# The systemd units as a package installs them: `cmake --install` into a staged root with
# prefix /usr, then `systemd-analyze verify` and `systemd-analyze security --offline` on
# that root. Fails on any verify message, on a missing required directive, and when the
# sandbox exposure of sekishod.service is over 2.5 (sekisho-restore.service and the local
# broker's units: over 2.0).
# Needs no root and no running systemd.
#
# Usage: units.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze not found (Debian package systemd; scripts/install-deps.sh test)"
  exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir "$root"
units=(sekishod.service sekisho-restore.service sekisho-broker.service sekisho-broker-apply.service
  sekisho-broker-apply.path)
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

# The root a Debian 12 system would be: merged /usr, systemd's own units (sysinit.target,
# network-pre.target... that ours order against) and procps' /bin/kill (ExecReload=),
# taken from this machine (Debian 12 too); then sekisho, installed as the .deb will.
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/etc"
host_units=
for dir in /usr/lib/systemd/system /lib/systemd/system; do
  if [ -f "$dir/sysinit.target" ]; then
    host_units=$dir
    break
  fi
done
if [ -z "$host_units" ]; then
  echo "SKIP: no systemd unit directory on this machine (sysinit.target not found)"
  exit 77
fi
# sekisho's own units come from the install below, never from this machine.
find "$host_units" -mindepth 1 -maxdepth 1 ! -name 'sekisho*' -exec cp -a {} "$root/usr/lib/systemd/system/" \;
for program in /bin/kill /bin/cp; do # ExecReload=, ExecStartPre=
  if [ -x "$program" ]; then
    cp "$program" "$root/usr/bin/"
  else
    fail "$program (a unit runs it) does not exist on this machine"
  fi
done
# sekisho-broker.service runs Debian's mosquitto (a Recommends of the package).
if [ -x /usr/sbin/mosquitto ]; then
  mkdir -p "$root/usr/sbin"
  cp /usr/sbin/mosquitto "$root/usr/sbin/mosquitto"
else
  fail "/usr/sbin/mosquitto (sekisho-broker.service) is not installed (scripts/install-deps.sh test)"
fi
echo "staged root $root: systemd units from $host_units, /bin/kill, /bin/cp and mosquitto from this machine"

if DESTDIR=$root cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1; then
  pass "DESTDIR=... cmake --install $build --prefix /usr"
  sed -n "s|^-- Installing: $root|  installed |p" "$tmp/install.log"
else
  fail "cmake --install"
  sed 's/^/  /' "$tmp/install.log"
fi
for template in "$src"/systemd/*.service.in "$src"/systemd/*.path; do
  unit=$(basename "$template" .in)
  case " ${units[*]} " in
    *" $unit "*) ;;
    *) fail "$unit is in systemd/ but not checked here" ;;
  esac
done
for unit in "${units[@]}"; do
  [ -f "$root/usr/lib/systemd/system/$unit" ] || fail "$unit not installed to /usr/lib/systemd/system"
done

# require UNIT LINE...: each LINE (an exact directive line) is in the installed UNIT.
require() {
  local unit=$1 line
  shift
  for line in "$@"; do
    if grep -qxF -- "$line" "$root/usr/lib/systemd/system/$unit"; then
      pass "$unit: $line"
    else
      fail "$unit: no line '$line'"
    fi
  done
}
# refuse UNIT REGEX WHY: no directive line of UNIT matches REGEX.
refuse() {
  if grep -qE -- "$2" "$root/usr/lib/systemd/system/$1"; then
    fail "$1: $(grep -E -- "$2" "$root/usr/lib/systemd/system/$1" | head -1) ($3)"
  else
    pass "$1: nothing matches '$2' ($3)"
  fi
}
require sekishod.service \
  "Type=notify" \
  "ExecStart=/usr/sbin/sekishod --policy /etc/sekisho/policy.yaml --state-dir /var/lib/sekisho" \
  "ExecReload=/bin/kill -HUP \$MAINPID" \
  "Restart=on-failure" \
  "LimitNOFILE=65536" \
  "RestartPreventExitStatus=78" \
  "Wants=sekisho-restore.service" \
  "After=sekisho-restore.service" \
  "CapabilityBoundingSet=CAP_NET_ADMIN" \
  "DevicePolicy=closed" \
  "DeviceAllow=/dev/net/tun rw" \
  "ProtectSystem=strict" \
  "StateDirectory=sekisho" \
  "StateDirectoryMode=0700" \
  "RuntimeDirectory=sekisho" \
  "RuntimeDirectoryMode=0755" \
  "ConfigurationDirectory=sekisho" \
  "ReadWritePaths=/etc/sekisho" \
  "NoNewPrivileges=yes" \
  "UMask=0077" \
  "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6" \
  "SupplementaryGroups=sekisho-broker" \
  "InaccessiblePaths=-/run/systemd/private -/run/dbus/system_bus_socket"
if grep -qE '^WatchdogSec=[1-9][0-9]*(s|min)?$' "$root/usr/lib/systemd/system/sekishod.service"; then
  pass "sekishod.service: $(grep '^WatchdogSec=' "$root/usr/lib/systemd/system/sekishod.service")"
else
  fail "sekishod.service: no WatchdogSec= with a positive time"
fi
# A failed restore must not keep the daemon from starting.
refuse sekishod.service '^(Requires|BindsTo|Requisite)=.*sekisho-restore' "Wants=, not Requires="
require sekisho-restore.service \
  "Type=oneshot" \
  "RemainAfterExit=yes" \
  "ExecStart=/usr/sbin/sekishod --restore --state-dir /var/lib/sekisho" \
  "DefaultDependencies=no" \
  "Wants=network-pre.target" \
  "Before=network-pre.target" \
  "After=local-fs.target" \
  "WantedBy=sysinit.target"
# The local broker: mosquitto as its own user with the configuration sekishod writes,
# never beside Debian's anonymous one; reloaded through the path unit, which the script
# it runs (installed where the unit says) turns into a reload or a restart.
require sekisho-broker.service \
  "User=sekisho-broker" \
  "Group=sekisho-broker" \
  "Type=notify" \
  "Conflicts=mosquitto.service" \
  "ConditionPathExists=/etc/sekisho/broker/mosquitto.conf" \
  "ExecStartPre=/bin/cp /etc/sekisho/broker/mosquitto.conf /run/sekisho-broker/mosquitto.conf" \
  "ExecStart=/usr/sbin/mosquitto -c /run/sekisho-broker/mosquitto.conf" \
  "ExecReload=/bin/kill -HUP \$MAINPID" \
  "RuntimeDirectory=sekisho-broker" \
  "RuntimeDirectoryMode=0750" \
  "NoNewPrivileges=yes" \
  "ProtectSystem=strict"
require sekisho-broker-apply.path \
  "PathChanged=/etc/sekisho/broker/generation" \
  "Unit=sekisho-broker-apply.service"
require sekisho-broker-apply.service \
  "Type=oneshot" \
  "ExecStart=/usr/libexec/sekisho/sekisho-broker-apply" \
  "ReadWritePaths=/etc/sekisho/broker"
refuse sekisho-broker-apply.service '^ReadWritePaths=.*/run' "a bind of /run/sekisho-broker would outlive a restart of the broker"
if [ -x "$root/usr/libexec/sekisho/sekisho-broker-apply" ] && sh -n "$root/usr/libexec/sekisho/sekisho-broker-apply"; then
  pass "/usr/libexec/sekisho/sekisho-broker-apply is installed, executable and parses"
else
  fail "/usr/libexec/sekisho/sekisho-broker-apply is not installed as an executable shell script"
fi
# Fail closed: if /var does not mount, the restore must still run (and lock down). These
# would make it a required mount's dependency instead.
refuse sekisho-restore.service '^(Requires|RequiresMountsFor|BindsTo)=|^(StateDirectory|RuntimeDirectory|CacheDirectory|LogsDirectory|WorkingDirectory)=|^PrivateTmp=(yes|true|on|1)' \
  "no Requires= on mounts"

# systemd-analyze verify: any message is a failure (an unknown or unparsable directive is
# only a warning with exit status 0).
systemd-analyze verify --root="$root" "${units[@]}" >"$tmp/verify.log" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ ! -s "$tmp/verify.log" ]; then
  pass "systemd-analyze verify --root=... ${units[*]}: no message"
else
  fail "systemd-analyze verify --root=... ${units[*]} (exit $rc):"
  sed "s|$root||; s/^/  /" "$tmp/verify.log"
fi

# The boot transaction with both units enabled (as the package will) next to a network
# manager that waits for network-pre.target: no ordering cycle, which systemd would
# break by dropping a job (the restore, or network-pre.target) at boot.
wants=$root/etc/systemd/system
mkdir -p "$wants/sysinit.target.wants" "$wants/multi-user.target.wants"
ln -s /usr/lib/systemd/system/sekisho-restore.service "$wants/sysinit.target.wants/"
ln -s /usr/lib/systemd/system/sekishod.service "$wants/multi-user.target.wants/"
enabled="sekisho-restore.service sekishod.service"
if [ -f "$root/usr/lib/systemd/system/systemd-networkd.service" ]; then
  ln -s /usr/lib/systemd/system/systemd-networkd.service "$wants/multi-user.target.wants/"
  enabled="$enabled systemd-networkd.service"
fi
systemd-analyze verify --root="$root" multi-user.target >"$tmp/boot.log" 2>&1
if grep -qiE 'cycle|sekisho' "$tmp/boot.log"; then
  fail "multi-user.target with $enabled enabled:"
else
  pass "multi-user.target with $enabled enabled: no ordering cycle"
fi
sed "s|$root||; s/^/  /" "$tmp/boot.log"
rm -r "$wants/sysinit.target.wants" "$wants/multi-user.target.wants"

# The groups that are the control socket's roles.
if systemd-sysusers --root="$root" >"$tmp/sysusers.log" 2>&1 &&
  grep -q '^sekisho-admin:' "$root/etc/group" && grep -q '^sekisho-operator:' "$root/etc/group" &&
  grep -q '^sekisho-viewer:' "$root/etc/group"; then
  pass "systemd-sysusers --root=...: $(grep -c '^sekisho-' "$root/etc/group") groups: $(grep -o '^sekisho-[a-z]*' "$root/etc/group" | tr '\n' ' ')"
  if grep -q '^sekisho-broker:[^:]*:[0-9]*:[0-9]*:[^:]*:/var/lib/sekisho-broker:/usr/sbin/nologin$' "$root/etc/passwd"; then
    pass "systemd-sysusers --root=...: the local broker's user sekisho-broker, without a login"
  else
    fail "systemd-sysusers made no user sekisho-broker: $(grep sekisho "$root/etc/passwd")"
  fi
else
  fail "systemd-sysusers did not make the three groups:"
  sed 's/^/  /' "$tmp/sysusers.log"
fi
if [ "$(id -u)" -eq 0 ]; then  # the entry names owner root, which only root may set
  broker_gid=$(awk -F: '$1 == "sekisho-broker" { print $3 }' "$root/etc/group")
  if systemd-tmpfiles --root="$root" --create >"$tmp/tmpfiles.log" 2>&1 && [ -d "$root/run/wireguard" ] &&
    [ ! -s "$tmp/tmpfiles.log" ] &&
    [ "$(stat -c '%a %u %g' "$root/etc/sekisho/broker")" = "2750 0 $broker_gid" ]; then
    pass "systemd-tmpfiles --root=... --create: /run/wireguard; /etc/sekisho/broker 2750 root:sekisho-broker"
  else
    fail "systemd-tmpfiles:"
    sed 's/^/  /' "$tmp/tmpfiles.log"
  fi
fi

# Sandbox exposure (0 = locked down, 10 = unprotected; systemd calls up to 3.9 "OK").
# --threshold takes tenths: exit status 1 when the exposure is over it.
# exposure UNIT LIMIT_IN_TENTHS
exposure() {
  local unit=$1 limit=$2 rc line value level
  echo "-- systemd-analyze security --offline=true $unit"
  systemd-analyze security --offline=true --root="$root" --threshold="$limit" --no-pager "$unit" \
    >"$tmp/security.log" 2>&1
  rc=$?
  sed 's/^/  /' "$tmp/security.log"
  line=$(grep -o 'Overall exposure level for [^:]*: [0-9.]* [A-Z]*' "$tmp/security.log")
  value=${line% *}
  value=${value##* }
  level=${line##* }
  if [ -z "$line" ]; then
    fail "$unit: no overall exposure level in systemd-analyze's output"
    return
  fi
  echo "== measured systemd exposure $unit: $value ($level)"
  if [ $rc -eq 0 ]; then
    pass "$unit: exposure $value is at most $((limit / 10)).$((limit % 10))"
  else
    fail "$unit: exposure $value is over $((limit / 10)).$((limit % 10)) (systemd-analyze exit $rc)"
  fi
}
exposure sekishod.service 25
exposure sekisho-restore.service 20
exposure sekisho-broker.service 20
exposure sekisho-broker-apply.service 20

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
