#!/usr/bin/env bash
# Builds the test PKI that the C programs and tests/tls_peers.rs use, with the openssl CLI only:
#
#   root-ca ── sub-ca ─┬─ server               RSA-2048, CN/SAN localhost + IP 127.0.0.1, serverAuth
#                      ├─ client-valid          SAN dNSName = SSP FQDN, clientAuth          → accepted
#                      ├─ client-cn-only        CN = SSP FQDN, no SAN, clientAuth           → accepted
#                      ├─ client-later-revoked  valid until subca-revoked-later.crl is in force
#                      ├─ client-expired        notAfter in the past                        → refused
#                      ├─ client-not-yet-valid  notBefore in the future                     → refused
#                      ├─ client-revoked        revoked by sub-ca.crl                       → refused
#                      ├─ client-wrong-fqdn     CN and SAN another host                     → refused
#                      ├─ client-wrong-san      SAN another host, CN = SSP FQDN: the CN must
#                      │                        not count when a dNSName SAN exists         → refused
#                      ├─ client-server-eku     EKU serverAuth only                         → refused
#                      └─ client-sha1           signed with sha1WithRSAEncryption           → refused
#          └─ other-sub-ca ─ client-other-sub  a SubCA of the RootCA that provider.toml does not
#                                              configure (client-other-sub-chain.pem: leaf +
#                                              other-sub-ca, as the peer sends it)           → refused
#   unrelated-ca ───── client-unrelated        SAN = SSP FQDN, but an untrusted issuer     → refused
#
# CRLs (PEM, each with an authorityKeyIdentifier as RFC 5280 5.2.1 asks): root-ca.crl (revokes nothing), sub-ca.crl (revokes client-revoked),
# subca-revoked-later.crl (also revokes client-later-revoked; a test swaps it in for sub-ca.crl),
# subca-initial.crl (a copy of the first sub-ca.crl, to swap back), unrelated-ca.crl.
# Also provider.toml (the guard's configuration, paths relative to DIR) and server-chain.pem.
#
# Dates are relative to now (GNU date) so the PKI stays valid whenever it is built; everything
# else is fixed. Usage: make-pki.sh DIR   (DIR is created; existing files in it are replaced)
set -euo pipefail

dir=${1:?usage: make-pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
rm -rf ca-db && mkdir ca-db

SSP_FQDN=msg.dev.spine2.ncrs.nhs.uk
WRONG_FQDN=msg.other.spine2.ncrs.nhs.uk

utc() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
LONG_AGO=$(utc '-2 years')
YESTERDAY=$(utc '-1 day')
LAST_YEAR=$(utc '-1 year')
NEXT_YEAR=$(utc '+1 year')
IN_TWO_YEARS=$(utc '+2 years')
IN_TEN_YEARS=$(utc '+10 years')

rsa_key() { openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"; }
ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# An `openssl ca` database and config for CA $1 (files ca-db/$1.*), signing with $1.pem/$1.key.
ca_config() {
  local ca=$1
  : > "ca-db/$ca.index"
  echo 'unique_subject = no' > "ca-db/$ca.index.attr"
  echo 1000 > "ca-db/$ca.serial"
  echo 1000 > "ca-db/$ca.crlnumber"
  cat > "ca-db/$ca.cnf" <<CNF
[ca]
default_ca = this_ca
[this_ca]
database = ca-db/$ca.index
serial = ca-db/$ca.serial
crlnumber = ca-db/$ca.crlnumber
new_certs_dir = ca-db
certificate = $ca.pem
private_key = $ca.key
default_md = sha256
default_crl_days = 30
crl_extensions = crl_ext
policy = any_cn
copy_extensions = none
[crl_ext]
authorityKeyIdentifier = keyid:always
[any_cn]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
CNF
}

# issue CA NAME SUBJECT START END KEYTYPE EXTENSIONS... : NAME.key, NAME.pem signed by CA.
issue() {
  local ca=$1 name=$2 subject=$3 start=$4 end=$5 keytype=$6
  shift 6
  "${keytype}_key" "$name.key"
  printf '%s\n' "$@" > "ca-db/$name.ext"
  openssl req -new -key "$name.key" -subj "$subject" -out "ca-db/$name.csr"
  openssl ca -config "ca-db/$ca.cnf" -batch -notext -in "ca-db/$name.csr" -out "$name.pem" \
    -startdate "$start" -enddate "$end" -extfile "ca-db/$name.ext" ${ISSUE_MD:+-md "$ISSUE_MD"} 2>/dev/null
}

self_signed_ca() {
  local name=$1 subject=$2
  rsa_key "$name.key"
  printf '%s\n' 'basicConstraints = critical, CA:true' 'keyUsage = critical, keyCertSign, cRLSign' \
    'subjectKeyIdentifier = hash' > "ca-db/$name.ext"
  openssl req -new -key "$name.key" -subj "$subject" -out "ca-db/$name.csr"
  ca_config "$name"
  openssl ca -config "ca-db/$name.cnf" -batch -notext -selfsign -keyfile "$name.key" \
    -in "ca-db/$name.csr" -out "$name.pem" -startdate "$LONG_AGO" -enddate "$IN_TEN_YEARS" \
    -extfile "ca-db/$name.ext" 2>/dev/null
}

gencrl() { openssl ca -config "ca-db/$1.cnf" -gencrl -crldays 30 -out "$2" 2>/dev/null; }
revoke() { openssl ca -config "ca-db/$1.cnf" -revoke "$2" -crl_reason keyCompromise 2>/dev/null; }

self_signed_ca root-ca "/O=gpcguard test/CN=Test Spine RootCA"
issue root-ca sub-ca "/O=gpcguard test/CN=Test Spine SubCA" "$LONG_AGO" "$IN_TEN_YEARS" rsa \
  'basicConstraints = critical, CA:true, pathlen:0' 'keyUsage = critical, keyCertSign, cRLSign' \
  'subjectKeyIdentifier = hash' 'authorityKeyIdentifier = keyid'
ca_config sub-ca

issue sub-ca server "/CN=localhost" "$YESTERDAY" "$IN_TWO_YEARS" rsa \
  'basicConstraints = critical, CA:false' 'keyUsage = critical, digitalSignature, keyEncipherment' \
  'extendedKeyUsage = serverAuth' 'subjectAltName = DNS:localhost, IP:127.0.0.1'
cat server.pem sub-ca.pem > server-chain.pem

client() { # client NAME SUBJECT START END EXTRA-EXTENSIONS...
  local name=$1 subject=$2 start=$3 end=$4
  shift 4
  issue sub-ca "$name" "$subject" "$start" "$end" ec \
    'basicConstraints = critical, CA:false' 'keyUsage = critical, digitalSignature' "$@"
}
client client-valid "/O=gpcguard test/CN=SSP valid client" "$YESTERDAY" "$IN_TWO_YEARS" \
  'extendedKeyUsage = clientAuth' "subjectAltName = DNS:$SSP_FQDN"
client client-cn-only "/CN=$SSP_FQDN" "$YESTERDAY" "$IN_TWO_YEARS" 'extendedKeyUsage = clientAuth'
client client-later-revoked "/CN=SSP later revoked" "$YESTERDAY" "$IN_TWO_YEARS" \
  'extendedKeyUsage = clientAuth' "subjectAltName = DNS:$SSP_FQDN"
client client-expired "/CN=SSP expired" "$LONG_AGO" "$LAST_YEAR" \
  'extendedKeyUsage = clientAuth' "subjectAltName = DNS:$SSP_FQDN"
client client-not-yet-valid "/CN=SSP not yet valid" "$NEXT_YEAR" "$IN_TWO_YEARS" \
  'extendedKeyUsage = clientAuth' "subjectAltName = DNS:$SSP_FQDN"
client client-revoked "/CN=SSP revoked" "$YESTERDAY" "$IN_TWO_YEARS" \
  'extendedKeyUsage = clientAuth' "subjectAltName = DNS:$SSP_FQDN"
client client-wrong-fqdn "/CN=$WRONG_FQDN" "$YESTERDAY" "$IN_TWO_YEARS" \
  'extendedKeyUsage = clientAuth' "subjectAltName = DNS:$WRONG_FQDN"
client client-wrong-san "/CN=$SSP_FQDN" "$YESTERDAY" "$IN_TWO_YEARS" \
  'extendedKeyUsage = clientAuth' "subjectAltName = DNS:$WRONG_FQDN"
client client-server-eku "/CN=SSP serverAuth only" "$YESTERDAY" "$IN_TWO_YEARS" \
  'extendedKeyUsage = serverAuth' "subjectAltName = DNS:$SSP_FQDN"
ISSUE_MD=sha1 client client-sha1 "/CN=SSP SHA-1 signed" "$YESTERDAY" "$IN_TWO_YEARS" \
  'extendedKeyUsage = clientAuth' "subjectAltName = DNS:$SSP_FQDN"

issue root-ca other-sub-ca "/O=gpcguard test/CN=Test Unconfigured SubCA" "$LONG_AGO" "$IN_TEN_YEARS" rsa \
  'basicConstraints = critical, CA:true, pathlen:0' 'keyUsage = critical, keyCertSign, cRLSign' \
  'subjectKeyIdentifier = hash' 'authorityKeyIdentifier = keyid'
ca_config other-sub-ca
issue other-sub-ca client-other-sub "/CN=SSP under an unconfigured SubCA" "$YESTERDAY" "$IN_TWO_YEARS" ec \
  'basicConstraints = critical, CA:false' 'keyUsage = critical, digitalSignature' \
  'extendedKeyUsage = clientAuth' "subjectAltName = DNS:$SSP_FQDN"
cat client-other-sub.pem other-sub-ca.pem > client-other-sub-chain.pem

self_signed_ca unrelated-ca "/O=not the NHS/CN=Unrelated RootCA"
issue unrelated-ca client-unrelated "/CN=$SSP_FQDN" "$YESTERDAY" "$IN_TWO_YEARS" ec \
  'basicConstraints = critical, CA:false' 'keyUsage = critical, digitalSignature' \
  'extendedKeyUsage = clientAuth' "subjectAltName = DNS:$SSP_FQDN"

gencrl root-ca root-ca.crl
gencrl unrelated-ca unrelated-ca.crl
revoke sub-ca client-revoked.pem
gencrl sub-ca sub-ca.crl
cp sub-ca.crl subca-initial.crl
revoke sub-ca client-later-revoked.pem
gencrl sub-ca subca-revoked-later.crl

cat > provider.toml <<TOML
# gpcguard configuration for the test PKI (made by c-tests/make-pki.sh); paths are relative to
# this file's folder.
provider_asid = "918999198993"
ssp_fqdn = ["$SSP_FQDN"]
trust_anchor = ["root-ca.pem"]
intermediate = ["sub-ca.pem"]
crl = ["root-ca.crl", "sub-ca.crl"]
require_crl = true
revocation = "chain"
server_certificate = "server-chain.pem"
server_private_key = "server.key"
TOML
