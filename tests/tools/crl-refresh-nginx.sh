#!/usr/bin/env bash
# End to end: a CRL published at the distribution point its certificates name (a python3
# http.server on 127.0.0.1), `gpcguard crl-fetch --on-change "nginx -s reload"`, and the real
# nginx with ngx_http_gpcguard_module then refusing the newly revoked client in the handshake,
# without a restart, while the status page shows the new CRL.
#
# Usage: tests/tools/crl-refresh-nginx.sh GPCGUARD-BINARY NGINX-MODULE.so
set -euo pipefail
gpcguard=$(realpath "${1:?usage: crl-refresh-nginx.sh GPCGUARD MODULE.so}")
module=$(realpath "${2:?usage: crl-refresh-nginx.sh GPCGUARD MODULE.so}")
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/hosts/test-helpers.sh"
NGINX=${NGINX:-/usr/sbin/nginx}

work=$(mktemp -d /tmp/gpcguard-crl-refresh.XXXXXX)
chmod 755 "$work"
http_pid=
cleanup() {
  [ -s "$work/nginx.pid" ] && "$NGINX" -p "$work/" -c "$work/nginx.conf" -s quit 2>/dev/null || true
  [ -n "$http_pid" ] && kill "$http_pid" 2>/dev/null || true
  for _ in $(seq 50); do [ -s "$work/nginx.pid" ] && kill -0 "$(cat "$work/nginx.pid")" 2>/dev/null || break; sleep 0.1; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

http_port=$(gpc_free_port)
tls_port=$(gpc_free_port)
status_port=$(gpc_free_port)
pki=$work/pki
"$repo/tests/crl_fetch_pki.sh" "$pki" "http://127.0.0.1:$http_port" >/dev/null
chmod -R a+rX "$pki"
mkdir -p "$work/www" "$work/logs" "$work/tmp"
# The distribution point publishes the SubCA's next CRL (it also revokes client-b).
cp "$pki/sub-good.crl" "$work/www/sub-ca.crl"
openssl crl -in "$pki/root-ca.crl" -outform DER -out "$work/www/root-ca.crl"
python3 -m http.server "$http_port" --bind 127.0.0.1 --directory "$work/www" > "$work/logs/http.log" 2>&1 & http_pid=$!

cat > "$work/nginx.conf" <<CONF
load_module $module;
daemon on;
pid $work/nginx.pid;
error_log $work/logs/error.log info;
events { worker_connections 64; }
http {
    access_log $work/logs/access.log;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    server {
        listen 127.0.0.1:$tls_port ssl;
        ssl_certificate $pki/server-chain.pem;
        ssl_certificate_key $pki/server.key;
        gpcguard on;
        gpcguard_config $pki/provider.toml;
        location / { return 204; }
    }
    server {
        listen 127.0.0.1:$status_port;
        location = /status { gpcguard_config $pki/provider.toml; gpcguard_status; }
    }
}
CONF
"$NGINX" -p "$work/" -c "$work/nginx.conf"
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$status_port/status" && break; sleep 0.1; done
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$http_port/root-ca.crl" && break; sleep 0.1; done
master=$(cat "$work/nginx.pid")

# handshake CERT: "accepted" when nginx answered (the request itself is refused, no SSP
# headers), else the alert curl reports.
handshake() {
  local err
  if err=$(curl -sS -o /dev/null --max-time 10 --cacert "$pki/root-ca.pem" --cert "$pki/$1.pem" --key "$pki/$1.key" \
      "https://localhost:$tls_port/" --resolve "localhost:$tls_port:127.0.0.1" 2>&1); then echo accepted; else echo "$err"; fi
}
entries() { curl -sS "http://127.0.0.1:$status_port/status" | grep -F 'gpcguard_crl_entries{issuer="CN=Fetch SubCA,O=gpcguard test"' | sed 's/.* //'; }

echo "== before: client-b accepted, the SubCA CRL has 1 entry"
[ "$(handshake client-b)" = accepted ] && gpc_pass "client-b accepted before the refresh" || gpc_fail "client-b accepted before the refresh" "$(handshake client-b)"
[ "$(entries)" = 1 ] && gpc_pass "status: SubCA CRL with 1 entry" || gpc_fail "status: SubCA CRL with 1 entry" "$(entries)"

echo "== gpcguard crl-fetch --on-change 'nginx -t && nginx -s reload'"
old_workers=$(pgrep -P "$master" || true)
reload="'$NGINX' -t -q -p '$work/' -c '$work/nginx.conf' && '$NGINX' -p '$work/' -c '$work/nginx.conf' -s reload"
if "$gpcguard" crl-fetch --config "$pki/provider.toml" --on-change "$reload" > "$work/fetch.out" 2>&1; then
  gpc_pass "crl-fetch exit 0"
else
  gpc_fail "crl-fetch exit 0" "$(cat "$work/fetch.out")"
fi
cat "$work/fetch.out"
grep -q "CN=Fetch SubCA,O=gpcguard test: updated $pki/sub-ca.crl from http://127.0.0.1:$http_port/sub-ca.crl: crlNumber 1001 -> 1002" "$work/fetch.out" \
  && gpc_pass "crl-fetch says what changed" || gpc_fail "crl-fetch says what changed" "$(cat "$work/fetch.out")"
grep -q "running .*-s reload" "$work/fetch.out" && gpc_pass "the reload ran after the write" || gpc_fail "the reload ran after the write" "$(cat "$work/fetch.out")"

echo "== after the reload: client-b refused in the handshake, client-a still refused, same master"
# Until the previous generation's workers have exited they still accept connections with the
# old CRL: wait for them (bounded), then judge.
for _ in $(seq 150); do
  alive=; for w in $old_workers; do kill -0 "$w" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && break; sleep 0.1
done
out=$(handshake client-b)
grep -qi "certificate revoked" <<<"$out" && gpc_pass "client-b refused (alert certificate revoked)" || gpc_fail "client-b refused (alert certificate revoked)" "$out"
out=$(handshake client-a)
grep -qi "certificate revoked" <<<"$out" && gpc_pass "client-a still refused" || gpc_fail "client-a still refused" "$out"
[ "$(entries)" = 2 ] && gpc_pass "status: SubCA CRL with 2 entries" || gpc_fail "status: SubCA CRL with 2 entries" "$(entries)"
[ "$(cat "$work/nginx.pid")" = "$master" ] && kill -0 "$master" && gpc_pass "same nginx master (reload, no restart)" || gpc_fail "same nginx master" "$(cat "$work/nginx.pid") vs $master"

echo "== a second run: nothing to change, no reload"
"$gpcguard" crl-fetch --config "$pki/provider.toml" --on-change "echo RELOADED" > "$work/fetch2.out" 2>&1 || true
if grep -q "CN=Fetch SubCA,O=gpcguard test: unchanged" "$work/fetch2.out" && ! grep -q RELOADED "$work/fetch2.out"; then
  gpc_pass "second run: unchanged, no reload"
else
  gpc_fail "second run: unchanged, no reload" "$(cat "$work/fetch2.out")"
fi

echo "== the distribution point serves a stale CRL: kept, no reload, exit 1"
cp "$pki/sub-stale.crl" "$work/www/sub-ca.crl"
before=$(sha256sum < "$pki/sub-ca.crl")
rc=0; "$gpcguard" crl-fetch --config "$pki/provider.toml" --on-change "echo RELOADED" > "$work/fetch3.out" 2>&1 || rc=$?
if [ "$rc" = 1 ] && grep -q "it is stale" "$work/fetch3.out" && ! grep -q RELOADED "$work/fetch3.out" && [ "$(sha256sum < "$pki/sub-ca.crl")" = "$before" ]; then
  gpc_pass "stale CRL refused, installed file kept"
else
  gpc_fail "stale CRL refused, installed file kept" "rc $rc: $(cat "$work/fetch3.out")"
fi
echo
gpc_summary
