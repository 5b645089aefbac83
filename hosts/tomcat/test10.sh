#!/usr/bin/env bash
# Real Tomcat 10.1 (Debian's tomcat10, `catalina.sh run`, JSSE) with gpcguard: a throw-away
# CATALINA_BASE whose server.xml is the README's minimal one with a deliberately weak
# SSLHostConfig, driven by curl and openssl s_client.
#
#   hosts/tomcat/test10.sh BUILD_DIR GPCGUARD   (BUILD_DIR holds gpcguard.jar and libgpcguard_jni.so;
#                                            GPCGUARD is the gpcguard command, for its probe)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../test-helpers.sh"
. "$here/test-common.sh"
build=$(cd "${1:?usage: test10.sh BUILD_DIR GPCGUARD}" && pwd)
gpcguard=$(realpath "${2:?usage: test10.sh BUILD_DIR GPCGUARD (the gpcguard command)}")
CATALINA_HOME=${CATALINA_HOME:-/usr/share/tomcat10}
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)}
export JAVA_HOME

tomcat_test_setup

# make_base DIR CONFIG: a CATALINA_BASE using gpcguard CONFIG, on fresh ports ($tls_port, $plain_port).
make_base() {
  local base=$1 config=$2
  tls_port=$(gpc_free_port); plain_port=$(gpc_free_port); shutdown_port=$(gpc_free_port); jmx_port=$(gpc_free_port)
  mkdir -p "$base"/{conf,lib,logs,temp,work,webapps/ROOT/WEB-INF/classes,webapps/ROOT$ROOT/Patient}
  sed -e "s#@CONFIG@#$config#; s#@PKI@#$pki#g; s#@TLS_PORT@#$tls_port#; s#@PLAIN_PORT@#$plain_port#; s#@SHUTDOWN_PORT@#$shutdown_port#; s#@SHUTDOWN@#$(openssl rand -hex 16)#" \
    "$here/test/server.xml.in" > "$base/conf/server.xml"
  cp "$here/test/logging.properties" "$base/conf/"
  cp /etc/tomcat10/web.xml /etc/tomcat10/context.xml /etc/tomcat10/catalina.properties "$base/conf/"
  cp "$build/gpcguard.jar" "$base/lib/"
  printf '{"resourceType":"Patient","id":"2"}' > "$base/webapps/ROOT$ROOT/Patient/2"
  "$JAVA_HOME/bin/javac" -d "$base/webapps/ROOT/WEB-INF/classes" -cp "$CATALINA_HOME/lib/servlet-api.jar" \
    "$here/test/CacheControlServlet.java"
  mkdir -p "$base/webapps-filtered/ROOT/WEB-INF" "$base/webapps-filtered/ROOT$ROOT/Patient"
  cp "$base/webapps/ROOT$ROOT/Patient/2" "$base/webapps-filtered/ROOT$ROOT/Patient/2"
  cat > "$base/webapps-filtered/ROOT/WEB-INF/web.xml" <<XML
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <filter><filter-name>gpcguard</filter-name><filter-class>org.gpcguard.tomcat.GpcGuardFilter</filter-class></filter>
  <filter-mapping><filter-name>gpcguard</filter-name><url-pattern>/*</url-pattern></filter-mapping>
</web-app>
XML
  cat > "$base/webapps/ROOT/WEB-INF/web.xml" <<XML
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <servlet><servlet-name>meta</servlet-name><servlet-class>CacheControlServlet</servlet-class></servlet>
  <servlet-mapping><servlet-name>meta</servlet-name><url-pattern>$ROOT/metadata</url-pattern></servlet-mapping>
</web-app>
XML
}

# start_tomcat BASE: catalina.sh run in the background ($tomcat_pid: catalina.sh execs the JVM).
start_tomcat() {
  CATALINA_BASE=$1 CATALINA_HOME=$CATALINA_HOME CATALINA_PID= \
  CATALINA_OPTS="-Dgpcguard.jni.library=$build/libgpcguard_jni.so -Xmx256m -Djavax.net.debug= -Dcom.sun.management.jmxremote.port=$jmx_port \
    -Dcom.sun.management.jmxremote.host=127.0.0.1 -Dcom.sun.management.jmxremote.authenticate=false \
    -Dcom.sun.management.jmxremote.ssl=false" \
    "$CATALINA_HOME/bin/catalina.sh" run > "$1/logs/stdout.log" 2>&1 &
  tomcat_pid=$!
}

catalina_log() { cat "$1"/logs/catalina*.log "$1/logs/stdout.log" 2>/dev/null; }

echo "== a bad gpcguard configuration fails startup, naming the key and the file"
grep -v '^provider_asid' "$pki/provider.toml" > "$pki/bad.toml"
make_base "$work/bad" "$pki/bad.toml"
start_tomcat "$work/bad"
for _ in $(seq 300); do
  catalina_log "$work/bad" | grep -q 'provider_asid' && break
  kill -0 "$tomcat_pid" 2>/dev/null || break
  sleep 0.2
done
sleep 1
if catalina_log "$work/bad" | grep -q "provider_asid" && catalina_log "$work/bad" | grep -qF "$pki/bad.toml" \
   && ! curl -sk -o /dev/null --max-time 3 "https://127.0.0.1:$tls_port/" \
   && ! curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$plain_port/"; then
  gpc_pass "bad configuration: startup failed naming provider_asid and $pki/bad.toml; nothing served"
else
  gpc_fail "bad configuration fails startup" "$(catalina_log "$work/bad" | grep -iE 'gpcguard|SEVERE' | head -5)"
fi
kill "$tomcat_pid" 2>/dev/null; wait "$tomcat_pid" 2>/dev/null; tomcat_pid=

echo "== starting Tomcat 10.1 with the weak server.xml"
base=$work/base
make_base "$base" "$pki/provider.toml"
start_tomcat "$base"
for _ in $(seq 600); do
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$plain_port/" && break
  kill -0 "$tomcat_pid" 2>/dev/null || { echo "Tomcat exited:"; catalina_log "$base" | tail -30; exit 1; }
  sleep 0.2
done
url=https://localhost:$tls_port$ROOT

GOOD=$(gpc_token 300 'patient/*.read' Device)
ORG=$(gpc_token 300 'organization/*.read' Device)
gpc_ssp_headers READ fhir:rest:read:patient-1
gpc_ssp_headers META fhir:rest:read:metadata-1
gpc_ssp_headers SEARCH fhir:rest:search:patient-1

echo "== TLS policy forced over the weak SSLHostConfig"
# The client prefers two lesser Spine suites: server order still picks ECDHE-RSA-AES256-GCM-SHA384.
if s_client -tls1_2 -cipher 'ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384' \
   && grep -q 'Cipher is ECDHE-RSA-AES256-GCM-SHA384' "$work/s.out" && grep -q 'Protocol *: TLSv1.2' "$work/s.out"; then
  gpc_pass "TLS 1.2 with client-valid: ECDHE-RSA-AES256-GCM-SHA384 (server order over the client's)"
else
  gpc_fail "TLS 1.2 handshake" "$(grep -E 'Cipher|Protocol|alert|error' "$work/s.out" | head -5)"
fi
protocol_checks
# The renegotiation above fails whatever JSSE decides: Tomcat's NIO channel, reading after the
# handshake, runs JSSE's task for the new ClientHello and then closes the connection when JSSE
# has anything to send, so the client sees the same silence either way. What differs is JSSE's
# own decision, which it logs (with -Djavax.net.debug= empty, to the JUL logger javax.net.ssl,
# kept at SEVERE by test/logging.properties): with the listener's
# jdk.tls.rejectClientInitiatedRenegotiation=true it refuses the ClientHello as a fatal error;
# without it, it answers with a ServerHello and logs nothing.
for _ in $(seq 50); do catalina_log "$base" | grep -q 'Client initiated renegotiation is not allowed' && break; sleep 0.1; done
if catalina_log "$base" | grep -q 'Fatal (HANDSHAKE_FAILURE): Client initiated renegotiation is not allowed'; then
  gpc_pass "JSSE itself refused the client-initiated renegotiation (jdk.tls.rejectClientInitiatedRenegotiation in force)"
else
  gpc_fail "JSSE refused the client-initiated renegotiation" "$(catalina_log "$base" | grep 'SSLLogger' | tail -n 3)"
fi

echo "== client certificates refused at the handshake"
handshake_refused "no certificate" none
for c in client-revoked client-expired client-unrelated client-server-eku client-wrong-fqdn; do
  handshake_refused "$c" "$c"
done
grep -q 'CERT_REVOKED' <(catalina_log "$base") && gpc_pass "handshake refusals logged with their reason" \
  || gpc_fail "handshake refusals logged with their reason" "no CERT_REVOKED in the log"

echo "== requests"
fetch client-valid "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
if [ "$status" = 200 ] && grep -q '"id":"2"' "$work/b" && guard_headers; then
  gpc_pass "allowed read: 200 with Cache-Control: no-store and HSTS"
else
  gpc_fail "allowed read" "status $status curl rc $curl_rc $(cat "$work/curl.err") $(head -c 300 "$work/b")"
fi
fetch client-valid "${META[@]}" -H "Authorization: Bearer $ORG" "$url/metadata"
if [ "$status" = 200 ] && guard_headers; then
  gpc_pass "the application's Cache-Control and HSTS replaced"
else
  gpc_fail "the application's Cache-Control and HSTS replaced" "status $status $(tr -d '\r' < "$work/h" | tr '\n' ' ') $(head -c 600 "$work/b")"
fi
fetch client-valid "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/3"
if [ "$status" = 404 ] && guard_headers; then gpc_pass "404 carries the guard headers"; else gpc_fail "404 carries the guard headers" "status $status $(tr -d '\r' < "$work/h" | tr '\n' ' ')"; fi
refused "missing Ssp-TraceID" 400 BAD_REQUEST client-valid -H "Ssp-From: $GPC_ASID_FROM" -H "Ssp-To: $GPC_ASID_TO" \
  -H "Ssp-InteractionID: $GPC_IID:fhir:rest:read:patient-1" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
refused "repeated Ssp-To" 400 BAD_REQUEST client-valid "${READ[@]}" -H "Ssp-To: $GPC_ASID_TO" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
refused "expired JWT" 400 BAD_REQUEST client-valid "${READ[@]}" -H "Authorization: Bearer $(gpc_token -60 'patient/*.read' Device)" "$url/Patient/2"
refused "invalid FHIR claim" 422 INVALID_RESOURCE client-valid "${READ[@]}" -H "Authorization: Bearer $(gpc_token 300 'patient/*.read' Devise)" "$url/Patient/2"
refused "wrong scope" 400 BAD_REQUEST client-valid "${READ[@]}" -H "Authorization: Bearer $(gpc_token 300 'patient/*.write' Device)" "$url/Patient/2"
refused "signed JWT" 400 BAD_REQUEST client-valid "${READ[@]}" -H "Authorization: Bearer $(gpc_signed_token)" "$url/Patient/2"
refused "no Authorization" 400 BAD_REQUEST client-valid "${READ[@]}" "$url/Patient/2"
refused "dot segments judged raw, not after Tomcat normalises them" 400 BAD_REQUEST client-valid "${READ[@]}" \
  -H "Authorization: Bearer $GOOD" --path-as-is "$url/Organization/../Patient/2"
refused "plain-HTTP connector: no certificate (496)" 496 BAD_REQUEST none "${READ[@]}" -H "Authorization: Bearer $GOOD" \
  "http://127.0.0.1:$plain_port$ROOT/Patient/2"
fetch client-valid "${SEARCH[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C9000000009"
# /Patient is a folder of the test application: Tomcat redirects it (302); what matters is that the Valve let it through.
if [ "$status" = 302 ] && ! grep -q OperationOutcome "$work/b" && guard_headers; then
  gpc_pass "search with a query allowed through the Valve"
else
  gpc_fail "search allowed" "status $status $(head -c 300 "$work/b")"
fi

# The jakarta Filter, on a host without the Valve (Host: filtered.localhost on the same connector).
fetch client-valid -H "Host: filtered.localhost" "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
if [ "$status" = 200 ] && grep -q '"id":"2"' "$work/b" && guard_headers; then
  gpc_pass "jakarta Filter: allowed read 200 with the guard headers"
else
  gpc_fail "jakarta Filter: allowed read" "status $status $(head -c 300 "$work/b")"
fi
refused "jakarta Filter: expired JWT" 400 BAD_REQUEST client-valid -H "Host: filtered.localhost" "${READ[@]}" \
  -H "Authorization: Bearer $(gpc_token -60 'patient/*.read' Device)" "$url/Patient/2"
refused "jakarta Filter: plain HTTP, no certificate (496)" 496 BAD_REQUEST none -H "Host: filtered.localhost" "${READ[@]}" \
  -H "Authorization: Bearer $GOOD" "http://127.0.0.1:$plain_port$ROOT/Patient/2"

# A malformed request-target (braces): Tomcat 10.1 passes it to the Host's pipeline, where the
# Valve refuses it with status, body and guard headers (no Tomcat error page without them).
printf 'GET /bad{} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' | openssl s_client -quiet -connect "127.0.0.1:$tls_port" \
  -servername localhost -CAfile "$pki/root-ca.pem" -cert "$pki/client-valid.pem" -key "$pki/client-valid.key" > "$work/raw400" 2>/dev/null
if grep -q '^HTTP/1.1 400' "$work/raw400" && grep -qi '^Cache-Control: no-store' "$work/raw400" \
   && grep -qi '^Strict-Transport-Security:' "$work/raw400" && grep -q '"resourceType":"OperationOutcome"' "$work/raw400"; then
  gpc_pass "a malformed request-target: 400 with OperationOutcome and the guard headers"
else
  gpc_fail "a malformed request-target: 400 with the guard headers" "$(tr -d '\r' < "$work/raw400" | head -n 8 | tr '\n' ' ')"
fi

echo "== gpcguard probe (the operators' self-assessment) against this Tomcat"
probe_checks "$gpcguard"

echo "== CRL swap and reload (reloadInterval) with no restart"
# A TLS session of client-later-revoked, saved while its certificate is good (resumed below).
session_handshake client-later-revoked "$work/sess-full.out" -sess_out "$work/later-revoked.sess"
saved=$(session_status "$work/sess-full.out")
mkfifo "$work/ka.in"
openssl s_client -quiet -connect "127.0.0.1:$tls_port" -servername localhost -CAfile "$pki/root-ca.pem" \
  -cert "$pki/client-later-revoked.pem" -key "$pki/client-later-revoked.key" < "$work/ka.in" > "$work/ka.out" 2>&1 &
ka_pid=$!
exec 7> "$work/ka.in"
request="GET $ROOT/Patient/2 HTTP/1.1\r\nHost: localhost\r\nSsp-TraceID: $GPC_TRACE\r\nSsp-From: $GPC_ASID_FROM\r\nSsp-To: $GPC_ASID_TO\r\nSsp-InteractionID: $GPC_IID:fhir:rest:read:patient-1\r\nAuthorization: Bearer $GOOD\r\n\r\n"
printf "$request" >&7
for _ in $(seq 100); do grep -q '^HTTP/1.1' "$work/ka.out" && break; sleep 0.1; done
first=$(grep -m1 '^HTTP/1.1' "$work/ka.out" | tr -d '\r' | cut -d' ' -f2)
cp "$pki/subca-revoked-later.crl" "$pki/sub-ca.crl"
for _ in $(seq 100); do
  fetch client-later-revoked "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
  [ "$status" = 000 ] && break; sleep 0.2
done
if [ "$first" = 200 ] && [ "$status" = 000 ]; then
  gpc_pass "after the CRL swap and reload a new handshake with client-later-revoked is refused (before: 200)"
else
  gpc_fail "CRL swap and reload" "first $first, new handshake status $status"
fi
printf "$request" >&7
# (the first body has no final newline: the second status line follows it on the same line)
statuses() { grep -o 'HTTP/1.1 [0-9]*' "$work/ka.out" | cut -d' ' -f2; }
for _ in $(seq 100); do [ "$(statuses | wc -l)" -ge 2 ] && break; sleep 0.1; done
exec 7>&-
second=$(statuses | sed -n 2p)
if [ "$second" = 495 ] && grep -q '"code":"BAD_REQUEST"' "$work/ka.out" && grep -q 'later revoked is revoked' "$work/ka.out"; then
  gpc_pass "the kept-alive connection of the revoked client is answered 495"
else
  gpc_fail "kept-alive connection answered 495" "second response: '$second': $(tail -c 600 "$work/ka.out")"
fi
kill "$ka_pid" 2>/dev/null; ka_pid=
# JSSE resumes the saved session without asking the TrustManager (tickets are off, the session
# ID is in JSSE's cache): the Valve's per-request re-check of the peer answers 495.
session_handshake client-later-revoked "$work/sess-resumed.out" -sess_in "$work/later-revoked.sess"
resumed=$(session_status "$work/sess-resumed.out")
if [ "$saved" = 200 ] && grep -q '^Reused, TLSv1.2' "$work/sess-resumed.out" && [ "$resumed" = 495 ] \
   && grep -q '"code":"BAD_REQUEST"' "$work/sess-resumed.out" && grep -q 'later revoked is revoked' "$work/sess-resumed.out"; then
  gpc_pass "a session of client-later-revoked saved before the CRL swap resumes (Reused) and is answered 495 naming the revocation"
else
  gpc_fail "resumed session answered 495" "before: $saved; resumed: '$resumed' $(grep -aE '^(New|Reused)|alert' "$work/sess-resumed.out" | head -n 3) $(tail -c 400 "$work/sess-resumed.out")"
fi

echo "== a failed reload (JMX operation) keeps the old state"
printf 'not a CRL\n' > "$pki/sub-ca.crl"
"$JAVA_HOME/bin/java" "$here/test/JmxReload.java" "$jmx_port" > "$work/jmx.out" 2>&1
fetch client-valid "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
valid=$status
fetch client-later-revoked "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
if grep -q '^failed: .*sub-ca.crl' "$work/jmx.out" && grep -q '^LastReloadError=.*sub-ca.crl' "$work/jmx.out" \
   && [ "$valid" = 200 ] && [ "$status" = 000 ]; then
  gpc_pass "JMX reload with a broken CRL fails naming the file; client-valid still 200, the revoked client still refused"
else
  gpc_fail "failed JMX reload keeps the old state" "$(cat "$work/jmx.out"); client-valid $valid, later-revoked $status"
fi
cp "$pki/subca-revoked-later.crl" "$pki/sub-ca.crl"

echo "== logs"
audit=$(cat "$base"/logs/gpcguard-audit*.log 2>/dev/null)
if grep -q 'read:patient-1' <<< "$audit" && grep -q 'search:patient-1' <<< "$audit"; then
  gpc_pass "audit lines in their own log for allowed requests"
else
  gpc_fail "audit lines" "$(head -c 500 <<< "$audit")"
fi
if ! grep -q 9000000009 <<< "$audit" && ! grep -qF "${GOOD%%.*}" <<< "$audit" && ! grep -qF "$(cut -d. -f2 <<< "$GOOD" | head -c 40)" <<< "$audit" \
   && ! catalina_log "$base" | grep -q 9000000009 && ! catalina_log "$base" | grep -qF "$(cut -d. -f2 <<< "$GOOD" | head -c 40)"; then
  gpc_pass "no token and no query value in the audit or Tomcat logs"
else
  gpc_fail "no token and no query value in the logs" "found"
fi
if catalina_log "$base" | grep -q 'gpcguard refused 422 JWT_INVALID_RESOURCE'; then
  gpc_pass "refusals in Tomcat's log with reason"
else
  gpc_fail "refusals in Tomcat's log" "$(catalina_log "$base" | grep -i gpcguard | head -3)"
fi

gpc_summary
