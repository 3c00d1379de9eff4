#!/usr/bin/env bash
# sd_notify without systemd: READY=1 only once the first apply has committed, WATCHDOG=1
# at half of $WATCHDOG_USEC, STOPPING=1 on SIGTERM (and the ruleset stays). An invalid
# policy: exit 78, no READY, nothing applied.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_up --no-daemon
chmod 755 "$tmp"
sock=$tmp/notify.sock
python3 "$src/tests/lab/notify_listener.py" "$sock" \
  "ip netns exec $LAB_ID-gw nft list table inet sekisho" 20 >"$tmp/notify" &
listener=$!
wait_ms 5000 grep -q listening "$tmp/notify" >/dev/null
ip netns exec "$LAB_ID-gw" env NOTIFY_SOCKET="$sock" WATCHDOG_USEC=1000000 \
  "$bindir/sekishod" --policy "$src/configs/lab-factory.yaml" --state-dir "$tmp/state" \
  >"$tmp/daemon.log" 2>&1 &
daemon=$!
sleep 3.2
kill -TERM $daemon
wait $daemon
rc=$?
wait $listener
cat "$tmp/notify" | sed 's/^/  notify: /' | grep -v WATCHDOG
watchdogs=$(grep -c "WATCHDOG=1" "$tmp/notify")
if grep -q "ruleset-in-force-at-ready=yes" "$tmp/notify"; then
  lab_pass "READY=1 came after the ruleset was in the kernel"
else
  lab_fail "no READY=1, or it came before the ruleset"
fi
if [ "$watchdogs" -ge 5 ] && [ "$watchdogs" -le 9 ]; then
  lab_pass "$watchdogs WATCHDOG=1 in about 3.2 s with WATCHDOG_USEC=1 s (every 0.5 s)"
else
  lab_fail "$watchdogs WATCHDOG=1 in about 3.2 s (expected 6 or 7)"
fi
if [ $rc = 0 ] && grep -q "STOPPING=1" "$tmp/notify" &&
  in_gw "$ctl" verify --policy "$src/configs/lab-factory.yaml" >/dev/null 2>&1; then
  lab_pass "SIGTERM: exit 0, STOPPING=1, the ruleset stays in force"
else
  lab_fail "SIGTERM: exit $rc; the ruleset or STOPPING=1 is missing"
fi

in_gw nft flush ruleset
printf 'version: 1\nrules: [\n' >"$tmp/broken.yaml"
rm -f "$sock"
python3 "$src/tests/lab/notify_listener.py" "$sock" true 3 >"$tmp/notify2" &
listener=$!
wait_ms 5000 grep -q listening "$tmp/notify2" >/dev/null
ip netns exec "$LAB_ID-gw" env NOTIFY_SOCKET="$sock" \
  "$bindir/sekishod" --policy "$tmp/broken.yaml" --state-dir "$tmp/state2" 2>"$tmp/err2"
rc=$?
wait $listener
if [ $rc = 78 ] && ! grep -q READY "$tmp/notify2" &&
  ! in_gw nft list table inet sekisho >/dev/null 2>&1 && grep -qE "broken.yaml:[0-9]+:[0-9]+: error" "$tmp/err2"; then
  lab_pass "an invalid policy at start: exit 78, no READY, nothing applied ($(head -1 "$tmp/err2"))"
else
  lab_fail "invalid policy at start: exit $rc; $(cat "$tmp/err2")"
fi
lab_finish
