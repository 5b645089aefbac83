# Shell helpers shared by the host-module tests (hosts/*/test.sh): the test PKI, GP Connect audit
# JWTs, SSP headers, free ports, and pass/fail bookkeeping. Source it from bash:
#
#   . "$(dirname "$0")/../test-helpers.sh"
#
# Nothing here starts a server; each test starts and stops its own.

GPC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GPC_ASID_TO=918999198993          # provider_asid of c-tests/make-pki.sh's provider.toml
GPC_ASID_FROM=200000000359
GPC_IID=urn:nhs:names:services:gpconnect
GPC_TRACE=09a01679-2564-0fb4-5129-aecc81ea2706

# gpc_make_pki DIR SERVICE_ROOT: the test PKI (c-tests/make-pki.sh) in DIR, with every capability
# of provider.toml under SERVICE_ROOT (e.g. /A20047/STU3/1/gpconnect).
gpc_make_pki() {
  local dir=$1 root=$2
  "$GPC_REPO/c-tests/make-pki.sh" "$dir" >/dev/null
  cat >> "$dir/provider.toml" <<TOML
service_root = ["foundations=$root", "structured=$root/structured", "documents=$root/documents"]
TOML
}

gpc_b64url() { basenc --base64url -w0 | tr -d '='; }

# gpc_token EXP_OFFSET SCOPE DEVICE_TYPE: an unsigned GP Connect audit JWT (the test pack's
# baseline claims) expiring EXP_OFFSET seconds from now, with requested_scope SCOPE and
# requesting_device.resourceType DEVICE_TYPE ("Device" is right; anything else is an invalid
# FHIR claim, 422).
gpc_token() {
  local now exp iat claims
  now=$(date +%s); exp=$((now + $1)); iat=$((exp - 300))
  claims=$(cat <<JSON
{"iss":"https://consumersupplier.thirdparty.nhs.uk/","sub":"1","aud":"https://provider.thirdparty.nhs.uk/A20047/STU3/1/gpconnect","exp":$exp,"iat":$iat,"reason_for_request":"directcare","requested_scope":"$2","requesting_device":{"resourceType":"$3","identifier":[{"system":"https://consumersupplier.com/Id/device-identifier","value":"CONS-APP-4"}],"model":"Consumer product name","version":"5.3.0"},"requesting_organization":{"resourceType":"Organization","identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"A11111"}],"name":"Consumer organisation name"},"requesting_practitioner":{"resourceType":"Practitioner","id":"1","identifier":[{"system":"https://fhir.nhs.uk/Id/sds-user-id","value":"111111111"},{"system":"https://fhir.nhs.uk/Id/sds-role-profile-id","value":"22222222222222"}],"name":[{"family":"Demo","given":["Clinician"],"prefix":["Dr"]}]}}
JSON
)
  printf '%s.%s.' "$(printf '{"alg":"none","typ":"JWT"}' | gpc_b64url)" "$(printf '%s' "$claims" | gpc_b64url)"
}

# A JWT signed with HS256: not the unsigned form GP Connect requires (JWT_MALFORMED).
gpc_signed_token() {
  printf '%s.%s.c2ln' "$(printf '{"alg":"HS256","typ":"JWT"}' | gpc_b64url)" "$(printf '{"sub":"1"}' | gpc_b64url)"
}

# gpc_ssp_headers ARRAY_NAME INTERACTION: fills the named array with curl -H arguments for the
# three fixed SSP headers and Ssp-InteractionID = $GPC_IID:INTERACTION.
gpc_ssp_headers() {
  local -n _out=$1
  _out=(-H "Ssp-TraceID: $GPC_TRACE" -H "Ssp-From: $GPC_ASID_FROM" -H "Ssp-To: $GPC_ASID_TO"
        -H "Ssp-InteractionID: $GPC_IID:$2")
}

# gpc_free_port: a TCP port nothing listens on at 127.0.0.1 (ss from iproute2), from a random
# start; bounded.
gpc_free_port() {
  local port tries
  for tries in $(seq 200); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if ! ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then
      echo "$port"; return 0
    fi
  done
  echo "gpc_free_port: no free port found" >&2
  return 1
}

# Logs: what one request adds to a log, and negative checks that cannot pass on a missing file.
# gpc_log_size FILE: FILE's size in bytes now (0 when it does not exist yet).
gpc_log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }
# gpc_log_wait FILE SIZE PATTERN: waits (bounded, 5 s) until what was appended to FILE after it
# was SIZE bytes long has a line matching the extended regular expression PATTERN; prints that
# line and returns 0, else prints what was appended and returns 1.
gpc_log_wait() {
  local file=$1 size=$2 pattern=$3 line
  for _ in $(seq 50); do
    line=$(tail -c +$((size + 1)) "$file" 2>/dev/null | grep -E -m 1 -- "$pattern" || true)
    [ -n "$line" ] && { printf '%s\n' "$line"; return 0; }
    sleep 0.1
  done
  tail -c +$((size + 1)) "$file" 2>/dev/null | tail -n 3
  return 1
}
# gpc_lacks FILE FIXED_STRING...: FILE exists, is not empty, and holds none of the strings (a
# negative grep on a missing or empty log would pass whatever the server did).
gpc_lacks() {
  local file=$1 s; shift
  [ -s "$file" ] || { echo "$file is missing or empty"; return 1; }
  for s in "$@"; do
    if grep -qF -- "$s" "$file"; then echo "$file holds '$s'"; return 1; fi
  done
}

# Bookkeeping: gpc_pass NAME / gpc_fail NAME DETAIL; gpc_summary prints "N passed, N failed" and
# returns non-zero on any failure.
GPC_PASSED=0
GPC_FAILED=0
gpc_pass() { GPC_PASSED=$((GPC_PASSED + 1)); printf 'ok    %s\n' "$1"; }
gpc_fail() { GPC_FAILED=$((GPC_FAILED + 1)); printf 'FAIL  %s: %s\n' "$1" "$2"; }
gpc_summary() {
  echo "$GPC_PASSED passed, $GPC_FAILED failed"
  [ "$GPC_FAILED" -eq 0 ]
}
