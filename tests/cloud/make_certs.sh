#!/usr/bin/env bash
# Makes the certificates of a cloud-broker lab: a private CA the gateway trusts, a broker
# certificate for one literal address, the gateway's client certificate, and the wrong
# ones a test must see refused.
#
# Usage: make_certs.sh DIR SERVER_IP [OTHER_IP]
#   ca.pem ca.key                          the trusted CA
#   server.pem server.key                  for SERVER_IP (IP SAN and CN), signed by the CA
#   client.pem client.key                  CN=sekisho-gateway, clientAuth, signed by the CA
#   other-ca.pem                           another CA (its key is not kept)
#   rogue-server.pem rogue-server.key      for SERVER_IP, signed by the other CA
#   wrong-ip-server.pem wrong-ip-server.key
#                                          for OTHER_IP (default 203.0.113.99), signed by
#                                          the trusted CA
# EC P-256 keys, valid for three days. DIR is made mode 0700, the keys 0600. Other lab
# scripts (tests/lab/cloud.sh) call this with exactly these arguments and file names.
set -euo pipefail

dir=${1:?usage: make_certs.sh DIR SERVER_IP [OTHER_IP]}
server_ip=${2:?usage: make_certs.sh DIR SERVER_IP [OTHER_IP]}
other_ip=${3:-203.0.113.99}
days=3

umask 077
mkdir -p "$dir"
chmod 0700 "$dir"
cd "$dir"

# One configuration for every certificate; the subjectAltName comes from $SAN.
config=$(mktemp ./openssl-XXXXXX.cnf)
trap 'rm -f "$config" ./*.csr other-ca.key' EXIT
cat >"$config" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $ENV::SAN
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
export SAN=

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 0600 "$1"
}

# new_ca NAME COMMON_NAME
new_ca() {
  new_key "$1.key"
  openssl req -x509 -new -config "$config" -extensions ca -key "$1.key" -subj "/CN=$2" \
    -days "$days" -sha256 -out "$1.pem" 2>/dev/null
}

# new_leaf NAME COMMON_NAME PROFILE CA [SAN]
new_leaf() {
  new_key "$1.key"
  openssl req -new -config "$config" -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
  SAN=${5:-} openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
    -extfile "$config" -extensions "$3" -out "$1.pem" 2>/dev/null
}

new_ca ca "sekisho lab CA"
new_ca other-ca "sekisho lab other CA"
new_leaf server "$server_ip" server ca "IP:$server_ip"
new_leaf client sekisho-gateway client ca
new_leaf rogue-server "$server_ip" server other-ca "IP:$server_ip"
new_leaf wrong-ip-server "$other_ip" server ca "IP:$other_ip"
