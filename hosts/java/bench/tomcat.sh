#!/usr/bin/env bash
# The Tomcat row of `make bench`: requests/s of a real Tomcat 10.1 (Debian's tomcat10,
# `catalina.sh run`, JSSE, the test configuration of hosts/tomcat started as test10.sh starts it)
# over keep-alive mTLS connections with a valid token, once through a Host with the
# GpcGuardValve and once through a Host without it, on the same connector (the listener's TLS
# policy on both). Not a test: it never fails on a number; it fails when a request is refused.
#   hosts/java/bench/tomcat.sh BUILD_DIR [SECONDS] [RUNS]
# Prints "tomcat_valve RPS" and "tomcat_plain RPS" (medians of RUNS timed runs of SECONDS each,
# after a warm-up run), then "tomcat_connections N".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tomcat=$(cd "$here/../../tomcat" && pwd)
. "$here/../../test-helpers.sh"
build=$(cd "${1:?usage: tomcat.sh BUILD_DIR [SECONDS] [RUNS]}" && pwd)
seconds=${2:-5}; runs=${3:-3}; connections=2
CATALINA_HOME=${CATALINA_HOME:-/usr/share/tomcat10}
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)}
export JAVA_HOME
ROOT=/A20047/STU3/1/gpconnect

work=$build/bench-tomcat
rm -rf "$work" && mkdir -p "$work"
pki=$work/pki
tomcat_pid=
stop_tomcat() {
  # catalina.sh run execs the JVM: $tomcat_pid is Tomcat. TERM, a bounded wait, then KILL.
  [ -n "$tomcat_pid" ] || return 0
  kill "$tomcat_pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$tomcat_pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$tomcat_pid" 2>/dev/null || true
  wait "$tomcat_pid" 2>/dev/null || true
  tomcat_pid=
}
trap stop_tomcat EXIT
gpc_make_pki "$pki" "$ROOT"
cc -O2 -Wall -o "$work/tc_load" "$here/tc_load.c" -lssl -lcrypto -lpthread

# The CATALINA_BASE of test10.sh (its server.xml.in, Valve in Host localhost), where the test's
# Filter host becomes a Host without the Valve serving the same files. Keep-alive without a
# per-connection request limit, so the rate is of requests, not of handshakes.
base=$work/base
tls_port=$(gpc_free_port); plain_port=$(gpc_free_port); shutdown_port=$(gpc_free_port)
mkdir -p "$base"/{conf,lib,logs,temp,work,webapps/ROOT$ROOT/Patient}
sed -e "s#@CONFIG@#$pki/provider.toml#; s#@PKI@#$pki#g; s#@TLS_PORT@#$tls_port#; s#@PLAIN_PORT@#$plain_port#; s#@SHUTDOWN_PORT@#$shutdown_port#; s#@SHUTDOWN@#$(openssl rand -hex 16)#" \
  -e 's#<Host name="filtered.localhost" appBase="webapps-filtered"#<Host name="plain.localhost" appBase="webapps"#' \
  -e 's#SSLEnabled="true" maxThreads="20"#SSLEnabled="true" maxThreads="20" maxKeepAliveRequests="-1"#' \
  "$tomcat/test/server.xml.in" > "$base/conf/server.xml"
grep -q 'plain.localhost' "$base/conf/server.xml" && grep -q 'maxKeepAliveRequests="-1"' "$base/conf/server.xml" \
  || { echo "tomcat.sh: hosts/tomcat/test/server.xml.in changed; the bench's edits no longer apply" >&2; exit 1; }
cp "$tomcat/test/logging.properties" "$base/conf/"
cp /etc/tomcat10/web.xml /etc/tomcat10/context.xml /etc/tomcat10/catalina.properties "$base/conf/"
cp "$build/gpcguard.jar" "$base/lib/"
printf '{"resourceType":"Patient","id":"2"}' > "$base/webapps/ROOT$ROOT/Patient/2"

CATALINA_BASE=$base CATALINA_HOME=$CATALINA_HOME CATALINA_PID= \
CATALINA_OPTS="-Dgpcguard.jni.library=$build/libgpcguard_jni.so -Xmx256m" \
  "$CATALINA_HOME/bin/catalina.sh" run > "$base/logs/stdout.log" 2>&1 &
tomcat_pid=$!
# Ready when the plain connector answers (as test10.sh waits), bounded at 120 s.
for _ in $(seq 600); do
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$plain_port/" && break
  kill -0 "$tomcat_pid" 2>/dev/null || { echo "tomcat.sh: Tomcat exited:" >&2; tail -30 "$base/logs/stdout.log" >&2; exit 1; }
  sleep 0.2
done
curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$plain_port/" || { echo "tomcat.sh: Tomcat did not start within 120 s" >&2; exit 1; }

# The token must stay valid through every run: exp 300 s ahead, the runs take well under that.
token=$(gpc_token 300 'patient/*.read' Device)
request() {
  printf 'GET %s/Patient/2 HTTP/1.1\r\nHost: %s\r\nSsp-TraceID: %s\r\nSsp-From: %s\r\nSsp-To: %s\r\nSsp-InteractionID: %s\r\nAuthorization: Bearer %s\r\nAccept: application/fhir+json\r\n\r\n' \
    "$ROOT" "$1" "$GPC_TRACE" "$GPC_ASID_FROM" "$GPC_ASID_TO" "$GPC_IID:fhir:rest:read:patient-1" "$token"
}
request localhost > "$work/valve.req"
request plain.localhost > "$work/plain.req"

# rate NAME: warm-up, then the median requests/s of $runs runs; every answer must be a 200.
rate() {
  local out all=()
  "$work/tc_load" "$tls_port" "$pki/client-valid.pem" "$pki/client-valid.key" "$pki/root-ca.pem" "$work/$1.req" "$connections" "$seconds" > /dev/null
  for _ in $(seq "$runs"); do
    out=$("$work/tc_load" "$tls_port" "$pki/client-valid.pem" "$pki/client-valid.key" "$pki/root-ca.pem" "$work/$1.req" "$connections" "$seconds")
    case $out in
      *" failed=0 "*) ;;
      *) echo "tomcat.sh: $1: $out" >&2; tail -20 "$base/logs/stdout.log" >&2; exit 1 ;;
    esac
    all+=("$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<< "$out")")
    echo "tomcat.sh: $1: $out" >&2
  done
  printf '%s\n' "${all[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
valve=$(rate valve)
plain=$(rate plain)
# The Valve really judged the first: a request with no token through it is refused.
printf 'GET %s/Patient/2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$ROOT" > "$work/bare.req"
bare=$("$work/tc_load" "$tls_port" "$pki/client-valid.pem" "$pki/client-valid.key" "$pki/root-ca.pem" "$work/bare.req" 1 1)
case $bare in
  *" ok=0 "*) ;;
  *) echo "tomcat.sh: a request without SSP headers was answered 200 through the Valve: $bare" >&2; exit 1 ;;
esac
printf 'tomcat_valve %s\ntomcat_plain %s\ntomcat_connections %s\n' "$valve" "$plain" "$connections"
