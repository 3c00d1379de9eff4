#!/usr/bin/env bash
# Long viewer calls do not stall the event loop (issue 20, item 12): with an audit log of a
# million records and a session store of 200 sessions with 500 flows each (built by
# sekisho_make_big_state through daemon/audit and daemon/sessions, not through the daemon),
# `audit verify` (three at once) and `session list --all` (two at once) run while root's
# `status` keeps answering within 1 s and the watchdog keeps being fed (WATCHDOG_USEC=2 s:
# every second; the longest gap must stay under 15 s). Each kind of call runs on at most
# one thread of its own: the daemon's thread count is watched too. Stopped during a
# verify, sekishod goes about as fast as when idle (the verify gives up), not after the
# whole log.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_require_tools unshare prlimit
records=${LONG_CALLS_RECORDS:-1000000}
sessions=200
flows=500
sock=$LAB_RUN_DIR/control.sock
c() { timeout 120 "$ctl" --control "$sock" "$@"; }

# The state directory: a million appends take ~45 s, so it is built once per build of the
# tool and kept in the build tree; on a tmpfs of its own (private mount namespace), where
# each append's fsync is free, then copied.
tool=$bindir/sekisho_make_big_state
fixture=$bindir/../lab-fixtures/long-calls
stamp="$(stat -L -c %Y "$tool") $records $sessions $flows"
if [ "$(cat "$fixture/stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$fixture"
  mkdir -p "$fixture" "$tmp/build"
  start=$(now_ms)
  if ! unshare --mount --propagation private sh -c \
    'mount -t tmpfs -o size=2g tmpfs "$1" && "$2" "$1" "$3" "$4" "$5" >/dev/null &&
     cp "$1/audit.db" "$1/audit-key.pem" "$1/sessions.db" "$6/"' \
    sh "$tmp/build" "$tool" "$records" "$sessions" "$flows" "$fixture"; then
    lab_fail "cannot build the state directory with $tool"
    lab_finish
    exit 1
  fi
  echo "$stamp" >"$fixture/stamp"
  echo "== measured: built $records audit records and $sessions sessions of $flows flows in $(($(now_ms) - start)) ms"
fi

lab_up --no-daemon
mkdir -p "$LAB_RUN_DIR/state"
cp "$fixture/audit.db" "$fixture/audit-key.pem" "$fixture/sessions.db" "$LAB_RUN_DIR/state/"
chmod 600 "$LAB_RUN_DIR/state/"*
chmod 755 "$tmp"
notify=$tmp/notify.sock
python3 "$src/tests/lab/notify_listener.py" "$notify" true 600 >"$tmp/notify" &
listener=$!
trap 'kill $listener 2>/dev/null; "$lab" down; rm -rf "$tmp"' EXIT
wait_ms 5000 grep -q listening "$tmp/notify" >/dev/null
NOTIFY_SOCKET=$notify WATCHDOG_USEC=2000000 "$lab" daemon start >/dev/null || {
  lab_fail "sekishod did not start on the big state directory"
  lab_finish
  exit 1
}
pid=$("$lab" daemon pid)
threads() { awk '/^Threads:/ {print $2}' "/proc/$pid/status"; }
base_threads=$(threads)

# The long calls, all at once.
started=$(now_ms)
calls=()
for i in 1 2 3; do
  (
    c audit verify --json >"$tmp/verify.$i" 2>&1
    echo "$? $(($(now_ms) - started))" >"$tmp/verify.$i.done"
  ) &
  calls+=($!)
done
for i in 1 2; do
  (
    c session list --all --json >"$tmp/list.$i" 2>&1
    echo "$? $(($(now_ms) - started))" >"$tmp/list.$i.done"
  ) &
  calls+=($!)
done
sleep 0.2
# Root's status while they run.
slowest=0
samples=0
most_threads=$base_threads
all_done() { [ "$(ls "$tmp"/*.done 2>/dev/null | wc -l)" = 5 ]; }
until all_done; do
  t=$(threads)
  [ "$t" -gt "$most_threads" ] && most_threads=$t
  start=$(now_ms)
  if timeout 5 "$ctl" --control "$sock" status >/dev/null 2>&1; then
    took=$(($(now_ms) - start))
  else
    took=99999
  fi
  [ $took -gt $slowest ] && slowest=$took
  samples=$((samples + 1))
  [ $(($(now_ms) - started)) -gt 240000 ] && break
  sleep 0.2
done
wait "${calls[@]}"
echo "== measured: audit verify of $records records: $(cut -d' ' -f2 "$tmp/verify.1.done") ms (three at once: $(cut -d' ' -f2 "$tmp"/verify.*.done | tr '\n' ' ')ms)"
echo "== measured: session list --all of $sessions sessions with $flows flows each: $(cut -d' ' -f2 "$tmp/list.1.done") ms"
echo "== measured: root's status during the long calls: slowest $slowest ms of $samples"
echo "== measured: sekishod's threads: $base_threads at rest, at most $most_threads during the calls"

ok_verify=0
for i in 1 2 3; do
  if [ "$(cut -d' ' -f1 "$tmp/verify.$i.done")" = 0 ] && python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if r["ok"] and r["records"] >= int(sys.argv[2]) else 1)' "$tmp/verify.$i" "$records"; then
    ok_verify=$((ok_verify + 1))
  fi
done
[ $ok_verify = 3 ] && lab_pass "three audit verify at once: each finds $records+ records intact" ||
  lab_fail "audit verify: $(head -c 300 "$tmp/verify.1")"
ok_list=0
for i in 1 2; do
  if [ "$(cut -d' ' -f1 "$tmp/list.$i.done")" = 0 ] && python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["sessions"]
sys.exit(0 if len(r) == int(sys.argv[2]) and all(s["flows"] == int(sys.argv[3]) for s in r) else 1)' \
    "$tmp/list.$i" "$sessions" "$flows"; then
    ok_list=$((ok_list + 1))
  fi
done
[ $ok_list = 2 ] && lab_pass "two session list --all at once: $sessions sessions of $flows flows each" ||
  lab_fail "session list: $(head -c 300 "$tmp/list.1")"
if [ $samples -ge 3 ] && [ $slowest -lt 1000 ]; then
  lab_pass "root's status answered within 1 s meanwhile (slowest $slowest ms of $samples)"
else
  lab_fail "root's status during the long calls: slowest $slowest ms of $samples"
fi
# One thread per kind of call at most: two kinds.
[ "$most_threads" -le $((base_threads + 2)) ] &&
  lab_pass "at most one thread per kind of call ($base_threads threads at rest, $most_threads at most)" ||
  lab_fail "sekishod ran $most_threads threads ($base_threads at rest)"

start=$(now_ms)
"$lab" daemon stop
idle_stop=$(($(now_ms) - start))
wait $listener
gap=$(python3 -c '
import sys
times = [float(line.split()[0]) for line in open(sys.argv[1]) if line.split()[1:] == ["WATCHDOG=1"]]
print(round(max((b - a for a, b in zip(times, times[1:])), default=999), 1))' "$tmp/notify")
echo "== measured: longest gap between watchdog notifications: $gap s (every 1 s asked)"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 15 else 1)' "$gap" &&
  lab_pass "the watchdog was fed throughout (longest gap $gap s)" ||
  lab_fail "a gap of $gap s between watchdog notifications"

# Stopped during a verify: sekishod asks the verify to give up and goes at once, instead
# of waiting for the million records; the caller's connection is closed, not left hanging.
"$lab" daemon start >/dev/null || lab_fail "sekishod did not start again"
pid=$("$lab" daemon pid)
base_threads=$(threads)
(
  c audit verify --json >"$tmp/stopped-verify" 2>&1
  echo $? >"$tmp/stopped-verify.done"
) &
caller=$!
verifying() { [ "$(threads)" -gt "$base_threads" ]; }
if wait_ms 5000 verifying >/dev/null; then
  start=$(now_ms)
  "$lab" daemon stop
  took=$(($(now_ms) - start))
  wait $caller
  echo "== measured: SIGTERM during an audit verify of $records records -> sekishod gone in $took ms (with nothing running: $idle_stop ms)"
  if [ $took -lt $((idle_stop + 1000)) ] && [ "$(cat "$tmp/stopped-verify.done")" = 69 ]; then
    lab_pass "stopped during an audit verify: gone in $took ms ($idle_stop ms idle), the caller told the daemon went (69)"
  else
    lab_fail "stop during an audit verify: $took ms ($idle_stop ms idle), verify exit $(cat "$tmp/stopped-verify.done"): $(head -c 300 "$tmp/stopped-verify")"
  fi
  "$lab" daemon log | tail -5
else
  lab_fail "no verify thread appeared"
  "$lab" daemon stop
fi
lab_finish
