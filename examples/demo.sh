#!/usr/bin/env bash
# `make demo`: a throw-away Spine-like PKI, the demo provider on 127.0.0.1, and a dozen
# representative requests through curl, shown as a table with the audit lines. Each row checks the
# HTTP status; for a TLS refusal the alert curl reports; for a refusal the reason the provider
# logged, the Spine code and the diagnostics of the OperationOutcome; and on every HTTP response
# Cache-Control: no-store and Strict-Transport-Security. Exits non-zero when any check fails, so
# `make test` runs it as an end-to-end test.
#
# Usage: examples/demo.sh PROVIDER_BINARY   (make demo builds it and calls this)
set -euo pipefail

provider=${1:?usage: demo.sh PROVIDER_BINARY}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gpcguard-demo.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# The whole demo must end by itself well within a minute.
( sleep 90; echo "demo: timed out" >&2; kill -TERM $$ ) 2>/dev/null & watchdog=$!
trap 'kill $watchdog 2>/dev/null; cleanup' EXIT

echo "== making a throw-away Spine-like PKI (RootCA -> SubCA -> SSP client certificates)"
# The PKI, the JWT builders and the SSP constants are shared with the host-module tests.
. "$here/hosts/test-helpers.sh"
pki=$work/pki
root=/A20047/STU3/1/gpconnect
gpc_make_pki "$pki" "$root"

echo "== starting the demo provider"
"$provider" "$pki/provider.toml" 0 "$work/audit.log" > "$work/provider.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  grep -q '^READY' "$work/provider.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/provider.out"; exit 1; }
  sleep 0.1
done
port=$(sed -n 's/^READY port=//p' "$work/provider.out")
[ -n "$port" ] || { echo "demo: the provider did not start"; cat "$work/provider.out"; exit 1; }

b64url() { gpc_b64url; }
token() { gpc_token "$@"; }
ASID_TO=$GPC_ASID_TO
ASID_FROM=$GPC_ASID_FROM
IID=$GPC_IID
GOOD=$(token 300 'patient/*.read' Device)

printf '\n%-34s %-6s %-6s %-22s %-24s %s\n' "request" "expect" "status" "Spine code" "reason (provider log)" "detail"
printf '%s\n' "--------------------------------------------------------------------------------------------------------------------"
failures=0
# The provider prints one line per connection: "STATUS REASON message" for a judged request,
# "TLS-REFUSED REASON message" for a refused handshake (REASON "-" when OpenSSL refused before the
# guard's verification ran). provider_line N waits for line N (READY is line 1) and prints it.
provider_line() {
  for _ in $(seq 100); do
    [ "$(wc -l < "$work/provider.out")" -ge "$1" ] && { sed -n "${1}p" "$work/provider.out"; return 0; }
    sleep 0.1
  done
  echo "(no line $1 from the provider)"
}
connections=1
# The first value of response header $1 ("" when absent; never fails, under set -e and pipefail).
header() { { grep -i "^$1:" "$work/headers" 2>/dev/null || true; } | head -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
# row NAME STATUS SPINE_CODE REASON DETAIL CLIENT_CERT -- CURL_ARGS...   (CLIENT_CERT "none" = no certificate)
#   STATUS 000 = the TLS handshake is refused: DETAIL is the alert curl reports, REASON the guard's
#   (from its handshake hook), SPINE_CODE "-". Otherwise DETAIL is in the OperationOutcome's
#   diagnostics (or, when allowed, the body), and every response carries Cache-Control: no-store
#   and Strict-Transport-Security.
row() {
  local name=$1 expect=$2 want_code=$3 want_reason=$4 want_detail=$5 cert=$6; shift 7
  local certargs=()
  [ "$cert" != none ] && certargs=(--cert "$pki/$cert.pem" --key "$pki/$cert.key")
  local status
  rm -f "$work/body" "$work/headers"
  status=$(curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' --max-time 10 --cacert "$pki/root-ca.pem" \
    "${certargs[@]}" "$@" 2>"$work/curl.err") || true
  connections=$((connections + 1))
  local line code reason problems=()
  line=$(provider_line "$connections")
  reason=$(cut -d' ' -f2 <<< "$line")
  code=$(grep -o '"code":"[A-Z_]*"' "$work/body" 2>/dev/null | tail -1 | cut -d'"' -f4 || true)
  [ "$status" = "$expect" ] || problems+=("status $status, expected $expect")
  [ "$reason" = "$want_reason" ] || problems+=("provider logged '$line', expected reason $want_reason")
  if [ "$expect" = 000 ]; then
    case $line in TLS-REFUSED\ *) ;; *) problems+=("the provider did not refuse the handshake: '$line'") ;; esac
    grep -qiF -- "$want_detail" "$work/curl.err" || problems+=("curl did not report '$want_detail': $(tr '\n' ' ' < "$work/curl.err")")
  else
    [ "${code:--}" = "$want_code" ] || problems+=("Spine code ${code:--}, expected $want_code")
    if [ "$expect" = 200 ]; then
      grep -qF -- "$want_detail" "$work/body" 2>/dev/null || problems+=("the body lacks '$want_detail'")
    else
      grep -qF -- "\"diagnostics\":\"$want_detail" "$work/body" 2>/dev/null \
        || problems+=("diagnostics do not start '$want_detail': $(grep -o '"diagnostics":"[^"]*' "$work/body" 2>/dev/null || true)")
    fi
    [ "$(header Cache-Control)" = no-store ] || problems+=("Cache-Control is '$(header Cache-Control)'")
    [ "$(header Strict-Transport-Security)" = max-age=31536000 ] \
      || problems+=("Strict-Transport-Security is '$(header Strict-Transport-Security)'")
  fi
  local shown
  if [ "$expect" = 000 ]; then shown="TLS refused: $(grep -o 'alert [a-z ]*' "$work/curl.err" | head -1 || true)"
  elif [ "$expect" = 200 ]; then shown="allowed"
  else shown=$(grep -o '"diagnostics":"[^"]*' "$work/body" | cut -d'"' -f4 | cut -c1-60 || true); fi
  printf '%-34s %-6s %-6s %-22s %-24s %s\n' "$name" "$expect" "$status" "${code:--}" "${reason:--}" "$shown"
  local p
  for p in "${problems[@]}"; do
    printf '    <-- %s\n' "$p"
    failures=$((failures + 1))
  done
}
url=https://localhost:$port$root
H=(-H "Ssp-TraceID: 09a01679-2564-0fb4-5129-aecc81ea2706" -H "Ssp-From: $ASID_FROM" -H "Ssp-To: $ASID_TO")
READ=(-H "Ssp-InteractionID: $IID:fhir:rest:read:patient-1")

row "valid read patient" 200 - ALLOWED '"resourceType":"Patient"' client-valid -- \
  "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "valid metadata (CN-only cert)" 200 - ALLOWED '"resourceType":"CapabilityStatement"' client-cn-only -- \
  "${H[@]}" -H "Ssp-InteractionID: $IID:fhir:rest:read:metadata-1" \
  -H "Authorization: Bearer $(token 300 'organization/*.read' Device)" "$url/metadata"
row "no client certificate" 000 - - "alert handshake failure" none -- \
  "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "revoked client certificate" 000 - CERT_REVOKED "alert certificate revoked" client-revoked -- \
  "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "TLS 1.1 client" 000 - - "alert protocol version" client-valid -- \
  --tlsv1.1 --tls-max 1.1 --ciphers 'DEFAULT@SECLEVEL=0' "${H[@]}" "${READ[@]}" \
  -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "missing Ssp-TraceID" 400 BAD_REQUEST HEADER_MISSING "the Ssp-TraceID header is missing" client-valid -- \
  -H "Ssp-From: $ASID_FROM" -H "Ssp-To: $ASID_TO" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "wrong Ssp-To" 400 BAD_REQUEST WRONG_RECIPIENT "Ssp-To 123456789123 is not this provider" client-valid -- \
  -H "Ssp-TraceID: 09a01679-2564-0fb4-5129-aecc81ea2706" -H "Ssp-From: $ASID_FROM" \
  -H "Ssp-To: 123456789123" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "interaction does not fit the path" 400 BAD_REQUEST INTERACTION_MISMATCH \
  "interaction urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1 is GET" client-valid -- \
  "${H[@]}" -H "Ssp-InteractionID: $IID:fhir:rest:read:metadata-1" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "malformed JWT (signed, alg HS256)" 400 BAD_REQUEST JWT_MALFORMED "the bearer token is signed" client-valid -- \
  "${H[@]}" "${READ[@]}" \
  -H "Authorization: Bearer $(printf '{"alg":"HS256","typ":"JWT"}' | b64url).$(printf '{"sub":"1"}' | b64url).c2ln" "$url/Patient/2"
row "expired JWT" 400 BAD_REQUEST JWT_EXPIRED "the JWT expired" client-valid -- \
  "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $(token -60 'patient/*.read' Device)" "$url/Patient/2"
row "invalid Device claim" 422 INVALID_RESOURCE JWT_INVALID_RESOURCE \
  "requesting_device.resourceType is not Device" client-valid -- \
  "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $(token 300 'patient/*.read' Devise)" "$url/Patient/2"
row "wrong scope (write for a read)" 400 BAD_REQUEST SCOPE_DENIED \
  "requested_scope patient/*.write does not permit interaction" client-valid -- \
  "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $(token 300 'patient/*.write' Device)" "$url/Patient/2"
row "search with query (not logged)" 200 - ALLOWED '"resourceType":"Patient"' client-valid -- \
  "${H[@]}" -H "Ssp-InteractionID: $IID:fhir:rest:search:patient-1" \
  -H "Authorization: Bearer $GOOD" "$url/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C9000000009"

echo
echo "== response headers on a refusal (no SSP headers at all)"
row "no SSP headers" 400 BAD_REQUEST HEADER_MISSING "the Ssp-TraceID header is missing" client-valid -- "$url/Patient/2"
grep -iE '^(HTTP|cache-control|strict-transport-security|content-type)' "$work/headers" | tr -d '\r'
echo
echo "== audit log ($work/audit.log)"
cat "$work/audit.log"
if grep -q '9000000009' "$work/audit.log"; then
  echo "demo: the audit log holds a query-string value" >&2
  failures=$((failures + 1))
fi
echo
if [ "$failures" -ne 0 ]; then
  echo "demo: $failures check(s) failed (marked <-- above)" >&2
  exit 1
fi
echo "demo: every request got the expected status, reason, Spine code or TLS alert, and response headers"
