# Sourced by the lab tests: the lab under its own LAB_ID, torn down on exit (also after a
# failure or Ctrl-C), and helpers to probe, verify and time. Expects $bindir and $src.
export LAB_ID=${LAB_ID:-skt}
export LAB_RUN_DIR=${LAB_RUN_DIR:-/run/sekisho-lab/$LAB_ID}
export SEKISHO_BINDIR=$bindir
lab=$src/tests/lab/lab
ctl=$bindir/sekishoctl
. "$src/tests/lab/common.sh"
lab_require
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: the lab needs root (ip netns)"
  exit 77
fi

# lab_require_tools TOOL...: skips the test (77) when one of them is not installed.
lab_require_tools() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null; then
      echo "SKIP: $tool is not installed (scripts/install-deps.sh test installs it)"
      exit 77
    fi
  done
}
lab_require_tools nft ip python3 ping
trap '"$lab" down; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

lab_up() {
  "$lab" up "$@" || {
    echo "FAIL: the lab did not come up"
    exit 1
  }
}

in_gw() { "$lab" exec gw "$@"; }

# probe NODE PROTO DESTINATION PORT -> reached | blocked | error:...
probe() {
  echo "p $2 $3 $4" | "$lab" exec "$1" python3 "$src/tests/lab/probe.py" | awk '{print $2}'
}

# expect NODE PROTO DESTINATION PORT reached|blocked WHAT: one probe, passed or failed.
expect() {
  local seen
  seen=$(probe "$1" "$2" "$3" "$4")
  if [ "$seen" = "$5" ]; then lab_pass "$6: $1 -> $3 $2/$4 $seen"; else
    lab_fail "$6: $1 -> $3 $2/$4 expected $5, saw $seen"
  fi
}

# verify_quiet: sekishoctl verify in the gateway against the lab's policy, exit status only.
verify_quiet() {
  in_gw "$ctl" verify --policy "$LAB_RUN_DIR/policy.yaml" >/dev/null 2>&1
}

now_ms() { date +%s%3N; }

# wait_ms LIMIT_MS COMMAND...: runs COMMAND every 20 ms until it succeeds; prints the
# milliseconds it took, or fails after LIMIT_MS.
wait_ms() {
  local limit=$1 start
  shift
  start=$(now_ms)
  while ! "$@"; do
    if [ $(($(now_ms) - start)) -gt "$limit" ]; then
      return 1
    fi
    sleep 0.02
  done
  echo $(($(now_ms) - start))
}

# ctl_gw ARGS...: sekishoctl in the gateway, on the lab daemon's control socket.
ctl_gw() { in_gw "$ctl" --control "$LAB_RUN_DIR/control.sock" "$@"; }

# wan_shut NODE PROTO DESTINATION PORT: nothing gets through, whether the WAN gate drops
# it (blocked) or the gateway has no route any more (net or host unreachable).
wan_shut() {
  case $(probe "$@") in
    blocked | error:ENETUNREACH | error:EHOSTUNREACH) return 0 ;;
    *) return 1 ;;
  esac
}

# policy_reporting_to_cloud OUT [SED-EXPRESSION...]: the lab factory with hmi-1 reporting
# to the cloud broker through the WAN (and the further sed expressions applied).
policy_reporting_to_cloud() {
  local out=$1
  shift
  local expressions=(-e 's/^rules:$/rules:\n  - name: the line reports to the cloud\n    from: hmi-1\n    to: cloud-broker\n    services: [mqtts]/')
  local expression
  for expression in "$@"; do
    expressions+=(-e "$expression")
  done
  sed "${expressions[@]}" "$src/configs/lab-factory.yaml" >"$out"
}
