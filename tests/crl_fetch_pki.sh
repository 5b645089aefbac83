#!/usr/bin/env bash
# A small PKI whose certificates name CRL distribution points at BASE_URL, and the CRLs a
# distribution point may serve, for tests/crl_fetch.rs and tests/tools/*.sh:
#
#   root-ca (CDP none) ── sub-ca (CDP BASE_URL/root-ca.crl) ── server (CDP BASE_URL/sub-ca.crl)
#                                                            └─ client-a, client-b (SSP FQDN)
#   impostor-ca: another key with sub-ca's very name
#
#   root-ca.crl     current, installed
#   sub-ca.crl      crlNumber 1001, installed (revokes client-a)
#   sub-good.crl    crlNumber 1002, current, also revokes client-b
#   sub-older.crl   crlNumber 1000 (made first), current
#   sub-stale.crl   crlNumber 1003, nextUpdate yesterday
#   sub-future.crl  crlNumber 1004, thisUpdate tomorrow
#   sub-wrong.crl   sub-ca's name, signed by impostor-ca, crlNumber 5000
#   sub-truncated.crl  the first half of sub-good.crl (DER)
# CRLs are DER except the installed ones (PEM); provider.toml names them.
#
# Usage: crl_fetch_pki.sh DIR BASE_URL     (e.g. http://127.0.0.1:8080)
set -euo pipefail
dir=${1:?usage: crl_fetch_pki.sh DIR BASE_URL}
base=${2:?usage: crl_fetch_pki.sh DIR BASE_URL}
mkdir -p "$dir"; cd "$dir"; rm -rf db; mkdir db
utc() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
key() { openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
cnf() { # cnf CA: an openssl ca database for CA
  : > "db/$1.index"; echo 1000 > "db/$1.serial"; echo "${2:-1000}" > "db/$1.crlnumber"
  cat > "db/$1.cnf" <<CNF
[ca]
default_ca = this
[this]
database = db/$1.index
serial = db/$1.serial
crlnumber = db/$1.crlnumber
new_certs_dir = db
certificate = $1.pem
private_key = $1.key
default_md = sha256
default_crl_days = 30
policy = any
unique_subject = no
[any]
commonName = supplied
organizationName = optional
CNF
}
issue() { # issue CA NAME SUBJECT EXTENSIONS...
  local ca=$1 name=$2 subject=$3; shift 3
  key "$name.key"; printf '%s\n' "$@" > "db/$name.ext"
  openssl req -new -key "$name.key" -subj "$subject" -out "db/$name.csr"
  openssl ca -config "db/$ca.cnf" -batch -notext -in "db/$name.csr" -out "$name.pem" \
    -startdate "$(utc '-1 day')" -enddate "$(utc '+2 years')" -extfile "db/$name.ext" 2>/dev/null
}
selfsigned() { # selfsigned NAME SUBJECT
  key "$1.key"
  openssl req -new -x509 -key "$1.key" -subj "$2" -days 3650 -out "$1.pem" \
    -addext 'basicConstraints = critical, CA:true' -addext 'keyUsage = critical, keyCertSign, cRLSign' \
    -addext 'subjectKeyIdentifier = hash' 2>/dev/null
  cnf "$1" "${3:-1000}"
}
# gencrl CA OUT pem|der [openssl ca options...]
gencrl() {
  openssl ca -config "db/$1.cnf" -gencrl "${@:4}" -out "db/$2.pem" 2>/dev/null
  if [ "$3" = der ]; then openssl crl -in "db/$2.pem" -outform DER -out "$2"; else cp "db/$2.pem" "$2"; fi
}

selfsigned root-ca "/O=gpcguard test/CN=Fetch RootCA"
issue root-ca sub-ca "/O=gpcguard test/CN=Fetch SubCA" 'basicConstraints = critical, CA:true, pathlen:0' \
  'keyUsage = critical, keyCertSign, cRLSign' 'subjectKeyIdentifier = hash' 'authorityKeyIdentifier = keyid' \
  "crlDistributionPoints = URI:$base/root-ca.crl"
cnf sub-ca 1000
leaf() { issue sub-ca "$1" "$2" 'basicConstraints = critical, CA:false' 'keyUsage = critical, digitalSignature' \
  "extendedKeyUsage = $3" "subjectAltName = DNS:$4" "crlDistributionPoints = URI:$base/sub-ca.crl"; }
leaf server /CN=localhost serverAuth localhost
leaf client-a "/CN=client a" clientAuth msg.dev.spine2.ncrs.nhs.uk
leaf client-b "/CN=client b" clientAuth msg.dev.spine2.ncrs.nhs.uk
cat server.pem sub-ca.pem > server-chain.pem

gencrl root-ca root-ca.crl pem
gencrl sub-ca sub-older.crl der                       # 1000
openssl ca -config db/sub-ca.cnf -revoke client-a.pem 2>/dev/null
gencrl sub-ca sub-ca.crl pem                                     # 1001, installed
openssl ca -config db/sub-ca.cnf -revoke client-b.pem 2>/dev/null
gencrl sub-ca sub-good.crl der                        # 1002
gencrl sub-ca sub-stale.crl der -crl_lastupdate "$(utc '-3 days')" -crl_nextupdate "$(utc '-1 day')"   # 1003
gencrl sub-ca sub-future.crl der -crl_lastupdate "$(utc '+1 day')" -crl_nextupdate "$(utc '+30 days')" # 1004
openssl req -new -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout impostor-ca.key \
  -subj "/CN=Fetch SubCA/O=gpcguard test" -days 3650 -out impostor-ca.pem \
  -addext 'basicConstraints = critical, CA:true' -addext 'keyUsage = critical, keyCertSign, cRLSign' 2>/dev/null
cnf impostor-ca 5000
gencrl impostor-ca sub-wrong.crl der
head -c $(( $(stat -c %s sub-good.crl) / 2 )) sub-good.crl > sub-truncated.crl

cat > provider.toml <<TOML
provider_asid = "918999198993"
ssp_fqdn = "msg.dev.spine2.ncrs.nhs.uk"
trust_anchor = "root-ca.pem"
intermediate = "sub-ca.pem"
crl = ["root-ca.crl", "sub-ca.crl"]
server_certificate = "server-chain.pem"
server_private_key = "server.key"
TOML
