#!/usr/bin/env bash
# Runs tests/cloud/cloud_link_test.cpp against a real mosquitto with TLS inside a
# throw-away network namespace, never in the machine's own. The namespace has the cloud
# broker's address 203.0.113.10 (and 2001:db8::10) on lo and mosquitto with these
# listeners, the TLS ones requiring a client certificate signed by the lab CA:
#   203.0.113.10:8883   the right certificate (IP SAN 203.0.113.10)
#   203.0.113.10:8884   a certificate for the same address from another CA
#   203.0.113.10:8885   a certificate from the right CA naming 203.0.113.99
#   203.0.113.10:8886   the right certificate, TLS 1.2 at most (a mosquitto of its own)
#   203.0.113.10:8888   a right certificate with an RSA key, TLS 1.1 only (RSA key
#                       exchange; no client certificate; a mosquitto of its own)
#   [2001:db8::10]:8883 a certificate for 2001:db8::10 from a CA of its own (certs6/)
#   127.0.0.1:1883      plain and anonymous, for the test's mosquitto_sub and mosquitto_pub
# An ACL (dynamic security plugin) lets the gateway and anonymous clients use lab/# only.
# The test starts one more mosquitto from restart.conf itself (it kills and restarts it).
# Every process in the namespace, the namespace and the temporary directory are removed
# on exit, also after a failure or Ctrl-C. Skips (77) without root or CAP_NET_ADMIN, where
# namespaces cannot be made, or without mosquitto, its clients or openssl.
# Usage: cloud_link_lab.sh BINARY TESTS_SOURCE_DIR [doctest options]
set -u
binary=${1:?usage: cloud_link_lab.sh BINARY TESTS_SOURCE_DIR [doctest options]}
tests_dir=${2:?usage: cloud_link_lab.sh BINARY TESTS_SOURCE_DIR [doctest options]}
shift 2
PATH=$PATH:/usr/sbin:/sbin

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: needs root (ip netns add)"
  exit 77
fi
for tool in ip mosquitto mosquitto_sub mosquitto_pub openssl; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed"
    exit 77
  fi
done
# CAP_NET_ADMIN is bit 12 of the effective set.
if (( (16#$(awk '/^CapEff:/ {print $2}' /proc/self/status) >> 12 & 1) == 0 )); then
  echo "SKIP: root without CAP_NET_ADMIN"
  exit 77
fi

ns=sekisho-cloud-link-$$
work=$(mktemp -d /tmp/sekisho-cloud-link.XXXXXX)
# shellcheck disable=SC2317  # run by the trap
cleanup() {
  local pids
  pids=$(ip netns pids "$ns" 2>/dev/null)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086  # one pid per word
    kill -9 $pids 2>/dev/null
    sleep 0.2
  fi
  ip netns delete "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! ip netns add "$ns"; then
  echo "SKIP: cannot create a network namespace here"
  exit 77
fi
in_ns() { ip netns exec "$ns" "$@"; }

in_ns ip link set lo up || exit 1
in_ns ip addr add 203.0.113.10/32 dev lo || exit 1
in_ns ip addr add 2001:db8::10/128 dev lo nodad || exit 1

bash "$tests_dir/cloud/make_certs.sh" "$work/certs" 203.0.113.10 || exit 1
bash "$tests_dir/cloud/make_certs.sh" "$work/certs6" 2001:db8::10 || exit 1
# An RSA broker key: with RSA key exchange OpenSSL 3 still speaks TLS 1.1 at Paho's
# security level, so this is the listener that shows the gateway's TLS 1.2 minimum.
openssl req -new -newkey rsa:2048 -nodes -keyout "$work/certs/rsa-server.key" \
  -subj /CN=203.0.113.10 2>/dev/null |
  openssl x509 -req -CA "$work/certs/ca.pem" -CAkey "$work/certs/ca.key" -days 3 \
    -set_serial "0x$(openssl rand -hex 16)" -out "$work/certs/rsa-server.pem" \
    -extfile <(printf 'subjectAltName = IP:203.0.113.10\n') 2>/dev/null || exit 1

# The dynamic security plugin, as mosquitto 2.0's acl_file grants every subscription: the
# gateway (use_identity_as_username: its certificate's CN) and anonymous clients may use
# lab/# only, and a subscription to anything else is answered 0x80.
dynsec=
for plugin in /usr/lib/*/mosquitto_dynamic_security.so; do
  [ -e "$plugin" ] && dynsec=$plugin && break
done
if [ -z "$dynsec" ]; then
  echo "SKIP: mosquitto's dynamic security plugin is not installed"
  exit 77
fi
cat >"$work/dynsec.json" <<'EOF'
{
  "defaultACLAccess": {"publishClientSend": false, "publishClientReceive": false,
                       "subscribe": false, "unsubscribe": true},
  "clients": [{"username": "sekisho-gateway", "roles": [{"rolename": "lab"}]}],
  "groups": [{"groupname": "anonymous", "roles": [{"rolename": "lab"}]}],
  "anonymousGroup": "anonymous",
  "roles": [{"rolename": "lab", "acls": [
    {"acltype": "publishClientSend", "topic": "lab/#", "allow": true},
    {"acltype": "publishClientReceive", "topic": "lab/#", "allow": true},
    {"acltype": "subscribePattern", "topic": "lab/#", "allow": true}]}]
}
EOF

# tls_listener ADDRESS PORT CERT_DIR SERVER_NAME [extra option]
tls_listener() {
  cat <<EOF

listener $2 $1
cafile $3/ca.pem
certfile $3/$4.pem
keyfile $3/$4.key
require_certificate true
use_identity_as_username true
${5:-}
EOF
}

# Root keeps the files readable (they are 0600 in a 0700 directory); the namespace and
# the directory are the test's alone.
common="user root
per_listener_settings false
allow_anonymous true
plugin $dynsec
plugin_opt_config_file $work/dynsec.json
persistence false
max_queued_messages 100000
log_type error
log_type warning
log_type notice
connection_messages true"

{
  echo "$common"
  echo "log_dest stderr"
  printf '\nlistener 1883 127.0.0.1\n'
  tls_listener 203.0.113.10 8883 "$work/certs" server
  tls_listener 203.0.113.10 8884 "$work/certs" rogue-server
  tls_listener 203.0.113.10 8885 "$work/certs" wrong-ip-server
  tls_listener 2001:db8::10 8883 "$work/certs6" server
} >"$work/main.conf"
# mosquitto's tls_version is a minimum: OpenSSL's own configuration caps the others.
{
  echo "$common"
  echo "log_dest stderr"
  tls_listener 203.0.113.10 8886 "$work/certs" server
} >"$work/tls12.conf"
printf '%s\n' 'openssl_conf = init' '[init]' 'ssl_conf = ssl' '[ssl]' 'system_default = tls' \
  '[tls]' 'MaxProtocol = TLSv1.2' >"$work/tls12.cnf"
# No client certificate asked for here: its signature would need a legacy algorithm too.
{
  echo "$common"
  echo "log_dest stderr"
  cat <<EOF

listener 8888 203.0.113.10
certfile $work/certs/rsa-server.pem
keyfile $work/certs/rsa-server.key
tls_version tlsv1.1
ciphers AES128-SHA:@SECLEVEL=0
EOF
} >"$work/tls11.conf"
printf '%s\n' 'openssl_conf = init' '[init]' 'ssl_conf = ssl' '[ssl]' 'system_default = tls' \
  '[tls]' 'MaxProtocol = TLSv1.1' >"$work/tls11.cnf"
{
  echo "$common"
  echo "pid_file $work/restart.pid"
  echo "log_dest file $work/restart.log"
  tls_listener 203.0.113.10 8887 "$work/certs" server
} >"$work/restart.conf"

in_ns mosquitto -c "$work/main.conf" 2>"$work/main.log" &
in_ns env OPENSSL_CONF="$work/tls12.cnf" mosquitto -c "$work/tls12.conf" 2>"$work/tls12.log" &
in_ns env OPENSSL_CONF="$work/tls11.cnf" mosquitto -c "$work/tls11.conf" 2>"$work/tls11.log" &
# mosquitto opens every listener before it serves any.
for _ in $(seq 50); do
  in_ns mosquitto_pub -h 127.0.0.1 -p 1883 -t lab/ping -m ping 2>/dev/null &&
    in_ns bash -c 'exec 3<>/dev/tcp/203.0.113.10/8886 && exec 3<>/dev/tcp/203.0.113.10/8888' \
      2>/dev/null && break
  sleep 0.1
done
if ! in_ns mosquitto_pub -h 127.0.0.1 -p 1883 -t lab/ping -m ping ||
  ! in_ns bash -c 'exec 3<>/dev/tcp/203.0.113.10/8886 && exec 3<>/dev/tcp/203.0.113.10/8888'; then
  echo "mosquitto did not start:"
  cat "$work/main.log" "$work/tls12.log" "$work/tls11.log"
  exit 1
fi

# Paho C would tunnel through a proxy named in the environment.
in_ns env -u https_proxy -u http_proxy -u HTTPS_PROXY -u HTTP_PROXY \
  SEKISHO_OUTER_NETNS="$(readlink /proc/self/ns/net)" SEKISHO_CLOUD_LAB="$work" \
  "$binary" "$@"
status=$?
if [ "$status" != 0 ]; then
  echo "--- mosquitto log (main)"
  tail -n 60 "$work/main.log"
  for log in tls12 tls11 restart; do
    echo "--- mosquitto log ($log)"
    tail -n 20 "$work/$log.log" 2>/dev/null
  done
fi
exit "$status"
