#!/usr/bin/env bash
# sekishoctl as a user runs it: exit codes, what goes to stdout and stderr, --help.
set -u
ctl=$1
src=$2
policy=$src/configs/factory-line.yaml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect CODE DESCRIPTION -- COMMAND...: runs COMMAND, keeps stdout/stderr in $tmp.
expect() {
  local want=$1 what=$2
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what: exit $rc, wanted $want"
    sed 's/^/  out: /' "$tmp/out"
    sed 's/^/  err: /' "$tmp/err"
  fi
}
# check_text FILE PATTERN DESCRIPTION
check_text() {
  if grep -qE -- "$2" "$tmp/$1"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $3: '$2' not in $1:"
    sed 's/^/  /' "$tmp/$1"
  fi
}
check_empty() {
  if [ ! -s "$tmp/$1" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $2: $1 is not empty:"
    sed 's/^/  /' "$tmp/$1"
  fi
}

expect 0 "--help" -- "$ctl" --help
check_text out "^usage: sekishoctl" "--help prints usage"
check_text out "explain" "--help lists explain"
expect 2 "no command" -- "$ctl"
check_text err "usage" "no command prints usage on stderr"
expect 2 "unknown command" -- "$ctl" frobnicate
check_text err "unknown command 'frobnicate'" "unknown command is named"
expect 0 "help explain" -- "$ctl" help explain
check_text out "--from A --to B" "help explain shows its usage"
expect 0 "explain --help" -- "$ctl" explain --help
expect 0 "--version" -- "$ctl" --version
check_text out "^sekishoctl [0-9]+\.[0-9]+\.[0-9]+" "--version prints a version"

expect 0 "check valid" -- "$ctl" check "$policy"
check_text out "valid, 0 warning" "check says valid"
check_empty err "check valid writes no diagnostics"
expect 0 "check --json before the command" -- "$ctl" --json check "$policy"
check_text out '"valid": true' "check --json"
expect 0 "--control is a global option" -- "$ctl" check "$policy" --control /nonexistent.sock
expect 2 "check without a file" -- "$ctl" check
expect 2 "check with an unknown option" -- "$ctl" check "$policy" --frob
check_text err "unknown option '--frob'" "unknown option is named"

printf 'version: 1\nzones:\n  ot:\n    intefaces: [lan0]\n' >"$tmp/bad.yaml"
expect 78 "check invalid" -- "$ctl" check "$tmp/bad.yaml"
check_text err "bad.yaml:4:5: error\[unknown-key\]" "diagnostic has file:line:col and code"
check_text err "hint: did you mean 'interfaces'" "diagnostic has a hint"
check_empty out "check invalid prints nothing on stdout"
expect 78 "check --json invalid" -- "$ctl" check --json "$tmp/bad.yaml"
check_text out '"code": "unknown-key"' "json diagnostics have the code"
check_text out '"line": 4' "json diagnostics have the line"
expect 78 "check missing file" -- "$ctl" check "$tmp/missing.yaml"
check_text err "error\[io\]" "missing file is an io error"
head -c 4096 /dev/urandom >"$tmp/garbage.yaml"
expect 78 "check binary garbage" -- "$ctl" check "$tmp/garbage.yaml"
expect 78 "check a directory" -- "$ctl" check "$tmp"

expect 0 "explain accept" -- "$ctl" explain "$policy" --from historian --to plc-1 --proto tcp --port 502
check_text out '^accept: "historian polls the line" \(.*factory-line.yaml:53\)$' "explain accept"
expect 0 "explain drop" -- "$ctl" explain "$policy" --from plc-1 --to historian --proto tcp --port 502
check_text out "^drop: no rule$" "explain drop"
expect 0 "explain schedule closed" -- "$ctl" explain "$policy" --from mes --to hmi-1 --proto tcp \
  --port 4840 --at 2026-11-25T22:00
check_text out "closed at 2026-11-25T22:00:00\+09:00" "explain names the closed schedule"
expect 0 "explain --json" -- "$ctl" explain "$policy" --json --from mes --to hmi-1 --proto tcp \
  --port 4840 --at 2026-11-25T10:00
check_text out '"verdict": "accept"' "explain json verdict"
check_text out '"schedule_open": true' "explain json schedule_open"
check_text out '"line": 57' "explain json line"
expect 0 "explain with options first" -- "$ctl" explain --from=10.20.3.3 --to 192.168.10.50 \
  --proto icmp --type echo-request "$policy"
check_text out '^accept: "IT may ping the line"' "explain icmp by name"
expect 2 "explain without --proto" -- "$ctl" explain "$policy" --from historian --to plc-1
expect 2 "explain tcp without port" -- "$ctl" explain "$policy" --from historian --to plc-1 --proto tcp
expect 2 "explain unknown endpoint" -- "$ctl" explain "$policy" --from nobody --to plc-1 --proto tcp --port 1
check_text err "'nobody'" "unknown endpoint is named"
expect 2 "explain bad time" -- "$ctl" explain "$policy" --from historian --to plc-1 --proto tcp \
  --port 502 --at tomorrow
expect 2 "explain port twice" -- "$ctl" explain "$policy" --from historian --to plc-1 --proto tcp \
  --port 502 --port 503
expect 78 "explain invalid policy" -- "$ctl" explain "$tmp/bad.yaml" --from a --to b --proto tcp --port 1
check_empty out "explain invalid prints nothing on stdout"
expect 78 "explain --json invalid policy" -- "$ctl" explain "$tmp/bad.yaml" --json --from a --to b \
  --proto tcp --port 1
check_text out '"valid": false' "explain --json gives the diagnostics as JSON"

expect 0 "compile valid" -- "$ctl" compile "$policy"
check_text out '^#!/usr/sbin/nft -f$' "compile prints an nft script"
check_text out '^table inet sekisho \{$' "compile defines table inet sekisho"
check_empty err "compile of a clean policy writes nothing on stderr"
expect 78 "compile invalid" -- "$ctl" compile "$tmp/bad.yaml"
check_empty out "compile invalid prints nothing on stdout"
check_text err "error\[unknown-key\]" "compile invalid prints the diagnostics"
expect 2 "compile without a file" -- "$ctl" compile

expect 69 "verify without a daemon" -- "$ctl" --control "$tmp/none.sock" verify
check_text err "not reachable at $tmp/none.sock" "an unreachable daemon is named with its socket"
expect 69 "status without a daemon" -- "$ctl" status --control "$tmp/none.sock"
expect 2 "status with an argument" -- "$ctl" status now
expect 0 "methods works without the daemon" -- "$ctl" methods --json
check_text out '"least_role": "viewer"' "methods --json gives each method's role"
expect 78 "verify invalid policy" -- "$ctl" verify --policy "$tmp/bad.yaml"
check_text err "error\[unknown-key\]" "verify invalid prints the diagnostics"

# apply, confirm, rollback: what is wrong on this side is said before the daemon is asked.
none=(--control "$tmp/none.sock")
expect 2 "apply without a file" -- "$ctl" "${none[@]}" apply
expect 2 "apply with a bad duration" -- "$ctl" "${none[@]}" apply "$tmp/bad.yaml" --confirm-within 5x
check_text err "--confirm-within takes a duration" "a bad --confirm-within is named"
expect 2 "apply with a zero duration" -- "$ctl" "${none[@]}" apply "$tmp/bad.yaml" --confirm-within 0
expect 78 "apply of a missing file" -- "$ctl" "${none[@]}" apply "$tmp/missing.yaml"
check_text err "missing.yaml: error\[io\]" "a missing policy file is named with error[io]"
head -c 1100000 /dev/zero | tr '\0' x >"$tmp/huge.yaml"
expect 65 "apply of a file over 1 MiB" -- "$ctl" "${none[@]}" apply "$tmp/huge.yaml"
check_text err "larger than one control request" "an oversized policy says why"
expect 69 "apply without a daemon" -- "$ctl" "${none[@]}" apply "$tmp/bad.yaml"
expect 2 "confirm with an argument" -- "$ctl" "${none[@]}" confirm now
expect 2 "rollback with an argument" -- "$ctl" "${none[@]}" rollback now
expect 69 "rollback without a daemon" -- "$ctl" "${none[@]}" rollback
expect 2 "audit export without --out" -- "$ctl" "${none[@]}" audit export --since 2026-01-01
expect 2 "audit verify --pubkey without --bundle" -- "$ctl" "${none[@]}" audit verify --pubkey x

# sekishod's command line: only what needs no kernel (the lab runs the daemon).
sekishod=$(dirname "$ctl")/sekishod
expect 0 "sekishod --help" -- "$sekishod" --help
check_text out "^usage: sekishod" "sekishod --help prints the usage"
expect 0 "sekishod --version" -- "$sekishod" --version
expect 2 "sekishod unknown option" -- "$sekishod" --polcy "$policy"
check_text err "unknown option '--polcy'" "sekishod names the unknown option"
expect 2 "sekishod stray argument" -- "$sekishod" "$policy"
expect 2 "sekishod --check and --restore" -- "$sekishod" --check --restore
expect 0 "sekishod --check valid" -- "$sekishod" --check --policy "$policy"
check_text out "valid" "sekishod --check says valid"
expect 78 "sekishod --check invalid" -- "$sekishod" --check --policy "$tmp/bad.yaml"
check_text err "error\[unknown-key\]" "sekishod --check prints the diagnostics"
expect 78 "sekishod --check --json invalid" -- "$sekishod" --check --json --policy "$tmp/bad.yaml"
check_text out '"valid": false' "sekishod --check --json gives JSON"
expect 78 "sekishod with an invalid policy applies nothing" -- "$sekishod" --policy "$tmp/bad.yaml" \
  --state-dir "$tmp/state"
check_text err "invalid policy; nothing applied" "sekishod says nothing was applied"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
