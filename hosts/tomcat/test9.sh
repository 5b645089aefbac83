#!/usr/bin/env bash
# Real Tomcat 9.0 with the APR/native connector — the security page's own configuration
# (SSLCipherSuite, SSLHonorCipherOrder, SSLProtocol, SSLVerifyClient) — embedded from Debian's
# libtomcat9-java jars with Debian's tcnative (hosts/tomcat/test/Tomcat9Main.java), with
# org.gpcguard.tomcat9.GpcGuardListener, the Valve (root context) and the javax Filter
# (/filtered), driven by curl, openssl s_client and sslscan.
#
#   hosts/tomcat/test9.sh BUILD_DIR GPCGUARD   (BUILD_DIR holds gpcguard.jar and libgpcguard_jni.so;
#                                            GPCGUARD is the gpcguard command, for its probe)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../test-helpers.sh"
. "$here/test-common.sh"
build=$(cd "${1:?usage: test9.sh BUILD_DIR GPCGUARD}" && pwd)
gpcguard=$(realpath "${2:?usage: test9.sh BUILD_DIR GPCGUARD (the gpcguard command)}")
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)}
TCNATIVE_DIR=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
T9=/usr/share/java
cp9=$(ls $T9/tomcat9-{catalina,servlet-api,coyote,util,util-scan,api,juli,jni,annotations-api,jaspic-api,el-api}.jar | tr '\n' ':')

tomcat_test_setup
mkdir -p "$work/classes" "$work/webroot$ROOT/Patient"
printf '{"resourceType":"Patient","id":"2"}' > "$work/webroot$ROOT/Patient/2"
"$JAVA_HOME/bin/javac" -d "$work/classes" -cp "$build/gpcguard.jar:$cp9" "$here/test/Tomcat9Main.java" || exit 1

# start_tomcat BASE CONFIG [RELOAD_INTERVAL]: the embedded Tomcat 9 on fresh ports, JMX on
# $jmx_port; output in BASE/stdout.log.
start_tomcat() {
  mkdir -p "$1"
  tls_port=$(gpc_free_port); plain_port=$(gpc_free_port); jmx_port=$(gpc_free_port)
  "$JAVA_HOME/bin/java" -Xmx256m -Djava.library.path="$TCNATIVE_DIR" -Dgpcguard.jni.library="$build/libgpcguard_jni.so" \
    -Dcom.sun.management.jmxremote.port="$jmx_port" -Dcom.sun.management.jmxremote.host=127.0.0.1 \
    -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false \
    -cp "$work/classes:$build/gpcguard.jar:$cp9" Tomcat9Main "$1" "$pki" "$2" "$tls_port" "$plain_port" "$work/webroot" ${3:-} \
    > "$1/stdout.log" 2>&1 &
  tomcat_pid=$!
}

echo "== a bad gpcguard configuration fails startup, naming the key and the file"
grep -v '^provider_asid' "$pki/provider.toml" > "$pki/bad.toml"
start_tomcat "$work/bad" "$pki/bad.toml"
for _ in $(seq 300); do kill -0 "$tomcat_pid" 2>/dev/null || break; sleep 0.2; done
if ! kill -0 "$tomcat_pid" 2>/dev/null && grep -q provider_asid "$work/bad/stdout.log" && grep -qF "$pki/bad.toml" "$work/bad/stdout.log"; then
  gpc_pass "bad configuration: the embedded Tomcat exits naming provider_asid and $pki/bad.toml"
else
  gpc_fail "bad configuration fails startup" "$(grep -iE 'gpcguard|SEVERE' "$work/bad/stdout.log" | head -5)"
fi
kill "$tomcat_pid" 2>/dev/null; wait "$tomcat_pid" 2>/dev/null; tomcat_pid=

# wait_started BASE: until the plain connector answers; exits the test if Tomcat died.
wait_started() {
  for _ in $(seq 600); do
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$plain_port/" && return 0
    kill -0 "$tomcat_pid" 2>/dev/null || { echo "Tomcat exited:"; tail -n 30 "$1/stdout.log"; exit 1; }
    sleep 0.2
  done
}

echo "== starting the embedded Tomcat 9 (APR, the page's attributes)"
base=$work/base
start_tomcat "$base" "$pki/provider.toml"
wait_started "$base"
if grep -q 'gpcguard policy applied to the native SSL_CTX of connector port' "$base/stdout.log"; then
  gpc_pass "the policy is applied to the APR connector's native SSL_CTX ($(grep -o 'tcnative [0-9.]*' "$base/stdout.log" | head -1))"
else
  gpc_fail "policy applied to the native SSL_CTX" "$(grep -iE 'gpcguard|apr|SEVERE' "$base/stdout.log" | head -5)"
fi
url=https://localhost:$tls_port$ROOT

GOOD=$(gpc_token 300 'patient/*.read' Device)
ORG=$(gpc_token 300 'organization/*.read' Device)
gpc_ssp_headers READ fhir:rest:read:patient-1
gpc_ssp_headers META fhir:rest:read:metadata-1

echo "== TLS: exactly the Spine suites in server order (sslscan), protocols, renegotiation"
sslscan --no-colour --certs="$pki/client-valid.pem" --pk="$pki/client-valid.key" --xml="$work/sslscan.xml" \
  "127.0.0.1:$tls_port" > "$work/sslscan.out" 2>&1
found=$(grep -o '<cipher status="[a-z]*" sslversion="[^"]*" bits="[0-9]*" cipher="[^"]*"' "$work/sslscan.xml" \
  | sed 's/.*sslversion="\([^"]*\)".*cipher="\([^"]*\)"/\1 \2/' | tr '\n' ' ')
want=$(python3 -c 'import json,sys; print(" ".join("TLSv1.2 "+c for c in json.load(open(sys.argv[1]))["sslscan"]["accepted_suites_in_order_found"]["TLSv1.2"]))' \
  "$GPC_REPO/c-tests/scan/expected.json")
if [ "$found" = "$want " ]; then
  gpc_pass "sslscan: exactly the 10 suites of c-tests/scan/expected.json, TLS 1.2 only, in server order"
else
  gpc_fail "sslscan suites" "found: $found; want: $want"
fi
if grep -q 'preferred' "$work/sslscan.xml" && grep -q 'status="preferred" sslversion="TLSv1.2" bits="256" cipher="ECDHE-RSA-AES256-GCM-SHA384"' "$work/sslscan.xml"; then
  gpc_pass "sslscan: ECDHE-RSA-AES256-GCM-SHA384 preferred"
else
  gpc_fail "sslscan preferred suite" "$(grep preferred "$work/sslscan.xml")"
fi
protocol_checks

echo "== client certificates refused at the handshake, with the alert that names the failure"
tls_refused "no client certificate" none "handshake failure"
tls_refused "revoked client certificate" client-revoked "certificate revoked"
tls_refused "expired client certificate" client-expired "certificate expired"
tls_refused "client certificate from an unrelated CA" client-unrelated "unknown ca"
tls_refused "client certificate for another FQDN" client-wrong-fqdn "bad certificate"
tls_refused "client certificate without clientAuth" client-server-eku "unsupported certificate"

echo "== requests through the Valve"
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
  gpc_fail "the application's Cache-Control and HSTS replaced" "status $status $(tr -d '\r' < "$work/h" | tr '\n' ' ')"
fi
fetch client-valid "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/3"
if [ "$status" = 404 ] && guard_headers; then gpc_pass "404 carries the guard headers"; else gpc_fail "404 carries the guard headers" "status $status"; fi
refused "missing Ssp-TraceID" 400 BAD_REQUEST client-valid -H "Ssp-From: $GPC_ASID_FROM" -H "Ssp-To: $GPC_ASID_TO" \
  -H "Ssp-InteractionID: $GPC_IID:fhir:rest:read:patient-1" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
refused "expired JWT" 400 BAD_REQUEST client-valid "${READ[@]}" -H "Authorization: Bearer $(gpc_token -60 'patient/*.read' Device)" "$url/Patient/2"
refused "invalid FHIR claim" 422 INVALID_RESOURCE client-valid "${READ[@]}" -H "Authorization: Bearer $(gpc_token 300 'patient/*.read' Devise)" "$url/Patient/2"
refused "wrong scope" 400 BAD_REQUEST client-valid "${READ[@]}" -H "Authorization: Bearer $(gpc_token 300 'patient/*.write' Device)" "$url/Patient/2"
refused "dot segments judged raw" 400 BAD_REQUEST client-valid "${READ[@]}" \
  -H "Authorization: Bearer $GOOD" --path-as-is "$url/Organization/../Patient/2"
refused "plain-HTTP connector: no certificate (496)" 496 BAD_REQUEST none "${READ[@]}" -H "Authorization: Bearer $GOOD" \
  "http://127.0.0.1:$plain_port$ROOT/Patient/2"

echo "== requests through the javax Filter (/filtered)"
refused "Filter: no Authorization" 400 BAD_REQUEST client-valid "${READ[@]}" "https://localhost:$tls_port/filtered$ROOT/Patient/2"
refused "Filter: plain HTTP, no certificate (496)" 496 BAD_REQUEST none "${READ[@]}" -H "Authorization: Bearer $GOOD" \
  "http://127.0.0.1:$plain_port/filtered$ROOT/Patient/2"

echo "== gpcguard probe (the operators' self-assessment) against this Tomcat"
probe_checks "$gpcguard"

echo "== CRL swap and reload (reloadInterval) with no restart"
# A TLS session (ticket) of client-later-revoked, saved while its certificate is good.
session_handshake client-later-revoked "$work/sess-full.out" -sess_out "$work/later-revoked.sess"
saved=$(session_status "$work/sess-full.out")
mkfifo "$work/ka.in"
timeout 60 openssl s_client -quiet -connect "127.0.0.1:$tls_port" -servername localhost -CAfile "$pki/root-ca.pem" \
  -cert "$pki/client-later-revoked.pem" -key "$pki/client-later-revoked.key" < "$work/ka.in" > "$work/ka.out" 2>&1 &
ka_pid=$!
exec 7> "$work/ka.in"
request="GET $ROOT/Patient/2 HTTP/1.1\r\nHost: localhost\r\nSsp-TraceID: $GPC_TRACE\r\nSsp-From: $GPC_ASID_FROM\r\nSsp-To: $GPC_ASID_TO\r\nSsp-InteractionID: $GPC_IID:fhir:rest:read:patient-1\r\nAuthorization: Bearer $GOOD\r\n\r\n"
printf "$request" >&7
statuses() { grep -o 'HTTP/1.1 [0-9]*' "$work/ka.out" | cut -d' ' -f2; }
for _ in $(seq 100); do [ "$(statuses | wc -l)" -ge 1 ] && break; sleep 0.1; done
first=$(statuses | head -n 1)
cp "$pki/subca-revoked-later.crl" "$pki/sub-ca.crl"
for _ in $(seq 100); do
  fetch client-later-revoked "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
  [ "$status" = 000 ] && break; sleep 0.2
done
if [ "$first" = 200 ] && [ "$status" = 000 ] && grep -qi 'certificate revoked' "$work/curl.err"; then
  gpc_pass "after the CRL swap and reload a new handshake with client-later-revoked is refused (alert certificate revoked; before: 200)"
else
  gpc_fail "CRL swap and reload" "first $first, new handshake status $status $(cat "$work/curl.err")"
fi
printf "$request" >&7
for _ in $(seq 100); do [ "$(statuses | wc -l)" -ge 2 ] && break; sleep 0.1; done
exec 7>&-
second=$(statuses | sed -n 2p)
if [ "$second" = 495 ] && grep -q 'later revoked is revoked' "$work/ka.out"; then
  gpc_pass "the kept-alive connection of the revoked client is answered 495"
else
  gpc_fail "kept-alive connection answered 495" "second response: '$second': $(tail -c 600 "$work/ka.out")"
fi
kill "$ka_pid" 2>/dev/null; ka_pid=
# gpcguard's ticket callback: the ticket's stamp is of the state before the reload, so the
# certificate is verified again, fails, and the client gets a full handshake, which refuses the
# certificate it sends with the alert that names it. Nothing is answered.
session_handshake client-later-revoked "$work/sess-resumed.out" -sess_in "$work/later-revoked.sess"
resumed=$(session_status "$work/sess-resumed.out")
if [ "$saved" = 200 ] && grep -q 'TLS session ticket:' "$work/sess-full.out" && [ -z "$resumed" ] \
   && ! grep -q '^Reused' "$work/sess-resumed.out" && grep -qi 'alert certificate revoked' "$work/sess-resumed.out"; then
  gpc_pass "a session (ticket) of client-later-revoked saved before the CRL swap is not resumed: full handshake refused with alert certificate revoked"
else
  gpc_fail "resumed session refused" "before: $saved; after: status '$resumed' $(grep -aE '^(New|Reused)|alert' "$work/sess-resumed.out" | head -n 3) $(tail -c 400 "$work/sess-resumed.out")"
fi

echo "== logs"
audit=$(cat "$base/gpcguard-audit.log" 2>/dev/null)
if grep -q 'read:patient-1' <<< "$audit" && ! grep -qF "$(cut -d. -f2 <<< "$GOOD" | head -c 40)" <<< "$audit" \
   && ! grep -qF "$(cut -d. -f2 <<< "$GOOD" | head -c 40)" "$base/stdout.log"; then
  gpc_pass "audit lines in their own log, no token in any log"
else
  gpc_fail "audit lines" "$(head -c 500 <<< "$audit")"
fi

echo "== Tomcat re-creates its SSL contexts (reloadSslHostConfigs over JMX), no listener reload"
kill "$tomcat_pid" 2>/dev/null; wait "$tomcat_pid" 2>/dev/null; tomcat_pid=
base=$work/reloadssl
start_tomcat "$base" "$pki/provider.toml" 0     # no reloadInterval: nothing re-applies by the clock
wait_started "$base"
url=https://localhost:$tls_port$ROOT
"$JAVA_HOME/bin/java" "$here/test/JmxReload.java" "$jmx_port" 'Tomcat:type=ThreadPool,name=*' reloadSslHostConfigs > "$work/jmx-ssl.out" 2>&1
if grep -q '^invoked reloadSslHostConfigs on Tomcat:type=ThreadPool,name="https-openssl-apr' "$work/jmx-ssl.out"; then
  gpc_pass "reloadSslHostConfigs invoked on the APR connector over JMX"
else
  gpc_fail "reloadSslHostConfigs over JMX" "$(cat "$work/jmx-ssl.out")"
fi
# Clients that send SNI (curl and s_client here) are moved by tcnative to the re-created context.
if s_client -tls1_2 -cipher 'ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384' \
   && grep -q 'Cipher is ECDHE-RSA-AES256-GCM-SHA384' "$work/s.out"; then
  gpc_pass "after reloadSslHostConfigs: server order still picks ECDHE-RSA-AES256-GCM-SHA384"
else
  gpc_fail "after reloadSslHostConfigs: server order" "$(grep -E 'Cipher|alert|error' "$work/s.out" | head -n 4)"
fi
tls_refused "after reloadSslHostConfigs: revoked client certificate" client-revoked "certificate revoked"
tls_refused "after reloadSslHostConfigs: client certificate for another FQDN" client-wrong-fqdn "bad certificate"
tls_refused "after reloadSslHostConfigs: client certificate from an unrelated CA" client-unrelated "unknown ca"
fetch client-valid "${READ[@]}" -H "Authorization: Bearer $GOOD" "$url/Patient/2"
if [ "$status" = 200 ] && grep -q 'gpcguard policy applied to the re-created native SSL_CTX' "$base/stdout.log"; then
  gpc_pass "after reloadSslHostConfigs: client-valid 200; the listener logged applying the policy to the re-created context"
else
  gpc_fail "after reloadSslHostConfigs: client-valid 200, policy re-applied" "status $status $(cat "$work/curl.err"); $(grep -i gpcguard "$base/stdout.log" | tail -n 3)"
fi
# Connections without SNI stay on the context of the connector's bind, which Tomcat no longer
# references once replaced: after a full GC (and its finalizers) it must still be there.
for _ in 1 2; do "$JAVA_HOME/bin/java" "$here/test/JmxReload.java" "$jmx_port" 'java.lang:type=Memory' gc >> "$work/jmx-ssl.out" 2>&1; done
session_handshake client-valid "$work/nosni.out" -noservername
if [ "$(session_status "$work/nosni.out")" = 200 ] && kill -0 "$tomcat_pid" 2>/dev/null; then
  gpc_pass "after reloadSslHostConfigs and a full GC: a connection without SNI (the bind context) still served 200"
else
  gpc_fail "after reloadSslHostConfigs and a full GC: the bind context serves" "$(grep -aE 'HTTP/1.1|alert|errno' "$work/nosni.out" | head -n 3) $(tail -n 5 "$base/stdout.log")"
fi

gpc_summary
