#!/usr/bin/env bash
# End-to-end test of mod_gpcguard in Debian's apache2: a throw-away Spine-like PKI, one httpd
# (its own ServerRoot, PidFile and logs under a temporary folder; no system service touched)
# with a guarded TLS virtual host on 127.0.0.1 proxying to a plain backend virtual host that
# serves a static FHIR resource, driven with curl and openssl s_client.
#
# Usage: hosts/apache/test.sh MODULE_SO   (make test-apache builds it and calls this)
#        hosts/apache/test.sh NAME.load   the module's load file as a2enmod enables it
#                                         (/etc/apache2/mods-enabled/gpcguard.load, and its .conf)
# Prints one line per assertion, then "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

module=$(realpath -s "${1:?usage: test.sh path/to/mod_gpcguard.so|gpcguard.load}")
case $module in
  *.load) load="Include $module"$'\n'"IncludeOptional ${module%.load}.conf" ;;
  *) load="LoadModule gpcguard_module $(readlink -f "$module")" ;;
esac
here=$(cd "$(dirname "$0")/../.." && pwd)
APACHE=${APACHE:-/usr/sbin/apache2}
MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}
work=$(mktemp -d /tmp/gpcguard-apache.XXXXXX)
conf=$work/httpd.conf

stop_server() {
  local pid
  pid=$(cat "$work/run/httpd.pid" 2>/dev/null) || return 0
  "$APACHE" -f "$conf" -k stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  stop_server
  if [ "${KEEP_WORK:-}" = 1 ]; then echo "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
# The whole run must end by itself.
( sleep 240; echo "test-apache: timed out" >&2; kill -TERM $$ ) 2>/dev/null & watchdog=$!
trap 'kill $watchdog 2>/dev/null; cleanup' EXIT

passed=0 failed=0
pass() { passed=$((passed + 1)); printf '  ok    %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf '  FAIL  %s\n' "$1"; [ -n "${2:-}" ] && printf '        %s\n' "$2"; return 0; }
expect() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }

# A free TCP port on 127.0.0.1 (nothing answers a connect), from a bounded number of tries.
free_port() {
  local p
  for _ in $(seq 50); do
    p=$(( (RANDOM % 20000) + 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "test-apache: no free port" >&2; return 1
}

echo "== PKI, configuration"
# The PKI and the JWT builders are shared with the nginx test and the demo.
. "$here/hosts/test-helpers.sh"
pki=$work/pki
root=/A20047/STU3/1/gpconnect
gpc_make_pki "$pki" "$root"
mkdir -p "$work/run" "$work/backend"
printf '%s\n' '{"resourceType":"Patient","id":"2","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]}' \
  > "$work/backend/patient.json"
# The children run as nobody: they read the backend file, nothing else of the work folder.
chmod 755 "$work" "$work/backend"; chmod 644 "$work/backend/patient.json"

tls_port=$(free_port)
backend_port=$(free_port)
while [ "$backend_port" = "$tls_port" ]; do backend_port=$(free_port); done

# write_conf GPCGUARD_CONFIG_FILE: the whole httpd.conf (self-contained: no /etc/apache2).
write_conf() {
  cat > "$conf" <<CONF
ServerRoot "$work"
DefaultRuntimeDir "$work/run"
PidFile "$work/run/httpd.pid"
ErrorLog "$work/error.log"
LogLevel warn gpcguard:info ssl:warn
ServerName localhost
Listen 127.0.0.1:$tls_port
Listen 127.0.0.1:$backend_port
LoadModule mpm_event_module $MODULES/mod_mpm_event.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule alias_module $MODULES/mod_alias.so
LoadModule headers_module $MODULES/mod_headers.so
LoadModule proxy_module $MODULES/mod_proxy.so
LoadModule proxy_http_module $MODULES/mod_proxy_http.so
LoadModule socache_shmcb_module $MODULES/mod_socache_shmcb.so
LoadModule ssl_module $MODULES/mod_ssl.so
$load
User nobody
Group nogroup
StartServers 2
ServerLimit 4
ThreadsPerChild 8
MaxRequestWorkers 32
KeepAliveTimeout 2
CustomLog "$work/access.log" "%h %>s %r"
SSLSessionCache "shmcb:$work/run/ssl_scache(512000)"
# Later sections add files here (none at first).
IncludeOptional "$work/extra-*.conf"

# The backend: a static FHIR resource for any path, with a cache header the guard must replace.
<VirtualHost 127.0.0.1:$backend_port>
  ServerName backend
  AliasMatch "^/" "$work/backend/patient.json"
  <Directory "$work/backend">
    Require all granted
    ForceType application/fhir+json
  </Directory>
  Header set Cache-Control "public, max-age=3600"
  # A guard switched on in directory context, on a host without TLS: fails closed (496).
  <Location "/guarded">
    GpcGuard On
    GpcGuardConfig "$1"
    GpcGuardAuditLog "$work/audit-location.log"
  </Location>
</VirtualHost>

# The GP Connect provider. mod_ssl's own TLS settings are deliberately weak: the guard's policy
# (TLS 1.2 only, Spine ciphers, mandatory Spine client certificate) must win over them.
<VirtualHost 127.0.0.1:$tls_port>
  ServerName localhost
  SSLEngine on
  SSLCertificateFile "$pki/server-chain.pem"
  SSLCertificateKeyFile "$pki/server.key"
  SSLProtocol all
  SSLCipherSuite ALL:@SECLEVEL=0
  SSLVerifyClient none
  GpcGuard On
  GpcGuardConfig "$1"
  GpcGuardAuditLog "$work/audit.log"
  Header always set Cache-Control "public"
  ProxyPass "/" "http://127.0.0.1:$backend_port/"
  <Location "$root/Patient/403">
    Require all denied
  </Location>
</VirtualHost>
CONF
}

generations() { grep -c 'resuming normal operations' "$work/error.log" 2>/dev/null || true; }
# wait_ready N: until the error log shows N "resuming normal operations" and the port answers.
wait_ready() {
  for _ in $(seq 150); do
    if [ "$(generations)" -ge "$1" ] && (exec 3<>"/dev/tcp/127.0.0.1/$tls_port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

echo "== configuration test reports a bad gpcguard file with the key and the file"
printf 'provider_asid = "918999198993"\nssp_fqdn = ["x"]\ntrust_anchor = ["root-ca.pem"]\ncrl = ["root-ca.crl"]\nno_such_key = 1\n' > "$pki/bad-key.toml"
write_conf "$pki/bad-key.toml"
if out=$("$APACHE" -f "$conf" -t 2>&1); then
  fail "configtest fails on an unknown gpcguard key" "$out"
else
  expect "configtest fails on an unknown gpcguard key, naming key and file" \
    grep -q "no_such_key.*bad-key.toml\|bad-key.toml.*no_such_key" <<<"$out"
fi
sed -e 's/^trust_anchor.*/trust_anchor = ["missing-anchor.pem"]/' "$pki/provider.toml" > "$pki/bad-file.toml"
write_conf "$pki/bad-file.toml"
if out=$("$APACHE" -f "$conf" -t 2>&1); then
  fail "configtest fails on an unreadable trust anchor" "$out"
else
  expect "configtest fails on an unreadable trust anchor, naming key and file" \
    grep -q "trust_anchor.*missing-anchor.pem" <<<"$out"
fi
write_conf "$pki/provider.toml"
expect "configtest passes with the test PKI" "$APACHE" -f "$conf" -t

echo "== starting httpd on 127.0.0.1:$tls_port (backend :$backend_port)"
"$APACHE" -f "$conf" -k start
if ! wait_ready 1; then
  echo "test-apache: httpd did not start"; cat "$work/error.log" 2>/dev/null; exit 1
fi
parent_pid=$(cat "$work/run/httpd.pid")

b64url() { gpc_b64url; }
token() { gpc_token "$@"; }
ASID_TO=$GPC_ASID_TO
ASID_FROM=$GPC_ASID_FROM
IID=$GPC_IID
GOOD=$(token 300 'patient/*.read' Device)
TRACE=09a01679-2564-0fb4-5129-aecc81ea2706
url=https://127.0.0.1:$tls_port$root
SSP=(-H "Ssp-TraceID: $TRACE" -H "Ssp-From: $ASID_FROM" -H "Ssp-To: $ASID_TO")
READ=(-H "Ssp-InteractionID: $IID:fhir:rest:read:patient-1")
AUTH=(-H "Authorization: Bearer $GOOD")

# fetch CERT CURL_ARGS...: sets $status, $headers (lower-cased names) and $body. CERT "none" = no
# client certificate.
fetch() {
  local cert=$1; shift
  local certargs=()
  [ "$cert" != none ] && certargs=(--cert "$pki/$cert.pem" --key "$pki/$cert.key")
  status=$(curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' --max-time 10 \
    --cacert "$pki/root-ca.pem" "${certargs[@]}" "$@" 2>"$work/curl.err") || true
  headers=$(tr -d '\r' < "$work/headers" 2>/dev/null | tr 'A-Z' 'a-z' || true)
  body=$(cat "$work/body" 2>/dev/null || true)
  rm -f "$work/body" "$work/headers"
}
header_is() { grep -qx "$1: $2" <<<"$headers"; }
header_count() { grep -c "^$1:" <<<"$headers" || true; }

# Every response of the guarded host: exactly one Cache-Control, no-store; HSTS present.
check_response_headers() {
  local name=$1
  if [ "$(header_count cache-control)" = 1 ] && header_is cache-control no-store; then
    pass "$name: Cache-Control: no-store (only)"
  else
    fail "$name: Cache-Control: no-store (only)" "$(grep '^cache-control' <<<"$headers" | tr '\n' ' ')"
  fi
  expect "$name: Strict-Transport-Security" grep -q '^strict-transport-security: max-age=' <<<"$headers"
}

# refused NAME STATUS SPINE_CODE REASON CERT CURL_ARGS...: the status, the FHIR content type, an
# OperationOutcome with the Spine code and diagnostics, the response headers, and the error-log
# line of this refusal naming REASON (so refusals with the same status and code are told apart).
refused() {
  local name=$1 want=$2 code=$3 reason=$4 cert=$5; shift 5
  local mark line
  mark=$(gpc_log_size "$work/error.log")
  fetch "$cert" "$@"
  if [ "$status" = "$want" ]; then pass "$name: status $want"; else fail "$name: status $want" "got $status: $body"; fi
  expect "$name: Content-Type application/fhir+json" grep -q '^content-type: application/fhir+json' <<<"$headers"
  if grep -q '"resourceType":"OperationOutcome"' <<<"$body" && grep -q "\"code\":\"$code\"" <<<"$body" \
     && grep -q '"diagnostics":"[^"]' <<<"$body"; then
    pass "$name: OperationOutcome $code with diagnostics"
  else
    fail "$name: OperationOutcome $code with diagnostics" "$body"
  fi
  if line=$(gpc_log_wait "$work/error.log" "$mark" "gpcguard: [a-z ]+ refused $want $reason $code: "); then
    pass "$name: error log names $reason"
  else
    fail "$name: error log names $reason" "$line"
  fi
  check_response_headers "$name"
}
# tls_refused NAME CERT ALERT: the handshake itself fails (curl gets no HTTP status at all) with
# the TLS alert ALERT, as openssl s_client reports the alert the server sent (curl words some
# alerts only as "verification failed").
tls_refused() {
  local name=$1 cert=$2 alert=$3 out
  fetch "$cert" "${SSP[@]}" "${READ[@]}" "${AUTH[@]}" "$url/Patient/2"
  local certargs=()
  [ "$cert" != none ] && certargs=(-cert "$pki/$cert.pem" -key "$pki/$cert.key")
  out=$(timeout 10 openssl s_client -connect "127.0.0.1:$tls_port" -CAfile "$pki/root-ca.pem" -tls1_2 \
    "${certargs[@]}" </dev/null 2>&1 || true)
  if [ "$status" = 000 ] && grep -q "alert $alert" <<<"$out"; then
    pass "$name: refused in the TLS handshake (alert $alert)"
  else
    fail "$name: refused in the TLS handshake with alert $alert" \
      "curl got $status; s_client: $(grep -o 'alert [a-z ]*' <<<"$out" | head -1 || true)"
  fi
}
echo "== allowed"
fetch client-valid "${SSP[@]}" "${READ[@]}" "${AUTH[@]}" "$url/Patient/2"
if [ "$status" = 200 ] && grep -q '"resourceType":"Patient"' <<<"$body"; then pass "valid read: 200 with the backend's resource"; else fail "valid read: 200 with the backend's resource" "$status $body"; fi
check_response_headers "valid read"
fetch client-cn-only "${SSP[@]}" -H "Ssp-InteractionID: $IID:fhir:rest:read:metadata-1" \
  -H "Authorization: Bearer $(token 300 'organization/*.read' Device)" "$url/metadata"
expect "valid metadata with a CN-only certificate: 200" test "$status" = 200
QUERY_VALUE=9000000009
fetch client-valid "${SSP[@]}" -H "Ssp-InteractionID: $IID:fhir:rest:search:patient-1" "${AUTH[@]}" \
  "$url/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C$QUERY_VALUE"
expect "search with a query string: 200" test "$status" = 200
fetch client-valid "${SSP[@]}" "${READ[@]}" "${AUTH[@]}" "$url/Patient/403"
expect "allowed by the guard, denied by httpd: 403" test "$status" = 403
check_response_headers "httpd's own 403"

echo "== a guard in <Location> on a host without TLS"
fetch none "${SSP[@]}" "${READ[@]}" "${AUTH[@]}" "http://127.0.0.1:$backend_port/guarded$root/Patient/2"
if [ "$status" = 496 ] && grep -q "\"code\":\"BAD_REQUEST\"" <<<"$body"; then pass "<Location> guard without TLS: 496 with an OperationOutcome"; else fail "<Location> guard without TLS: 496" "$status $body"; fi
check_response_headers "<Location> guard without TLS"
expect "<Location> guard: its own audit log has the refusal" grep -q "\"reason\":\"CERT_MISSING\",\"status\":496" "$work/audit-location.log"
fetch none "http://127.0.0.1:$backend_port/elsewhere"
expect "outside the <Location>: served unguarded (200, backend headers)" bash -c "[ $status = 200 ] && grep -q \"^cache-control: public\" <<<\"\$1\"" _ "$headers"

echo "== client certificates"
tls_refused "no client certificate" none "handshake failure"
tls_refused "expired client certificate" client-expired "certificate expired"
tls_refused "revoked client certificate" client-revoked "certificate revoked"
tls_refused "wrong-CA client certificate" client-unrelated "unknown ca"
tls_refused "wrong-FQDN client certificate" client-wrong-fqdn "bad certificate"
tls_refused "SAN of another host, CN of the SSP" client-wrong-san "bad certificate"

echo "== TLS protocol (openssl s_client)"
s_client() { timeout 10 openssl s_client -connect "127.0.0.1:$tls_port" -CAfile "$pki/root-ca.pem" "$@" </dev/null 2>&1 || true; }
out=$(s_client -tls1_2 -cert "$pki/client-valid.pem" -key "$pki/client-valid.key")
if grep -q 'Protocol *: TLSv1.2' <<<"$out" && grep -qE 'Cipher *: (ECDHE|DHE)-[A-Z0-9-]*(GCM|AES256)' <<<"$out"; then
  pass "TLS 1.2 with a Spine client certificate: a policy cipher ($(grep -oE 'Cipher *: [A-Z0-9-]+' <<<"$out" | head -1))"
else
  fail "TLS 1.2 with a Spine client certificate" "$(grep -E 'Protocol|Cipher|alert|error' <<<"$out" | head -5)"
fi
out=$(s_client -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' -cert "$pki/client-valid.pem" -key "$pki/client-valid.key")
if grep -q "Cipher is (NONE)" <<<"$out" && grep -q "alert protocol version" <<<"$out"; then
  pass "TLS 1.1 refused"
else
  fail "TLS 1.1 refused" "$(head -c 400 <<<"$out")"
fi
out=$(s_client -tls1_3 -cert "$pki/client-valid.pem" -key "$pki/client-valid.key")
if grep -q "Cipher is (NONE)" <<<"$out" && grep -q "alert protocol version" <<<"$out"; then pass "TLS 1.3 refused"; else fail "TLS 1.3 refused" "$(head -c 400 <<<"$out")"; fi
out=$(s_client -tls1_2 -cipher 'AES128-SHA' -cert "$pki/client-valid.pem" -key "$pki/client-valid.key")
if grep -q 'Cipher is (NONE)\|handshake failure\|alert' <<<"$out" && ! grep -q 'Cipher *: AES128-SHA' <<<"$out"; then
  pass "a cipher outside the Spine list refused (SSLCipherSuite ALL did not win)"
else
  fail "a cipher outside the Spine list refused" "$(grep -E 'Cipher|alert' <<<"$out" | head -3)"
fi

echo "== request refusals"
refused "missing Ssp-TraceID" 400 BAD_REQUEST HEADER_MISSING client-valid -H "Ssp-From: $ASID_FROM" -H "Ssp-To: $ASID_TO" "${READ[@]}" "${AUTH[@]}" "$url/Patient/2"
refused "wrong Ssp-To" 400 BAD_REQUEST WRONG_RECIPIENT client-valid -H "Ssp-TraceID: $TRACE" -H "Ssp-From: $ASID_FROM" -H "Ssp-To: 123456789123" "${READ[@]}" "${AUTH[@]}" "$url/Patient/2"
refused "repeated Ssp-To (httpd joins the values)" 400 BAD_REQUEST HEADER_INVALID client-valid "${SSP[@]}" -H "Ssp-To: $ASID_TO" "${READ[@]}" "${AUTH[@]}" "$url/Patient/2"
refused "mismatched interaction" 400 BAD_REQUEST INTERACTION_MISMATCH client-valid "${SSP[@]}" -H "Ssp-InteractionID: $IID:fhir:rest:read:metadata-1" "${AUTH[@]}" "$url/Patient/2"
refused "malformed JWT (signed, HS256)" 400 BAD_REQUEST JWT_MALFORMED client-valid "${SSP[@]}" "${READ[@]}" \
  -H "Authorization: Bearer $(printf '{"alg":"HS256","typ":"JWT"}' | b64url).$(printf '{"sub":"1"}' | b64url).c2ln" "$url/Patient/2"
refused "invalid FHIR claim (Devise)" 422 INVALID_RESOURCE JWT_INVALID_RESOURCE client-valid "${SSP[@]}" "${READ[@]}" \
  -H "Authorization: Bearer $(token 300 'patient/*.read' Devise)" "$url/Patient/2"
refused "wrong scope (write for a read)" 400 BAD_REQUEST SCOPE_DENIED client-valid "${SSP[@]}" "${READ[@]}" \
  -H "Authorization: Bearer $(token 300 'patient/*.write' Device)" "$url/Patient/2"
refused "expired JWT" 400 BAD_REQUEST JWT_EXPIRED client-valid "${SSP[@]}" "${READ[@]}" \
  -H "Authorization: Bearer $(token -60 'patient/*.read' Device)" "$url/Patient/2"
refused "no Authorization" 400 BAD_REQUEST AUTHORIZATION_MISSING client-valid "${SSP[@]}" "${READ[@]}" "$url/Patient/2"

echo "== logs"
sleep 0.2
expect "audit log: a provenance line for the allowed read" \
  grep -q "\"verdict\":\"allowed\".*\"trace_id\":\"$TRACE\".*\"from\":\"$ASID_FROM\".*\"to\":\"$ASID_TO\".*\"interaction\":\"$IID:fhir:rest:read:patient-1\"" "$work/audit.log"
expect "audit log: the refusal of the wrong scope, with its reason" grep -q '"verdict":"refused","reason":"SCOPE_DENIED","status":400' "$work/audit.log"
expect "audit log: the search is logged by path" grep -q "\"path\":\"$root/Patient\"" "$work/audit.log"
expect "audit log: no query-string value" gpc_lacks "$work/audit.log" "$QUERY_VALUE"
expect "audit log: no token" gpc_lacks "$work/audit.log" "${GOOD:0:40}"
expect "audit log: one JSON line per checked request" bash -c "[ -s '$work/audit.log' ] && ! grep -v '^{\"time\":.*}\$' '$work/audit.log'"
expect "error log: the verdict message of a refusal" grep -q 'gpcguard: request refused 422 JWT_INVALID_RESOURCE INVALID_RESOURCE' "$work/error.log"
expect "error log: no query-string value, no token" gpc_lacks "$work/error.log" "$QUERY_VALUE" "${GOOD:0:40}"

echo "== CRL reload with apachectl graceful (no restart)"
fetch client-later-revoked "${SSP[@]}" "${READ[@]}" "${AUTH[@]}" "$url/Patient/2"
expect "before the new CRL: client-later-revoked allowed (200)" test "$status" = 200
cp "$pki/subca-revoked-later.crl" "$pki/sub-ca.crl"
gens=$(generations)
expect "configtest before the reload (as apachectl graceful does)" "$APACHE" -f "$conf" -t
"$APACHE" -f "$conf" -k graceful
if wait_ready $((gens + 1)); then pass "graceful reload done"; else fail "graceful reload done" "$(tail -5 "$work/error.log")"; fi
expect "the parent process is the same (no restart)" test "$(cat "$work/run/httpd.pid")" = "$parent_pid"
tls_refused "after the new CRL: client-later-revoked" client-later-revoked "certificate revoked"
fetch client-valid "${SSP[@]}" "${READ[@]}" "${AUTH[@]}" "$url/Patient/2"
expect "after the new CRL: client-valid still allowed (200)" test "$status" = 200
fetch client-valid "${SSP[@]}" -H "Ssp-To: 123456789123" "${READ[@]}" "${AUTH[@]}" "$url/Patient/2"
expect "after the reload: the request checks still run (400)" test "$status" = 400

echo "== SetHandler gpcguard-status: verdict counters of every child, CRL ages"
status_port=$(free_port)
while [ "$status_port" = "$tls_port" ] || [ "$status_port" = "$backend_port" ]; do status_port=$(free_port); done
cat > "$work/extra-status.conf" <<CONF
Listen 127.0.0.1:$status_port
<VirtualHost 127.0.0.1:$status_port>
  ServerName status
  <Location "/gpcguard-status">
    GpcGuardConfig "$pki/provider.toml"
    SetHandler gpcguard-status
  </Location>
</VirtualHost>
CONF
gens=$(generations)
"$APACHE" -f "$conf" -k graceful
if wait_ready $((gens + 1)); then pass "graceful reload with the status host"; else fail "graceful reload with the status host" "$(tail -5 "$work/error.log")"; fi
status_url=http://127.0.0.1:$status_port/gpcguard-status
for _ in $(seq 100); do curl -sf -o /dev/null --max-time 2 "$status_url" && break; sleep 0.1; done
scrape() { curl -sS --max-time 5 -D "$work/status.h" -o "$1" "$status_url"; }
verdicts() { grep -F "gpcguard_verdicts_total{check=\"$2\",reason=\"$3\"} " "$1" | awk '{print $2}'; }
scrape "$work/status.0"
expect "gpcguard-status answers text/plain; version=0.0.4" grep -qi '^Content-Type: text/plain; version=0.0.4' "$work/status.h"
for _ in 1 2 3 4; do
  fetch client-valid -H "Ssp-TraceID: $TRACE" -H "Ssp-From: $ASID_FROM" -H "Ssp-To: 123456789123" "${READ[@]}" "${AUTH[@]}" "$url/Patient/2"
done
for _ in 1 2 3; do fetch client-valid "${SSP[@]}" "${READ[@]}" "${AUTH[@]}" "$url/Patient/2"; done
scrape "$work/status.1"
for row in "request WRONG_RECIPIENT 4" "request ALLOWED 3"; do
  set -- $row
  was=$(verdicts "$work/status.0" "$1" "$2"); now=$(verdicts "$work/status.1" "$1" "$2")
  if [ -n "$was" ] && [ -n "$now" ] && [ $((now - was)) = "$3" ]; then
    pass "gpcguard_verdicts_total{check=\"$1\",reason=\"$2\"} moved by $3 ($was -> $now)"
  else
    fail "gpcguard_verdicts_total{check=\"$1\",reason=\"$2\"} moved by $3" "$was -> $now"
  fi
done
crl_line=$(grep -F 'gpcguard_crl_next_update_seconds{issuer="CN=Test Spine SubCA,O=gpcguard test"' "$work/status.1" || true)
if [ -n "$crl_line" ] && [ "${crl_line##* }" -gt 0 ]; then
  pass "gpcguard_crl_next_update_seconds of the SubCA CRL present ($crl_line)"
else
  fail "gpcguard_crl_next_update_seconds of the SubCA CRL present" "$(grep crl_next "$work/status.1")"
fi
gens=$(generations)
"$APACHE" -f "$conf" -k graceful
wait_ready $((gens + 1)) || true
for _ in $(seq 100); do curl -sf -o /dev/null --max-time 2 "$status_url" && break; sleep 0.1; done
fetch client-valid "${SSP[@]}" "${READ[@]}" "${AUTH[@]}" "$url/Patient/2"
scrape "$work/status.2"
was=$(verdicts "$work/status.1" request ALLOWED); now=$(verdicts "$work/status.2" request ALLOWED)
if [ -n "$now" ] && [ $((now - was)) = 1 ]; then
  pass "counters kept across apachectl graceful ($was -> $now after one more allowed request)"
else
  fail "counters kept across apachectl graceful" "$was -> $now"
fi

stop_server
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
