#!/usr/bin/env bash
# `make demo`: a throw-away Spine-like PKI, the demo provider on 127.0.0.1, and a dozen
# representative requests through curl, shown as a table with the audit lines. Exits non-zero
# when any row's HTTP status is not the expected one, so `make test` runs it as an end-to-end test.
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

printf '\n%-34s %-6s %-6s %-22s %s\n' "request" "expect" "status" "Spine code" "reason"
printf '%s\n' "----------------------------------------------------------------------------------------------------"
failures=0
# row NAME EXPECTED_STATUS CLIENT_CERT -- CURL_ARGS...   (CLIENT_CERT "none" = no certificate)
row() {
  local name=$1 expect=$2 cert=$3; shift 4
  local certargs=()
  [ "$cert" != none ] && certargs=(--cert "$pki/$cert.pem" --key "$pki/$cert.key")
  local status
  status=$(curl -sS -o "$work/body" -w '%{http_code}' --max-time 10 --cacert "$pki/root-ca.pem" \
    "${certargs[@]}" "$@" 2>"$work/curl.err") || true
  local code reason
  code=$(grep -o '"code":"[A-Z_]*"' "$work/body" 2>/dev/null | tail -1 | cut -d'"' -f4 || true)
  if [ "$status" = 000 ]; then
    reason="TLS refused: $(grep -o 'alert [a-z ]*' "$work/curl.err" | head -1 || true)"
  elif [ "$status" = 200 ]; then
    reason="allowed"
  else
    reason=$(grep -o '"diagnostics":"[^"]*' "$work/body" | cut -d'"' -f4 | cut -c1-70 || true)
  fi
  local mark=""
  [ "$status" = "$expect" ] || { mark="  <-- expected $expect"; failures=$((failures + 1)); }
  printf '%-34s %-6s %-6s %-22s %s%s\n' "$name" "$expect" "$status" "${code:--}" "$reason" "$mark"
  rm -f "$work/body"
}
url=https://localhost:$port$root
H=(-H "Ssp-TraceID: 09a01679-2564-0fb4-5129-aecc81ea2706" -H "Ssp-From: $ASID_FROM" -H "Ssp-To: $ASID_TO")
READ=(-H "Ssp-InteractionID: $IID:fhir:rest:read:patient-1")

row "valid read patient" 200 client-valid -- "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "valid metadata (CN-only cert)" 200 client-cn-only -- "${H[@]}" -H "Ssp-InteractionID: $IID:fhir:rest:read:metadata-1" \
  -H "Authorization: Bearer $(token 300 'organization/*.read' Device)" "$url/metadata"
row "no client certificate" 000 none -- "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "revoked client certificate" 000 client-revoked -- "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "TLS 1.1 client" 000 client-valid -- --tlsv1.1 --tls-max 1.1 --ciphers 'DEFAULT@SECLEVEL=0' "${H[@]}" "${READ[@]}" \
  -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "missing Ssp-TraceID" 400 client-valid -- -H "Ssp-From: $ASID_FROM" -H "Ssp-To: $ASID_TO" "${READ[@]}" \
  -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "wrong Ssp-To" 400 client-valid -- -H "Ssp-TraceID: 09a01679-2564-0fb4-5129-aecc81ea2706" -H "Ssp-From: $ASID_FROM" \
  -H "Ssp-To: 123456789123" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "interaction does not fit the path" 400 client-valid -- "${H[@]}" -H "Ssp-InteractionID: $IID:fhir:rest:read:metadata-1" \
  -H "Authorization: Bearer $GOOD" "$url/Patient/2"
row "malformed JWT (signed, alg HS256)" 400 client-valid -- "${H[@]}" "${READ[@]}" \
  -H "Authorization: Bearer $(printf '{"alg":"HS256","typ":"JWT"}' | b64url).$(printf '{"sub":"1"}' | b64url).c2ln" "$url/Patient/2"
row "expired JWT" 400 client-valid -- "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $(token -60 'patient/*.read' Device)" "$url/Patient/2"
row "invalid Device claim" 422 client-valid -- "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $(token 300 'patient/*.read' Devise)" "$url/Patient/2"
row "wrong scope (write for a read)" 400 client-valid -- "${H[@]}" "${READ[@]}" -H "Authorization: Bearer $(token 300 'patient/*.write' Device)" "$url/Patient/2"
row "search with query (not logged)" 200 client-valid -- "${H[@]}" -H "Ssp-InteractionID: $IID:fhir:rest:search:patient-1" \
  -H "Authorization: Bearer $GOOD" "$url/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C9000000009"

echo
echo "== response headers on a refusal"
curl -sS -o /dev/null -D - --cacert "$pki/root-ca.pem" --cert "$pki/client-valid.pem" --key "$pki/client-valid.key" \
  "$url/Patient/2" | grep -iE '^(HTTP|cache-control|strict-transport-security|content-type)' | tr -d '\r'
echo
echo "== audit log ($work/audit.log)"
cat "$work/audit.log"
if grep -q '9000000009' "$work/audit.log"; then
  echo "demo: the audit log holds a query-string value" >&2
  failures=$((failures + 1))
fi
echo
if [ "$failures" -ne 0 ]; then
  echo "demo: $failures row(s) did not get the expected status" >&2
  exit 1
fi
echo "demo: every request got the expected status"
