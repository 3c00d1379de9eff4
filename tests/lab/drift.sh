#!/usr/bin/env bash
# Drift: whatever anyone else does to table inet sekisho is logged with the process that
# did it and undone. Each kind of change is timed until `sekishoctl verify` matches again
# (bound 5 s; the goal is far lower). The daemon's own commits and other tables' changes
# must not trigger a restore.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_up
limit_ms=5000

restores() { "$lab" daemon log | grep -c "restore #"; }

# change WHAT NFT-ARGUMENTS...
change() {
  local what=$1 before took
  shift
  before=$(restores)
  if ! in_gw nft "$@"; then
    lab_fail "$what: nft $* failed"
    return
  fi
  if took=$(wait_ms $limit_ms verify_quiet); then
    # Restored, and the log names the process that changed it.
    if [ "$(restores)" -gt "$before" ] &&
      "$lab" daemon log | grep "restore #" | tail -1 | grep -q "(nft)"; then
      lab_pass "$what: restored after $took ms; logged: $("$lab" daemon log | grep "restore #" |
        tail -1 | sed 's/; restoring.*//; s/^.*drift: //' | cut -c1-110)"
    else
      lab_fail "$what: the table matches again but no restore naming nft was logged"
    fi
  else
    lab_fail "$what: not restored within $limit_ms ms"
    "$lab" daemon log | tail -3
  fi
}

change "an added element" add element inet sekisho it_to_ot_v4_ranges \
  "{ 198.18.20.66 . 192.0.2.21 . tcp . 22 }"
change "a deleted element" delete element inet sekisho it_to_ot_v4 \
  "{ 198.18.20.5 . 192.0.2.21 . tcp . 502 }"
change "an inserted rule" insert rule inet sekisho forward accept
change "an appended rule" add rule inet sekisho input tcp dport 22 accept
change "a flushed chain" flush chain inet sekisho it_to_ot
change "a changed chain policy" \
  "add chain inet sekisho forward { type filter hook forward priority 0; policy accept; }"
change "a dormant table" "add table inet sekisho { flags dormant; }"
change "a deleted table" delete table inet sekisho
change "a flushed ruleset" flush ruleset

# Lost events: a test build's daemon with a tiny event buffer; while it is stopped, a
# commit of many rules to another table overflows it, then our table is changed. The
# kernel drops events; the daemon must notice and read the table back.
"$lab" daemon stop
SEKISHO_TEST_EVENT_BUFFER=4096 "$lab" daemon start
if "$lab" daemon log | grep -q "test build: nftables event buffer"; then
  python3 -c '
print("table inet flood {\nchain c {")
print("\n".join("tcp dport %d accept" % port for port in range(1, 20001)))
print("}\n}")' >"$tmp/flood.nft"
  before=$(restores)
  kill -STOP "$("$lab" daemon pid)"
  in_gw nft -f "$tmp/flood.nft"
  in_gw nft delete element inet sekisho it_to_ot_v4 "{ 198.18.20.5 . 192.0.2.21 . tcp . 502 }"
  kill -CONT "$("$lab" daemon pid)"
  if took=$(wait_ms $limit_ms verify_quiet) && [ "$(restores)" -gt "$before" ] &&
    "$lab" daemon log | grep -q "events were lost"; then
    lab_pass "lost events: restored after $took ms; logged: $("$lab" daemon log |
      grep "reading the table back" | tail -1 | sed 's/^.*drift: //' | cut -c1-110)"
  else
    lab_fail "lost events: not noticed and restored within $limit_ms ms"
    "$lab" daemon log | tail -4
  fi
  in_gw nft delete table inet flood
else
  echo "note: not a test build (-DSEKISHO_TESTING=ON): the lost-events case is not run"
fi

# Traffic obeys the restored policy.
[ "$(probe historian tcp 192.0.2.21 22)" = blocked ] &&
  [ "$(probe historian tcp 192.0.2.21 502)" = reached ] &&
  lab_pass "after the restores traffic obeys the policy" ||
  lab_fail "after the restores traffic does not obey the policy"

# No restore loop, and other tables are not ours to police.
before=$(restores)
in_gw nft add table inet someone_else
in_gw nft add chain inet someone_else c
sleep 3
after=$(restores)
if [ "$after" = "$before" ]; then
  lab_pass "quiet for 3 s after the restores, and another table's change is left alone ($after restores in all)"
else
  lab_fail "restores went on: $before -> $after"
  "$lab" daemon log | tail -5
fi
in_gw nft list table inet someone_else >/dev/null 2>&1 &&
  lab_pass "the other table survives" || lab_fail "the other table was removed"
lab_finish
