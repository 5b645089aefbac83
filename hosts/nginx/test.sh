#!/usr/bin/env bash
# End-to-end test of ngx_http_gpcguard_module in Debian's nginx: a throw-away PKI, one nginx
# (master + workers, daemonised with its own prefix, pid file, logs and temp dirs under a temp
# folder) serving a gpcguard server on 127.0.0.1 that proxies to a backend server (a static FHIR
# Patient) and serves static FHIR files, driven with curl and openssl s_client. No system
# service is touched; the test stops its nginx on exit.
#
# Usage: hosts/nginx/test.sh MODULE.so     (make test-nginx builds the module and calls this)
#        hosts/nginx/test.sh SNIPPET.conf  a load snippet as the Debian package enables it
#                                          (/etc/nginx/modules-enabled/50-mod-http-gpcguard.conf)
# Env: NGINX (default /usr/sbin/nginx), KEEP=1 keeps the temp folder.
set -euo pipefail

module=$(realpath -s "${1:?usage: test.sh MODULE.so|SNIPPET.conf}")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../test-helpers.sh"
NGINX=${NGINX:-/usr/sbin/nginx}

work=$(mktemp -d /tmp/gpcguard-nginx.XXXXXX)
chmod 755 "$work"          # the workers run as nobody when the master is root
nginx_conf=$work/conf/nginx.conf
# The snippet names the module relative to nginx's prefix (modules/...): the test's prefix links
# to the system's.
case $module in
  *.conf) load="include $module;"; ln -s /usr/share/nginx/modules "$work/modules" ;;
  *) load="load_module $(realpath "$module");" ;;
esac
cleanup() {
  if [ -s "$work/nginx.pid" ]; then
    local pid; pid=$(cat "$work/nginx.pid")
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
# The whole test ends by itself: a stuck step is killed (and fails the run) after 5 minutes.
( trap 'kill $nap 2>/dev/null; exit 0' TERM; sleep 300 & nap=$!; wait $nap
  echo "test.sh: timed out" >&2; kill -TERM $$ ) 2>/dev/null & watchdog=$!
trap 'kill $watchdog 2>/dev/null; cleanup' EXIT

root=/A20047/STU3/1/gpconnect
pki=$work/pki
echo "== test PKI and nginx configuration in $work"
gpc_make_pki "$pki" "$root"
sed 's/^ssp_fqdn = .*/ssp_fqdn = ["msg.other.spine2.ncrs.nhs.uk"]/' "$pki/provider.toml" > "$pki/other-fqdn.toml"
tls_port=$(gpc_free_port)
plain_port=$(gpc_free_port)
backend_port=$(gpc_free_port)
mkdir -p "$work/conf" "$work/logs" "$work/tmp" "$work/static$root/Organization"
printf '%s' '{"resourceType":"CapabilityStatement","status":"active","kind":"instance","fhirVersion":"3.0.1"}' \
  > "$work/static$root/metadata"
printf '%s' '{"resourceType":"Organization","id":"1","name":"Test practice"}' > "$work/static$root/Organization/1"
# A large resource, downloaded slowly across a reload.
head -c 3000000 /dev/zero | tr '\0' ' ' > "$work/static$root/Organization/big"
chmod -R a+rX "$work/static"
PATIENT='{"resourceType":"Patient","id":"2","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]}'

# write_conf: the configuration under test (the backend, the guarded provider).
write_conf() {
  cat > "$nginx_conf" <<CONF
$load
daemon on;
master_process on;
worker_processes 2;
pid $work/nginx.pid;
lock_file $work/nginx.lock;
error_log $work/logs/error.log info;
events { worker_connections 64; }
http {
    access_log $work/logs/access.log;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    include $work/conf/extra-*.conf;    # added by later sections (none at first)

    # The backend: a FHIR server stand-in with one static Patient, and a Cache-Control the
    # module must replace.
    server {
        listen 127.0.0.1:$backend_port;
        location / {
            default_type application/fhir+json;
            add_header Cache-Control "max-age=3600";
            return 200 '$PATIENT';
        }
    }

    # The GP Connect provider. No ssl_protocols / ssl_ciphers / ssl_verify_client: the module
    # owns them. ssl_session_cache is on to show it does not bring back resumption by ID.
    server {
        listen 127.0.0.1:$tls_port ssl default_server;
        listen 127.0.0.1:$plain_port;
        server_name localhost;
        ssl_certificate $pki/server-chain.pem;
        ssl_certificate_key $pki/server.key;
        ssl_session_cache shared:gpc:1m;

        gpcguard on;
        gpcguard_config $pki/provider.toml;
        gpcguard_audit_log $work/logs/gpcguard-audit.log;

        location $root/Patient {
            proxy_pass http://127.0.0.1:$backend_port;
        }
        # A second guard: the SSP FQDN of another environment. The handshake (server guard)
        # accepts client-valid; this location's guard re-checks the peer and refuses it (495).
        location $root/Practitioner {
            gpcguard_config $pki/other-fqdn.toml;
            root $work/static;
        }
        location $root/ {
            root $work/static;
            default_type application/fhir+json;
            expires 1h;         # the module's Cache-Control: no-store must win over this
        }
    }
}
CONF
}
write_conf

echo "== nginx -t"
if "$NGINX" -t -q -p "$work/" -c "$nginx_conf" 2> "$work/t.out"; then
  gpc_pass "nginx -t accepts the configuration"
else
  gpc_fail "nginx -t accepts the configuration" "$(cat "$work/t.out")"
  gpc_summary; exit 1
fi

echo "== nginx -t names the key and the file of a bad gpcguard configuration"
# bad_config NAME EXPECTED_SUBSTRINGS... ; the TOML in $work/bad.toml
bad_config() {
  local name=$1; shift
  sed "s#$pki/provider.toml#$work/bad.toml#" "$nginx_conf" > "$work/conf/bad.conf"
  if "$NGINX" -t -q -p "$work/" -c "$work/conf/bad.conf" > "$work/t.out" 2>&1; then
    gpc_fail "$name" "nginx -t accepted it"; return
  fi
  local s
  for s in "$@"; do
    grep -qF -- "$s" "$work/t.out" || { gpc_fail "$name" "no \"$s\" in: $(cat "$work/t.out")"; return; }
  done
  gpc_pass "$name"
}
grep -v '^provider_asid' "$pki/provider.toml" | sed "s#\"\([a-z-]*\.\(pem\|crl\|key\)\)\"#\"$pki/\1\"#g" > "$work/bad.toml"
bad_config "missing provider_asid" provider_asid "$work/bad.toml" "bad.conf:"
sed "s#\"\([a-z-]*\.\(pem\|crl\|key\)\)\"#\"$pki/\1\"#g; s#sub-ca.crl#no-such.crl#" "$pki/provider.toml" > "$work/bad.toml"
bad_config "unreadable CRL file" crl "$pki/no-such.crl"

# bad_nginx_conf NAME SED_SCRIPT EXPECTED_SUBSTRING: nginx -t refuses the configuration edited by SED_SCRIPT.
bad_nginx_conf() {
  sed "$2" "$nginx_conf" > "$work/conf/bad.conf"
  if "$NGINX" -t -q -p "$work/" -c "$work/conf/bad.conf" > "$work/t.out" 2>&1; then
    gpc_fail "$1" "nginx -t accepted it"
  elif grep -qF -- "$3" "$work/t.out"; then
    gpc_pass "$1"
  else
    gpc_fail "$1" "no \"$3\" in: $(cat "$work/t.out")"
  fi
}
bad_nginx_conf "gpcguard on without gpcguard_config" "/gpcguard_config /d" 'has no "gpcguard_config"'
# An unguarded default server on the guarded server's address would fix the protocol and
# ciphers of every connection there (SNI switches the certificate, not those).
bad_nginx_conf "unguarded default server on a guarded ssl address" \
  "/# The GP Connect provider/i server { listen 127.0.0.1:$tls_port ssl default_server; server_name other; ssl_certificate $pki/server-chain.pem; ssl_certificate_key $pki/server.key; }
s# ssl default_server;\$# ssl;#" "does not use gpcguard"
# A session ticket is decrypted by the server a connection starts on, before SNI picks another:
# two guards on one address:port would judge each other's sessions.
second_server() { # second_server CONFIG: a sed script adding a guarded server "other" on the TLS port
  echo "/# The GP Connect provider/i server { listen 127.0.0.1:$tls_port ssl; server_name other; ssl_certificate $pki/server-chain.pem; ssl_certificate_key $pki/server.key; gpcguard on; gpcguard_config $1; }"
}
bad_nginx_conf "two guards on one ssl address:port" "$(second_server "$pki/other-fqdn.toml")" \
  "share 127.0.0.1:$tls_port with different gpcguard_config files"
sed "$(second_server "$pki/provider.toml")" "$nginx_conf" > "$work/conf/same.conf"
if "$NGINX" -t -q -p "$work/" -c "$work/conf/same.conf" > "$work/t.out" 2>&1; then
  gpc_pass "two servers with the same guard on one ssl address:port"
else
  gpc_fail "two servers with the same guard on one ssl address:port" "$(cat "$work/t.out")"
fi

echo "== starting nginx (127.0.0.1:$tls_port TLS, :$plain_port plain, backend :$backend_port)"
if ! "$NGINX" -p "$work/" -c "$nginx_conf" 2> "$work/start.out"; then
  echo "nginx did not start:"; cat "$work/start.out" "$work/logs/error.log" 2>/dev/null
  exit 1
fi
for _ in $(seq 100); do [ -s "$work/nginx.pid" ] && break; sleep 0.1; done
master_pid=$(cat "$work/nginx.pid")
for _ in $(seq 100); do
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$backend_port/" && break; sleep 0.1
done

url=https://localhost:$tls_port$root
resolve=(--resolve "localhost:$tls_port:127.0.0.1")
GOOD=$(gpc_token 300 'patient/*.read' Device)
ORG=$(gpc_token 300 'organization/*.read' Device)
declare -a READ META SEARCH ORGREAD
gpc_ssp_headers READ fhir:rest:read:patient-1
gpc_ssp_headers META fhir:rest:read:metadata-1
gpc_ssp_headers SEARCH fhir:rest:search:patient-1
gpc_ssp_headers ORGREAD fhir:rest:read:organization-1

# fetch CERT CURL_ARGS...: sets $status, $curl_rc; headers in $work/h, body in $work/b.
fetch() {
  local cert=$1; shift
  local certargs=()
  [ "$cert" != none ] && certargs=(--cert "$pki/$cert.pem" --key "$pki/$cert.key")
  rm -f "$work/h" "$work/b"
  curl_rc=0
  status=$(curl -sS -o "$work/b" -D "$work/h" -w '%{http_code}' --max-time 10 --cacert "$pki/root-ca.pem" \
    "${resolve[@]}" "${certargs[@]}" "$@" 2> "$work/curl.err") || curl_rc=$?
}
header() { grep -i "^$1:" "$work/h" 2>/dev/null | head -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }

# The response headers every guarded response carries.
check_guard_headers() {
  [ "$(header Cache-Control)" = no-store ] || { echo "Cache-Control is '$(header Cache-Control)'"; return 1; }
  [ "$(grep -ci '^cache-control:' "$work/h")" = 1 ] || { echo "more than one Cache-Control"; return 1; }
  [ "$(header Strict-Transport-Security)" = max-age=31536000 ] || { echo "no HSTS"; return 1; }
}

# allowed NAME CERT BODY_SUBSTRING CURL_ARGS...
allowed() {
  local name=$1 cert=$2 want=$3; shift 3
  fetch "$cert" "$@"
  local why
  if [ "$status" != 200 ]; then gpc_fail "$name" "status $status (curl rc $curl_rc: $(head -c 300 "$work/curl.err" "$work/b"))"; return; fi
  if ! why=$(check_guard_headers); then gpc_fail "$name" "$why"; return; fi
  if ! grep -qF -- "$want" "$work/b"; then gpc_fail "$name" "body lacks $want: $(head -c 200 "$work/b")"; return; fi
  gpc_pass "$name"
}

# refused NAME STATUS SPINE_CODE REASON CERT CURL_ARGS...: the verdict's status, FHIR content type,
# an OperationOutcome with the Spine code, the guard's headers, and the error-log line of this
# refusal naming REASON (so refusals with the same status and code are told apart).
refused() {
  local name=$1 want=$2 code=$3 reason=$4 cert=$5; shift 5
  local log=$work/logs/error.log mark
  mark=$(gpc_log_size "$log")
  fetch "$cert" "$@"
  local why
  if [ "$status" != "$want" ]; then gpc_fail "$name" "status $status, expected $want (curl rc $curl_rc) $(head -c 300 "$work/b")"; return; fi
  if [ "$(header Content-Type)" != application/fhir+json ]; then gpc_fail "$name" "Content-Type '$(header Content-Type)'"; return; fi
  if ! grep -q '"resourceType":"OperationOutcome"' "$work/b"; then gpc_fail "$name" "no OperationOutcome: $(head -c 300 "$work/b")"; return; fi
  if ! grep -q "\"code\":\"$code\"" "$work/b"; then gpc_fail "$name" "no Spine code $code: $(head -c 300 "$work/b")"; return; fi
  if ! grep -q '"diagnostics":"[^"]' "$work/b"; then gpc_fail "$name" "no diagnostics: $(head -c 300 "$work/b")"; return; fi
  if ! why=$(check_guard_headers); then gpc_fail "$name" "$why"; return; fi
  if ! why=$(gpc_log_wait "$log" "$mark" "gpcguard refused the [a-z ]+: $want $code $reason: "); then
    gpc_fail "$name" "no error-log line 'gpcguard refused ...: $want $code $reason', the log has: $why"; return
  fi
  gpc_pass "$name ($reason)"
}

# tls_refused NAME CERT ALERT [CURL_ARGS...]: the handshake fails with the TLS alert ALERT (as
# curl reports it), so no HTTP response; the same request with client-valid works (checked above
# and below).
tls_refused() {
  local name=$1 cert=$2 alert=$3; shift 3
  fetch "$cert" "$@" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
  if [ "$status" = 000 ] && [ "$curl_rc" -ne 0 ] && grep -qi -- "$alert" "$work/curl.err"; then
    gpc_pass "$name (alert $alert)"
  else
    gpc_fail "$name" "status $status, curl rc $curl_rc, expected alert '$alert': $(cat "$work/curl.err")"
  fi
}

echo "== allowed requests"
allowed "valid read patient (proxied), 200 with no-store and HSTS" client-valid '"resourceType":"Patient"' \
  "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
allowed "valid metadata (static), CN-only certificate" client-cn-only '"CapabilityStatement"' \
  "${META[@]}" -H "Authorization: Bearer $ORG" "$url/metadata"
allowed "valid search with a query string" client-valid '"resourceType":"Patient"' \
  "${SEARCH[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C9000000009"
fetch client-valid "${ORGREAD[@]}" -H "Authorization: Bearer $ORG" "$url/Organization/404"
if [ "$status" = 404 ] && why=$(check_guard_headers); then
  gpc_pass "nginx's own 404 page carries no-store and HSTS"
else
  gpc_fail "nginx's own 404 page carries no-store and HSTS" "status $status ${why:-}"
fi

echo "== client certificates refused in the handshake"
tls_refused "no client certificate" none "handshake failure"
tls_refused "revoked client certificate" client-revoked "certificate revoked"
tls_refused "client certificate from an unrelated CA" client-unrelated "unknown ca"
tls_refused "client certificate for another FQDN" client-wrong-fqdn "bad certificate"
tls_refused "client certificate without clientAuth" client-server-eku "unsupported certificate"

echo "== protocol and ciphers (owned by the module, not by ssl_protocols/ssl_ciphers)"
s_client() { # s_client ARGS...: exit status of a handshake with client-valid
  timeout 10 openssl s_client -connect "127.0.0.1:$tls_port" -servername localhost -CAfile "$pki/root-ca.pem" \
    -cert "$pki/client-valid.pem" -key "$pki/client-valid.key" "$@" < /dev/null > "$work/s.out" 2>&1
}
if s_client -tls1_2 && grep -q 'Protocol *: TLSv1.2' "$work/s.out"; then
  gpc_pass "TLS 1.2 handshake with client-valid"
else
  gpc_fail "TLS 1.2 handshake with client-valid" "$(tail -n 5 "$work/s.out")"
fi
# curl reports the certificate_expired alert only as "verification failed"; s_client names it.
if ! timeout 10 openssl s_client -connect "127.0.0.1:$tls_port" -servername localhost -CAfile "$pki/root-ca.pem" \
     -cert "$pki/client-expired.pem" -key "$pki/client-expired.key" -tls1_2 < /dev/null > "$work/s.out" 2>&1 \
   && grep -q 'alert certificate expired' "$work/s.out"; then
  gpc_pass "expired client certificate (alert certificate expired)"
else
  gpc_fail "expired client certificate" "$(grep -i alert "$work/s.out" | head -n 2)"
fi
if s_client -tls1_1 -cipher 'DEFAULT@SECLEVEL=0'; then
  gpc_fail "TLS 1.1 refused" "handshake succeeded"
else
  gpc_pass "TLS 1.1 refused"
fi
if s_client -tls1_3; then gpc_fail "TLS 1.3 refused" "handshake succeeded"; else gpc_pass "TLS 1.3 refused"; fi
if s_client -tls1_2 -cipher 'AES128-SHA256'; then
  gpc_fail "a cipher outside the Spine list (AES128-SHA256) refused" "handshake succeeded"
else
  gpc_pass "a cipher outside the Spine list (AES128-SHA256) refused"
fi
# ssl_session_cache is configured, yet a session ID is never resumed (tickets off on the client,
# so that only an ID could resume): either the server gives out no session ID at all (s_client
# then has no resumable session to save), or offering the saved one gets a new session.
rm -f "$work/sess.pem"
if ! s_client -tls1_2 -no_ticket -sess_out "$work/sess.pem"; then
  gpc_fail "no resumption by session ID despite ssl_session_cache" "first handshake failed: $(tail -n 3 "$work/s.out")"
elif [ ! -s "$work/sess.pem" ] && grep -qE '^ *Session-ID: *$' "$work/s.out"; then
  gpc_pass "no resumption by session ID despite ssl_session_cache (no session ID issued)"
elif s_client -tls1_2 -no_ticket -sess_in "$work/sess.pem" && grep -q '^New,' "$work/s.out"; then
  gpc_pass "no resumption by session ID despite ssl_session_cache (offered ID not resumed)"
else
  gpc_fail "no resumption by session ID despite ssl_session_cache" "$(grep -E '^(New|Reused)|Session-ID:' "$work/s.out")"
fi

echo "== requests refused by the access phase"
refused "missing Ssp-TraceID" 400 BAD_REQUEST HEADER_MISSING client-valid -H "Ssp-From: $GPC_ASID_FROM" -H "Ssp-To: $GPC_ASID_TO" \
  -H "Ssp-InteractionID: $GPC_IID:fhir:rest:read:patient-1" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
refused "wrong Ssp-To" 400 BAD_REQUEST WRONG_RECIPIENT client-valid -H "Ssp-TraceID: $GPC_TRACE" -H "Ssp-From: $GPC_ASID_FROM" \
  -H "Ssp-To: 123456789123" -H "Ssp-InteractionID: $GPC_IID:fhir:rest:read:patient-1" \
  -H "Authorization: Bearer $GOOD" "$url/Patient/2"
refused "interaction does not fit the path" 400 BAD_REQUEST INTERACTION_MISMATCH client-valid "${META[@]}" \
  -H "Authorization: Bearer $GOOD" "$url/Patient/2"
refused "malformed JWT (signed, HS256)" 400 BAD_REQUEST JWT_MALFORMED client-valid "${READ[@]}" \
  -H "Authorization: Bearer $(gpc_signed_token)" "$url/Patient/2"
refused "expired JWT" 400 BAD_REQUEST JWT_EXPIRED client-valid "${READ[@]}" \
  -H "Authorization: Bearer $(gpc_token -60 'patient/*.read' Device)" "$url/Patient/2"
refused "invalid FHIR claim (requesting_device not a Device)" 422 INVALID_RESOURCE JWT_INVALID_RESOURCE client-valid "${READ[@]}" \
  -H "Authorization: Bearer $(gpc_token 300 'patient/*.read' Devise)" "$url/Patient/2"
refused "wrong scope (write for a read)" 400 BAD_REQUEST SCOPE_DENIED client-valid "${READ[@]}" \
  -H "Authorization: Bearer $(gpc_token 300 'patient/*.write' Device)" "$url/Patient/2"
refused "no Authorization header" 400 BAD_REQUEST AUTHORIZATION_MISSING client-valid "${READ[@]}" "$url/Patient/2"
refused "dot-segment path refused, not normalised by nginx first" 400 BAD_REQUEST INTERACTION_MISMATCH client-valid "${READ[@]}" \
  -H "Authorization: Bearer $GOOD" --path-as-is "$url/Organization/../Patient/2"
fetch client-valid -I "${META[@]}" -H "Authorization: Bearer $GOOD" "$url/metadata"
if [ "$status" = 400 ] && [ "$(header Content-Type)" = application/fhir+json ] && why=$(check_guard_headers); then
  gpc_pass "HEAD refused with status and headers"
else
  gpc_fail "HEAD refused with status and headers" "status $status ${why:-}"
fi
refused "location with another guard re-checks the peer in the access phase (495)" 495 BAD_REQUEST CERT_WRONG_HOST client-valid \
  "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Practitioner/1"
refused "plain-HTTP connection: access phase has no certificate (496)" 496 BAD_REQUEST CERT_MISSING none \
  "${READ[@]}" -H "Authorization: Bearer $GOOD" "http://127.0.0.1:$plain_port$root/Patient/2"

echo "== logs"
audit=$work/logs/gpcguard-audit.log
if grep -q '"verdict":"allowed"' "$audit" && grep -q "read:patient-1" "$audit" && grep -q '"verdict":"refused"' "$audit"; then
  gpc_pass "audit log has allowed and refused provenance lines"
else
  gpc_fail "audit log has allowed and refused provenance lines" "$(cat "$audit")"
fi
if grep -q "search:patient-1" "$audit" && why=$(gpc_lacks "$audit" 9000000009 "${GOOD%%.*}"); then
  gpc_pass "audit log holds no query-string value and no token"
else
  gpc_fail "audit log holds no query-string value and no token" "${why:-} $(grep -n 'search:patient\|9000000009' "$audit")"
fi
if grep -q '\[warn\].*gpcguard refused the request: 400 BAD_REQUEST WRONG_RECIPIENT' "$work/logs/error.log" \
   && grep -q '\[warn\].*gpcguard refused the client certificate: 496' "$work/logs/error.log"; then
  gpc_pass "error log has the verdict messages at warn"
else
  gpc_fail "error log has the verdict messages at warn" "$(grep gpcguard "$work/logs/error.log" | head -n 5)"
fi
# nginx's own info lines carry the request line (query included) like its access_log; the
# module's lines must not.
if grep -q '\[warn\].*gpcguard: TLS handshake refused (CERT_REVOKED): certificate CN=SSP revoked .*is revoked by the CRL of' "$work/logs/error.log"; then
  gpc_pass "error log explains a refused handshake (handshake hook)"
else
  gpc_fail "error log explains a refused handshake (handshake hook)" "$(grep 'handshake' "$work/logs/error.log" | head -n 3)"
fi
grep gpcguard "$work/logs/error.log" > "$work/gpcguard-lines.log" || true
if grep -q 'gpcguard allowed .*search:patient-1' "$work/logs/error.log" \
   && gpc_lacks "$work/gpcguard-lines.log" "${GOOD%%.*}" 9000000009 > /dev/null; then
  gpc_pass "gpcguard's error-log lines hold no token and no query-string value"
else
  gpc_fail "gpcguard's error-log lines hold no token and no query-string value" "$(grep gpcguard "$work/logs/error.log" | grep -e 9000000009 -e search:patient | head -n 3)"
fi

echo "== nginx -s reload with a CRL that revokes client-later-revoked"
allowed "client-later-revoked accepted before the reload" client-later-revoked '"resourceType":"Patient"' \
  "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
# A slow download in flight across the reload must complete.
curl -sS -o "$work/big" -w '%{http_code}' --limit-rate 600k --max-time 60 --cacert "$pki/root-ca.pem" "${resolve[@]}" \
  --cert "$pki/client-valid.pem" --key "$pki/client-valid.key" "${ORGREAD[@]}" -H "Authorization: Bearer $ORG" \
  "$url/Organization/big" > "$work/big.status" 2>&1 & big_pid=$!
for _ in $(seq 100); do [ -s "$work/big" ] && break; sleep 0.1; done
cp "$pki/subca-revoked-later.crl" "$pki/sub-ca.crl"
old_workers=$(pgrep -P "$master_pid" | sort | tr '\n' ' ')
"$NGINX" -p "$work/" -c "$nginx_conf" -s reload 2> "$work/reload.out"
# Wait (bounded) until workers of the new generation answer: the revoked client is refused three
# times running (an old worker that has not yet seen the reload signal may still accept one
# connection on a busy machine).
refusals=0
for _ in $(seq 300); do
  fetch client-later-revoked "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
  if [ "$status" = 000 ]; then refusals=$((refusals + 1)); else refusals=0; fi
  [ "$refusals" -ge 3 ] && break
  sleep 0.1
done
tls_refused "client-later-revoked refused after the reload" client-later-revoked "certificate revoked"
allowed "client-valid still accepted after the reload" client-valid '"resourceType":"Patient"' \
  "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
if [ "$(cat "$work/nginx.pid")" = "$master_pid" ] && kill -0 "$master_pid" 2>/dev/null; then
  gpc_pass "same master after the reload (no restart)"
else
  gpc_fail "same master after the reload (no restart)" "pid $(cat "$work/nginx.pid") vs $master_pid"
fi
new_workers=$(pgrep -P "$master_pid" | sort | tr '\n' ' ')
big_rc=0; wait "$big_pid" || big_rc=$?
if [ "$big_rc" = 0 ] && [ "$(cat "$work/big.status")" = 200 ] && [ "$(stat -c %s "$work/big")" = 3000000 ]; then
  gpc_pass "a download in flight during the reload completed (old workers: $old_workers; now: $new_workers)"
else
  gpc_fail "a download in flight during the reload completed" "rc $big_rc, $(cat "$work/big.status"), $(stat -c %s "$work/big") bytes"
fi

echo "== gpcguard_status: verdict counters (shared by the workers, kept across reloads) and CRL ages"
status_port=$(gpc_free_port)
cat > "$work/conf/extra-status.conf" <<CONF
server {
    listen 127.0.0.1:$status_port;
    location = /gpcguard-status {
        gpcguard_config $pki/provider.toml;
        gpcguard_status;
    }
}
CONF
old_workers=$(pgrep -P "$(cat "$work/nginx.pid")" || true)
"$NGINX" -p "$work/" -c "$nginx_conf" -s reload 2> "$work/reload.out"
status_url=http://127.0.0.1:$status_port/gpcguard-status
for _ in $(seq 100); do curl -sf -o /dev/null --max-time 2 "$status_url" && break; sleep 0.1; done
# The previous generation's workers, until they exit, still accept connections and count into
# their own guards (that configuration had no status zone): wait for them (bounded).
for _ in $(seq 100); do
  alive=; for w in $old_workers; do kill -0 "$w" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && break; sleep 0.1
done
# scrape FILE: the status page into FILE, its Content-Type into $work/status.ct
scrape() { curl -sS --max-time 5 -D "$work/status.h" -o "$1" "$status_url"; }
# verdicts FILE CHECK REASON: the counter's value in a scrape
verdicts() { grep -F "gpcguard_verdicts_total{check=\"$2\",reason=\"$3\"} " "$1" | awk '{print $2}'; }
scrape "$work/status.0"
if grep -qi '^Content-Type: text/plain; version=0.0.4' "$work/status.h" && [ -n "$(verdicts "$work/status.0" request ALLOWED)" ]; then
  gpc_pass "gpcguard_status answers the Prometheus text format"
else
  gpc_fail "gpcguard_status answers the Prometheus text format" "$(head -c 400 "$work/status.h" "$work/status.0")"
fi
# Four requests refused for Ssp-To, three allowed, on new connections (any worker may take them).
for _ in 1 2 3 4; do
  fetch client-valid -H "Ssp-TraceID: $GPC_TRACE" -H "Ssp-From: $GPC_ASID_FROM" -H "Ssp-To: 123456789123" \
    -H "Ssp-InteractionID: $GPC_IID:fhir:rest:read:patient-1" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
done
for _ in 1 2 3; do fetch client-valid "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"; done
scrape "$work/status.1"
for row in "request WRONG_RECIPIENT 4" "request ALLOWED 3"; do
  set -- $row
  was=$(verdicts "$work/status.0" "$1" "$2"); now=$(verdicts "$work/status.1" "$1" "$2")
  if [ -n "$was" ] && [ -n "$now" ] && [ $((now - was)) = "$3" ]; then
    gpc_pass "gpcguard_verdicts_total{check=\"$1\",reason=\"$2\"} moved by $3 ($was -> $now)"
  else
    gpc_fail "gpcguard_verdicts_total{check=\"$1\",reason=\"$2\"} moved by $3" "$was -> $now"
  fi
done
was=$(verdicts "$work/status.0" certificate CERT_REVOKED)
fetch client-revoked "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
scrape "$work/status.2"
now=$(verdicts "$work/status.2" certificate CERT_REVOKED)
if [ "$status" = 000 ] && [ $((now - was)) = 1 ]; then
  gpc_pass "a handshake refusal counts as certificate CERT_REVOKED ($was -> $now)"
else
  gpc_fail "a handshake refusal counts as certificate CERT_REVOKED" "status $status, $was -> $now"
fi
crl_line=$(grep -F 'gpcguard_crl_next_update_seconds{issuer="CN=Test Spine SubCA,O=gpcguard test"' "$work/status.2" || true)
if [ -n "$crl_line" ] && [ "${crl_line##* }" -gt 0 ] && [ "${crl_line##* }" -le 2592000 ]; then
  gpc_pass "gpcguard_crl_next_update_seconds of the SubCA CRL present ($crl_line)"
else
  gpc_fail "gpcguard_crl_next_update_seconds of the SubCA CRL present" "$(grep crl_next "$work/status.2")"
fi
if grep -q '^gpcguard_ca_not_after_seconds{subject="CN=Test Spine RootCA,O=gpcguard test",role="trust_anchor"} [0-9]' "$work/status.2"; then
  gpc_pass "gpcguard_ca_not_after_seconds of the RootCA present"
else
  gpc_fail "gpcguard_ca_not_after_seconds of the RootCA present" "$(grep ca_not_after "$work/status.2")"
fi
# nginx -s reload builds new guards; the shared zone keeps the counts.
"$NGINX" -p "$work/" -c "$nginx_conf" -s reload 2> "$work/reload.out"
for _ in $(seq 100); do
  scrape "$work/status.3"
  # The new cycle's guards have loaded after the reload signal: a later load time.
  [ "$(grep '^gpcguard_state_loaded_timestamp_seconds' "$work/status.3")" != "$(grep '^gpcguard_state_loaded_timestamp_seconds' "$work/status.2")" ] && break
  sleep 0.1
done
fetch client-valid "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
scrape "$work/status.4"
was=$(verdicts "$work/status.1" request ALLOWED); now=$(verdicts "$work/status.4" request ALLOWED)
if [ $((now - was)) = 1 ]; then
  gpc_pass "counters kept across nginx -s reload ($was -> $now after one more allowed request)"
else
  gpc_fail "counters kept across nginx -s reload" "$was -> $now"
fi

echo
gpc_summary
