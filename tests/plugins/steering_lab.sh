#!/usr/bin/env bash
# A plugin's steering in the real lab (docs/architecture.md, "Steering"), with sekishod
# and sekishoctl linked with the probe plugin (build/probe-bin): the probe steers tcp/502
# to the OT hosts to a transparent listener on port 5020 of the gateway.
#  (a) an inspector listening there gets the historian's connection to plc-1 with the
#      client's address and the original destination, and its own connection to plc-1
#      with the historian's address works: plc-1 sees the historian;
#  (b) with no inspector the connection fails, counted by the steering chain's drop rule,
#      while an allowed flow that is not steered still passes;
#  (c) sekishod holds the ip rules and local routes while the policy steers, keeps them
#      across a restart, removes them with a policy that does not steer, and a restarted
#      daemon removes its own leftovers but never the operator's;
#  (d) the inspector as the probe's child process: sekishod runs it as uid 4105 with
#      CAP_NET_ADMIN only, starts it again after it is killed, without a reload, audits
#      both, and ends it when it stops; the inspector takes its port from the probe over
#      its channel (made again for the restarted one) and reports each connection there,
#      which the probe audits (probe.inspected).
set -u
bindir=$1 # build/probe-bin
src=$2
. "$src/tests/lab/lab_test.sh"

policy=$tmp/steering.yaml
{
  cat "$src/configs/lab-factory.yaml"
  printf 'probe:\n  zone: ot\n  port: 5020\n'
} >"$policy"
lab_up "$policy"

rules() { in_gw ip rule show; in_gw ip -6 rule show; }
routes() { in_gw ip route show table 1021; in_gw ip -6 route show table 1021; }
ours() { { rules; routes; } | grep -c "proto 83" || true; }
# The packets the steering chain's drop rule has counted.
drops() {
  in_gw nft list chain inet sekisho steering | awk '/counter packets/ && /drop/ { print $(NF-3) }'
}
# client PORT: the historian connects to plc-1, sends a line, prints what comes back.
client() {
  "$lab" exec historian timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("192.0.2.21", int(sys.argv[1])), timeout=3)
s.sendall(b"x\n")
print(s.recv(200).decode().strip())' "$1" 2>&1 | tail -1
}

# (c) first half: the rules and routes exist after the apply.
if [ "$(rules | grep -c 'fwmark 0x10000/0x10000 lookup 1021 proto 83')" = 2 ] &&
  [ "$(routes | grep -c 'local default dev lo proto 83')" = 2 ]; then
  lab_pass "ip rules (IPv4, IPv6) and local routes in table 1021 set up after the apply"
else
  lab_fail "rules and routes after the apply:"
  rules
  routes
  "$lab" daemon log | grep steering
fi

# (a) the inspector gets the connection as the client made it.
in_gw python3 "$src/tests/plugins/inspector.py" 5020 >"$tmp/inspector" 2>&1 &
inspector=$!
wait_ms 5000 grep -q listening "$tmp/inspector" >/dev/null || lab_fail "the inspector did not start"
answer=$(client 502)
if [ "$answer" = "inspected 198.18.20.5 192.0.2.21:502 upstream hello" ]; then
  lab_pass "steered: the inspector saw the historian's address and plc-1:502, and reached plc-1"
else
  lab_fail "steered connection: '$answer' (inspector: $(cat "$tmp/inspector"))"
fi
# plc-1 sees the inspector's connection as the historian's.
if "$lab" exec plc1 ss -Htn state established '( sport = :502 )' | grep -q "198\.18\.20\.5\]*:"; then
  lab_pass "plc-1 sees the inspector's connection coming from the historian's address"
else
  lab_fail "plc-1's connections on 502: $("$lab" exec plc1 ss -Htn '( sport = :502 )')"
fi
# The listener itself is reached only through steering: not on the gateway's address, nor
# on a forwarded host's address at its port (nft's socket lookup finds a listener bound
# to 0.0.0.0 for any address; the steering chain marks only connections it holds).
expect historian tcp 198.18.20.1 5020 blocked "the inspector's port on the gateway"
expect historian tcp 192.0.2.21 5020 blocked "the inspector's port at another address"
# The python process itself, not the `lab exec` around it.
kill "$(awk '/^listening/ { print $2 }' "$tmp/inspector")" 2>/dev/null
wait "$inspector" 2>/dev/null

# (b) no inspector: fail closed, counted; the flow not steered still passes.
before=$(drops)
answer=$(client 502)
after=$(drops)
case $answer in
  *Error* | *"timed out"*) failed_closed=yes ;;
  *) failed_closed=no ;; # "x": it passed uninspected; "inspected": someone listened
esac
if [ "$failed_closed" = yes ] && [ "${after:-0}" -gt "${before:-0}" ]; then
  lab_pass "no inspector: the steered connection fails ($answer), drops counted $before -> $after"
else
  lab_fail "no inspector: '$answer', drops $before -> $after"
fi
expect historian tcp 192.0.2.21 4840 reached "a flow not steered"

# (c) a restart keeps them, once each.
"$lab" daemon stop
"$lab" daemon start
wait_ms 10000 verify_quiet >/dev/null || lab_fail "the restarted daemon's policy is not in force"
if [ "$(ours)" = 4 ]; then
  lab_pass "a restarted daemon keeps its rules and routes (4, none doubled)"
else
  lab_fail "after a restart: $(ours) rules and routes of protocol 83"
  rules
  routes
fi

# A policy that steers nothing removes them.
"$lab" policy "$src/configs/lab-factory.yaml"
if wait_ms 10000 sh -c "[ \"\$('$lab' exec gw sh -c 'ip rule; ip -6 rule; ip route show table 1021; ip -6 route show table 1021' | grep -c 'proto 83')\" = 0 ]" >/dev/null; then
  lab_pass "a policy without steering removes the ip rules and routes"
else
  lab_fail "left after a policy without steering: $(ours)"
fi

# Leftovers of a daemon that died steering, beside the operator's own rule: a restart
# with a policy that does not steer removes only sekishod's.
"$lab" daemon stop
in_gw ip rule add fwmark 0x10000/0x10000 lookup 1021 priority 1021 proto 83
in_gw ip route add local default dev lo table 1021 proto 83
in_gw ip rule add fwmark 0x20000/0x20000 lookup 1021 priority 1021 proto static
"$lab" daemon start
wait_ms 10000 verify_quiet >/dev/null || lab_fail "the restarted daemon's policy is not in force"
if [ "$(ours)" = 0 ] && [ "$(rules | grep -c 'fwmark 0x20000/0x20000 lookup 1021 proto static')" = 1 ]; then
  lab_pass "a restarted daemon removes its leftovers and keeps the operator's rule"
else
  lab_fail "after a restart with leftovers: $(ours) of protocol 83"
  rules
fi

# (d) The inspector as the plugin's supervised child.
{
  cat "$src/configs/lab-factory.yaml"
  printf 'probe:\n  zone: ot\n  port: 5020\n  inspector: %s\n' "$src/tests/plugins/inspector.py"
} >"$tmp/child.yaml"
"$lab" policy "$tmp/child.yaml"
child() { # FIELD of the probe's first child in `status`
  ctl_gw status --json | python3 -c 'import json,sys
c = json.load(sys.stdin)["plugins"]["probe"]["children"]
print(c[0][sys.argv[1]] if c else "")' "$1" 2>/dev/null
}
generation() { ctl_gw status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])'; }
inspected() { [ "$(client 502)" = "inspected 198.18.20.5 192.0.2.21:502 upstream hello" ]; }
if took=$(wait_ms 10000 inspected); then
  lab_pass "sekishod runs the probe's inspector as its child: steered flows inspected ($took ms)"
else
  lab_fail "the probe's child inspector: '$(client 502)'; status: $(ctl_gw status --json | grep -A12 children)"
fi
first=$(child pid)
# Only what it was given: /proc/PID/status of the python process itself.
privileges=$(awk '/^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):/ {
  $1 = $1; printf "%s;", $0 }' "/proc/$first/status")
want="Uid: 4105 4105 4105 4105;Gid: 4105 4105 4105 4105;Groups:;CapInh: 0000000000001000;"
want="${want}CapPrm: 0000000000001000;CapEff: 0000000000001000;CapBnd: 0000000000001000;"
want="${want}CapAmb: 0000000000001000;NoNewPrivs: 1;"
if [ "$privileges" = "$want" ]; then
  lab_pass "the inspector runs as uid 4105 with CAP_NET_ADMIN only, no_new_privs"
else
  lab_fail "the inspector's credentials: $privileges"
fi
# probe.inspected records: what the child reported over its channel.
inspected_records() {
  ctl_gw audit show --json | python3 -c 'import json,sys
rs = [r["details"] for r in json.load(sys.stdin) if r["kind"] == "probe.inspected"]
print(len(rs), *(sorted(set("%s>%s:%s" % (d["client"], d["destination"], d["upstream"]) for d in rs))))'
}
probe_field() { ctl_gw status --json | python3 -c 'import json,sys
print(json.load(sys.stdin)["plugins"]["probe"][sys.argv[1]])' "$1"; }
reported=$(inspected_records)
if [ "${reported%% *}" -ge 1 ] && [ "${reported#* }" = "198.18.20.5>192.0.2.21:502:hello" ] &&
  [ "$(probe_field inspected)" = "${reported%% *}" ]; then
  lab_pass "the child reports each connection over its channel: audited ($reported)"
else
  lab_fail "probe.inspected records: '$reported', status inspected $(probe_field inspected)"
fi
before=$(generation)
kill -9 "$first"
restarted() { [ "$(child restarts)" = 1 ] && [ "$(child running)" = True ] && inspected; }
if took=$(wait_ms 10000 restarted); then
  if [ "$(generation)" = "$before" ] && [ "$(child pid)" != "$first" ]; then
    lab_pass "killed, the inspector is started again and inspects ($took ms), with no reload"
  else
    lab_fail "the restart: generation $before -> $(generation), pid $first -> $(child pid)"
  fi
else
  lab_fail "not restarted: $(ctl_gw status --json | grep -A12 children)"
fi
# It listens on the port it asked for on the new channel, and reports there.
again=$(inspected_records)
if [ "$(probe_field inspector_ready)" = 2 ] && [ "${again%% *}" -gt "${reported%% *}" ]; then
  lab_pass "the restarted child has a channel again: asked for its port, reported (${again%% *} records)"
else
  lab_fail "after the restart: ready $(probe_field inspector_ready), records '$again'"
fi
records=$(ctl_gw audit show --json | python3 -c 'import json,sys
rs = [r for r in json.load(sys.stdin) if r["kind"].startswith("plugin.child_")]
print(" ".join(r["kind"][13:] + ("/" + str(r["details"].get("signal")) if r["kind"].endswith("exit") else "") for r in rs))')
if [ "$records" = "start exit/9 start" ]; then
  lab_pass "its starts and its end by SIGKILL are audited ($records)"
else
  lab_fail "plugin.child records: '$records'"
fi
second=$(child pid)
"$lab" daemon stop
if ! kill -0 "$second" 2>/dev/null; then
  lab_pass "the child ends with the daemon"
else
  lab_fail "the inspector $second outlived sekishod"
  kill -9 "$second"
fi

lab_finish
