# The decisions of sekisho's maintainer scripts, as shell functions (POSIX sh).
#
# debian/rules pastes this file into postinst and postrm where they say
# #SEKISHO_FUNCTIONS# (a purge runs after the package's files are gone, so the scripts
# cannot read it from /usr at that point), and tests/packaging/maint_functions.sh runs the
# same functions against a temporary root, with stand-ins for systemctl and sekishod,
# because systemd is not PID 1 where packages are built and tested.
#
# Every path is under $sekisho_root: dpkg's $DPKG_ROOT, normally empty.

sekisho_root=${DPKG_ROOT:-}
sekisho_policy=/etc/sekisho/policy.yaml
sekisho_config_dir=/etc/sekisho
sekisho_state_dir=/var/lib/sekisho

# Whether systemd manages this system (not in a chroot, a container without it, or an
# install into another root): only then is there a sekishod to ask about or restart.
sekisho_systemd_running() {
  [ -z "$sekisho_root" ] && [ -d /run/systemd/system ]
}

sekisho_daemon_active() {
  sekisho_systemd_running && systemctl is-active --quiet sekishod.service
}

# The newly unpacked sekishod checks the policy the running one enforces.
sekisho_check_policy() {
  "$sekisho_root/usr/sbin/sekishod" --check --policy "$sekisho_root$sekisho_policy"
}

sekisho_restart_daemon() {
  deb-systemd-invoke restart sekishod.service
}

# postinst configure. $1: the version configured before, empty on a first install.
sekisho_postinst_configure() {
  sekisho_load_sysctl
  if [ -z "$1" ]; then
    sekisho_first_install_notice
  else
    sekisho_upgrade "$1"
  fi
}

# Conntrack accounting now rather than at the next boot; the key exists only once
# nf_conntrack is loaded (/usr/lib/modules-load.d/sekisho.conf loads it at boot).
sekisho_load_sysctl() {
  if sekisho_systemd_running; then
    systemd-sysctl /usr/lib/sysctl.d/60-sekisho.conf >/dev/null 2>&1 || true
  fi
}

# A first install enables and starts nothing: the shipped policy lets only loopback
# through, and enforcing it on a box managed over SSH would cut that SSH.
sekisho_first_install_notice() {
  cat <<NOTICE
sekisho is installed. Nothing is enabled or running yet.

 1. Write the policy: $sekisho_policy. As installed it declares no zones, so
    ONLY LOOPBACK PASSES: enforcing it cuts every new connection to and through
    this machine, SSH included. See sekisho-policy(5). Check it with
      sekishoctl check $sekisho_policy
 2. Enable the early-boot unit (loads the last good ruleset before any network
    interface is up) and start the daemon:
      systemctl enable sekisho-restore.service
      systemctl enable --now sekishod.service
    Changes after that: sekishoctl apply FILE --confirm-within 5m, then
    sekishoctl confirm (rolled back by itself if you lock yourself out).
 3. Give people roles by group: usermod -aG sekisho-viewer NAME
    (or sekisho-operator, sekisho-admin).
 4. IP forwarding is left as it is; switch it on (net.ipv4.ip_forward=1) only
    once sekishod enforces your policy.
 5. Cloud brokering (cloud.mqtt): sekishod writes the local MQTT broker's
    configuration; run sekisho's broker instead of Debian's anonymous one and
    give each publisher a password (see sekishod(8)):
      systemctl disable --now mosquitto.service
      systemctl enable --now sekisho-broker.service
      sekishoctl cloud password HOST
NOTICE
}

# Upgrade or reinstall: the running daemon is replaced only by a version that accepts the
# policy it enforces. Otherwise the old one keeps running (its ruleset stays in the
# kernel either way) and the admin gets the diagnostics.
sekisho_upgrade() {
  if ! sekisho_daemon_active; then
    return 0
  fi
  if diagnostics=$(sekisho_check_policy 2>&1); then
    echo "sekisho: $sekisho_policy checks with the new sekishod; restarting sekishod"
    if ! sekisho_restart_daemon; then
      echo "sekisho: sekishod did not restart; see: journalctl -u sekishod" >&2
    fi
  else
    echo "sekisho: the new sekishod refuses $sekisho_policy:" >&2
    printf '%s\n' "$diagnostics" >&2
    echo "sekisho: NOT restarted: the running sekishod (the version before) keeps" >&2
    echo "sekisho: enforcing. Fix the policy, then: systemctl restart sekishod" >&2
  fi
}

# prerm remove (not upgrade: then the running daemon stays until postinst decides).
# Stopping leaves the ruleset in the kernel, as SIGTERM always does. The local broker and
# the unit that reloads it go too.
sekisho_prerm_remove() {
  if sekisho_daemon_active; then
    deb-systemd-invoke stop sekishod.service || true
  fi
  if sekisho_systemd_running; then
    for unit in sekisho-broker-apply.path sekisho-broker.service; do
      if systemctl is-active --quiet "$unit"; then
        deb-systemd-invoke stop "$unit" || true
      fi
    done
  fi
}

# postrm remove: the state stays for a reinstall.
sekisho_removed_notice() {
  cat <<NOTICE
sekisho is removed; its policy, audit log and keys stay in $sekisho_config_dir and
$sekisho_state_dir, the local broker's messages in /var/lib/sekisho-broker
('apt purge sekisho' deletes them; 'sekishoctl decommission'
would have exported the audit log first). The ruleset sekishod enforced stays in
the kernel until the next boot: 'nft delete table inet sekisho' lifts it now.
NOTICE
}

# postrm purge: the state (last-good policy, audit log, audit signing key, the local
# broker's logins and password hashes), every key in the config directory, the local
# broker's generated configuration and its message store. dpkg has already deleted the
# conffile; what the admin added besides (hooks, say) stays, and is named.
sekisho_purge() {
  rm -rf "$sekisho_root$sekisho_state_dir" "$sekisho_root/run/sekisho" \
    "$sekisho_root/var/lib/sekisho-broker" "$sekisho_root/run/sekisho-broker"
  config=$sekisho_root$sekisho_config_dir
  [ -d "$config" ] || return 0
  rm -rf "$config/keys" "$config/cloud" "$config/broker"
  find "$config" \( -name '*.key' -o -name '*.pem' -o -name 'policy.yaml.new' \) \
    \( -type f -o -type l \) -exec rm -f {} +
  # Empty directories go (deepest first); a directory with the admin's files stays.
  find "$config" -depth -type d -empty -delete
  if [ -d "$config" ]; then
    echo "sekisho: purged the state and keys; kept what was added to $sekisho_config_dir:"
    find "$config" \( -type f -o -type l \) | sed "s|^$sekisho_root||; s|^|  |"
  fi
}
