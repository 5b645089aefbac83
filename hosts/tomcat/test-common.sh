# Checks shared by the Tomcat tests (test10.sh, test9.sh), sourced after hosts/test-helpers.sh.
# They use $work, $pki, $tls_port and the SSP header arrays the test sets up.

# tomcat_test_setup: a work folder ($work, removed on exit with the Tomcat in $tomcat_pid and a
# keep-alive client in $ka_pid) and the test PKI in $pki for the service root $ROOT.
tomcat_test_setup() {
  work=$(mktemp -d)
  pki=$work/pki
  tomcat_pid=
  trap tomcat_test_cleanup EXIT
  ROOT=/A20047/STU3/1/gpconnect
  gpc_make_pki "$pki" "$ROOT"
}
tomcat_test_cleanup() {
  [ -n "$tomcat_pid" ] && kill "$tomcat_pid" 2>/dev/null && wait "$tomcat_pid" 2>/dev/null
  [ -n "${ka_pid:-}" ] && kill "$ka_pid" 2>/dev/null
  rm -rf "$work"
}

# fetch CERT CURL_ARGS...: $status, $curl_rc; headers in $work/h, body in $work/b.
fetch() {
  local cert=$1; shift
  local certargs=()
  [ "$cert" != none ] && certargs=(--cert "$pki/$cert.pem" --key "$pki/$cert.key")
  curl_rc=0
  status=$(curl -sS -o "$work/b" -D "$work/h" -w '%{http_code}' --max-time 10 --cacert "$pki/root-ca.pem" \
    "${certargs[@]}" "$@" 2> "$work/curl.err") || curl_rc=$?
}
header() { grep -i "^$1:" "$work/h" | tail -n 1 | cut -d' ' -f2- | tr -d '\r'; }
# Both guard headers present, once each, with gpcguard's values.
guard_headers() {
  [ "$(grep -ci '^Cache-Control:' "$work/h")" = 1 ] && [ "$(header Cache-Control)" = no-store ] &&
  [ "$(grep -ci '^Strict-Transport-Security:' "$work/h")" = 1 ] && header Strict-Transport-Security | grep -q 'max-age=[1-9]'
}
refused() { # refused NAME STATUS CODE CERT CURL_ARGS...
  local name=$1 want=$2 code=$3; shift 3
  fetch "$@"
  if [ "$status" = "$want" ] && [ "$(header Content-Type)" = application/fhir+json ] &&
     grep -q '"resourceType":"OperationOutcome"' "$work/b" && grep -q "\"code\":\"$code\"" "$work/b" && guard_headers; then
    gpc_pass "$name ($want $code, OperationOutcome, guard headers)"
  else
    gpc_fail "$name" "status $status (want $want, curl rc $curl_rc): $(head -c 300 "$work/b") $(tr -d '\r' < "$work/h" | tr '\n' ' ')"
  fi
}
handshake_refused() { # handshake_refused NAME CERT
  fetch "$2" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
  if [ "$status" = 000 ] && [ "$curl_rc" -ne 0 ]; then
    gpc_pass "$1 refused at the handshake"
  else
    gpc_fail "$1 refused at the handshake" "status $status curl rc $curl_rc"
  fi
}
s_client() { # s_client ARGS...: handshake with client-valid; output in $work/s.out
  timeout 10 openssl s_client -connect "127.0.0.1:$tls_port" -servername localhost -CAfile "$pki/root-ca.pem" \
    -cert "$pki/client-valid.pem" -key "$pki/client-valid.key" "$@" < /dev/null > "$work/s.out" 2>&1
}

# tls_refused NAME CERT ALERT: the handshake fails with the TLS alert ALERT as curl or s_client names it.
tls_refused() {
  local name=$1 cert=$2 alert=$3
  fetch "$cert" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
  local certargs=()
  [ "$cert" != none ] && certargs=(-cert "$pki/$cert.pem" -key "$pki/$cert.key")
  timeout 10 openssl s_client -connect "127.0.0.1:$tls_port" -servername localhost -CAfile "$pki/root-ca.pem" \
    "${certargs[@]}" -tls1_2 < /dev/null > "$work/s.out" 2>&1
  if [ "$status" = 000 ] && [ "$curl_rc" -ne 0 ] && grep -qi -- "$alert" "$work/curl.err" "$work/s.out"; then
    gpc_pass "$name refused at the handshake (alert $alert)"
  else
    gpc_fail "$name refused at the handshake" "status $status, curl rc $curl_rc, expected alert '$alert': $(cat "$work/curl.err"; grep -i alert "$work/s.out" | head -n 2)"
  fi
}

# protocol_checks: TLS 1.0/1.1 (offered with SECLEVEL=0, so the client does not refuse them
# itself), TLS 1.3 and suites outside the Spine list are refused; renegotiation is refused.
protocol_checks() {
  local v c
  for v in tls1 tls1_1; do
    if s_client -$v -cipher 'DEFAULT@SECLEVEL=0'; then gpc_fail "$v refused" "handshake succeeded"; else gpc_pass "$v refused"; fi
  done
  if s_client -tls1_3; then gpc_fail "tls1_3 refused" "handshake succeeded"; else gpc_pass "tls1_3 refused"; fi
  for c in AES128-SHA256 AES256-SHA ECDHE-RSA-AES128-SHA NULL-MD5; do
    if s_client -tls1_2 -cipher "$c@SECLEVEL=0"; then gpc_fail "non-Spine suite $c refused" "handshake succeeded"; else gpc_pass "non-Spine suite $c refused"; fi
  done
  # Client-initiated renegotiation: s_client's R command; the server must not complete it.
  { sleep 1; echo R; sleep 2; } | timeout 10 openssl s_client -connect "127.0.0.1:$tls_port" -servername localhost -tls1_2 \
    -CAfile "$pki/root-ca.pem" -cert "$pki/client-valid.pem" -key "$pki/client-valid.key" > "$work/reneg.out" 2>&1
  if grep -q RENEGOTIATING "$work/reneg.out" && ! grep -qE '^verify return:1' <(sed -n '/RENEGOTIATING/,$p' "$work/reneg.out"); then
    gpc_pass "client-initiated renegotiation refused"
  else
    gpc_fail "client-initiated renegotiation refused" "$(tail -n 8 "$work/reneg.out")"
  fi
}

# Resumed sessions after a revocation. session_request: one SSP read request with GOOD, closing
# the connection (so s_client -ign_eof ends when the server has answered).
session_request() {
  printf 'GET %s/Patient/2 HTTP/1.1\r\nHost: localhost\r\nSsp-TraceID: %s\r\nSsp-From: %s\r\nSsp-To: %s\r\nSsp-InteractionID: %s:fhir:rest:read:patient-1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n' \
    "$ROOT" "$GPC_TRACE" "$GPC_ASID_FROM" "$GPC_ASID_TO" "$GPC_IID" "$GOOD"
}
# session_handshake CERT OUT S_CLIENT_ARGS...: a TLS 1.2 connection presenting CERT that sends
# session_request; s_client's whole output (session details, response) in OUT.
session_handshake() {
  local cert=$1 out=$2 sni=(-servername localhost); shift 2
  [[ " $* " == *" -noservername "* ]] && sni=()
  session_request | timeout 15 openssl s_client -connect "127.0.0.1:$tls_port" "${sni[@]}" -tls1_2 -ign_eof \
    -CAfile "$pki/root-ca.pem" -cert "$pki/$cert.pem" -key "$pki/$cert.key" "$@" > "$out" 2>&1
}
# The HTTP status s_client's output OUT holds ("" for none).
session_status() { grep -ao 'HTTP/1.1 [0-9]*' "$1" | head -n 1 | cut -d' ' -f2; }

# probe_checks GPCGUARD: `gpcguard probe` (what operators run) against this Tomcat, with the
# test sub-CA to make its certificates: every row passes and it exits 0. Output in $work/probe.out.
PROBE_ROWS="tls-1.2-only cipher-suites cipher-order client-certificate-required renegotiation-refused allowed-request
cache-control-no-store hsts ssp-headers ssp-to interaction-endpoint bearer-token test-ca-control certificate-expired
certificate-wrong-fqdn certificate-unrelated-ca certificate-revoked"
probe_checks() {
  local gpcguard=$1 rc=0 row got
  timeout 300 "$gpcguard" probe "https://localhost:$tls_port$ROOT" --config "$pki/provider.toml" --server-ca "$pki/root-ca.pem" \
    --client "$pki/client-valid.pem" --client-key "$pki/client-valid.key" \
    --test-ca "$pki/sub-ca.pem" --test-ca-key "$pki/sub-ca.key" > "$work/probe.out" 2>&1 || rc=$?
  cat "$work/probe.out"
  for row in $PROBE_ROWS; do
    got=$(grep -E "^(PASS|FAIL|SKIP)  $row " "$work/probe.out" | cut -c1-4 || true)
    if [ "$got" = PASS ]; then
      gpc_pass "probe: $row PASS"
    else
      gpc_fail "probe: $row" "wanted PASS, got '${got:-no row}': $(grep -A1 -E "^(FAIL|SKIP)  $row " "$work/probe.out" | tail -n 1)"
    fi
  done
  [ "$rc" = 0 ] && gpc_pass "probe: exit 0" || gpc_fail "probe: exit 0" "exit $rc: $(tail -n 3 "$work/probe.out")"
}
