#!/usr/bin/env bash
# `gpcguard probe` against real servers on 127.0.0.1:
#  - nginx with ngx_http_gpcguard_module (the configuration of hosts/nginx/test.sh, reduced): every row passes;
#  - Apache httpd with mod_gpcguard (as hosts/apache/test.sh): every row passes;
#  - nginx with plain ssl_* mutual TLS and no gpcguard (TLS 1.2, the Spine cipher string in
#    server order, ssl_verify_client on, the Spine CAs and CRLs): the rows gpcguard adds fail,
#    row by row, and the rest pass.
# The test CA is the test PKI's SubCA (c-tests/make-pki.sh), whose CRL revokes a serial.
#
# Usage: tests/tools/probe.sh GPCGUARD-BINARY NGINX-MODULE.so APACHE-MODULE.so
set -euo pipefail
gpcguard=$(realpath "${1:?usage: probe.sh GPCGUARD NGINX-MODULE.so APACHE-MODULE.so}")
nginx_module=$(realpath "${2:?usage: probe.sh GPCGUARD NGINX-MODULE.so APACHE-MODULE.so}")
apache_module=$(realpath "${3:?usage: probe.sh GPCGUARD NGINX-MODULE.so APACHE-MODULE.so}")
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/hosts/test-helpers.sh"
NGINX=${NGINX:-/usr/sbin/nginx}
APACHE=${APACHE:-/usr/sbin/apache2}
MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}

work=$(mktemp -d /tmp/gpcguard-probe.XXXXXX)
chmod 755 "$work"
cleanup() {
  local conf
  for conf in "$work"/nginx-*.conf; do
    [ -e "$conf" ] && "$NGINX" -p "$work/" -c "$conf" -s quit 2>/dev/null || true
  done
  [ -s "$work/apache/httpd.pid" ] && kill -TERM "$(cat "$work/apache/httpd.pid")" 2>/dev/null || true
  sleep 0.5
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

root=/A20047/STU3/1/gpconnect
pki=$work/pki
gpc_make_pki "$pki" "$root"
cat "$pki/root-ca.crl" "$pki/sub-ca.crl" > "$pki/all.crl"
cat "$pki/root-ca.pem" "$pki/sub-ca.pem" > "$pki/spine-cas.pem"
mkdir -p "$work/static$root/Patient" "$work/logs" "$work/tmp" "$work/apache"
printf '%s' '{"resourceType":"CapabilityStatement","status":"active","kind":"instance","fhirVersion":"3.0.1"}' > "$work/static$root/metadata"
printf '%s' '{"resourceType":"Patient","id":"2"}' > "$work/static$root/Patient/2"
chmod -R a+rX "$work/static" "$pki"

# nginx_start NAME SERVER-DIRECTIVES: an nginx (own prefix, pid, logs) with one TLS server.
nginx_start() {
  local name=$1 port=$2 body=$3 load=${4:-}
  cat > "$work/nginx-$name.conf" <<CONF
$load
daemon on;
pid $work/nginx-$name.pid;
error_log $work/logs/$name-error.log info;
events { worker_connections 64; }
http {
    access_log $work/logs/$name-access.log;
    client_body_temp_path $work/tmp/$name-body;
    proxy_temp_path $work/tmp/$name-proxy;
    fastcgi_temp_path $work/tmp/$name-fastcgi;
    uwsgi_temp_path $work/tmp/$name-uwsgi;
    scgi_temp_path $work/tmp/$name-scgi;
    server {
        listen 127.0.0.1:$port ssl;
        server_name localhost;
        ssl_certificate $pki/server-chain.pem;
        ssl_certificate_key $pki/server.key;
$body
        location $root/ {
            root $work/static;
            default_type application/fhir+json;
        }
    }
}
CONF
  "$NGINX" -p "$work/" -c "$work/nginx-$name.conf"
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.1; done
  echo "nginx $name did not start: $(tail -5 "$work/logs/$name-error.log")" >&2; return 1
}

guarded_port=$(gpc_free_port)
nginx_start guarded "$guarded_port" "        gpcguard on;
        gpcguard_config $pki/provider.toml;" "load_module $nginx_module;"

plain_port=$(gpc_free_port)
nginx_start plain "$plain_port" "        ssl_protocols TLSv1.2;
        ssl_ciphers AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH;
        ssl_prefer_server_ciphers on;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_client_certificate $pki/spine-cas.pem;
        ssl_crl $pki/all.crl;"

apache_port=$(gpc_free_port)
cat > "$work/apache/httpd.conf" <<CONF
ServerRoot "$work/apache"
DefaultRuntimeDir "$work/apache"
PidFile "$work/apache/httpd.pid"
ErrorLog "$work/logs/apache-error.log"
LogLevel warn
ServerName localhost
Listen 127.0.0.1:$apache_port
LoadModule mpm_event_module $MODULES/mod_mpm_event.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule alias_module $MODULES/mod_alias.so
LoadModule socache_shmcb_module $MODULES/mod_socache_shmcb.so
LoadModule ssl_module $MODULES/mod_ssl.so
LoadModule gpcguard_module $apache_module
User nobody
Group nogroup
StartServers 1
ServerLimit 2
ThreadsPerChild 8
MaxRequestWorkers 16
<VirtualHost 127.0.0.1:$apache_port>
  ServerName localhost
  SSLEngine on
  SSLCertificateFile "$pki/server-chain.pem"
  SSLCertificateKeyFile "$pki/server.key"
  GpcGuard On
  GpcGuardConfig "$pki/provider.toml"
  Alias "$root" "$work/static$root"
  <Directory "$work/static">
    Require all granted
    ForceType application/fhir+json
  </Directory>
</VirtualHost>
CONF
"$APACHE" -f "$work/apache/httpd.conf" -k start
for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$apache_port") 2>/dev/null && break; sleep 0.1; done

# probe NAME PORT: runs the probe, output in $work/probe-NAME.out, exit status in $probe_rc.
probe() {
  probe_rc=0
  "$gpcguard" probe "https://localhost:$2$root" --config "$pki/provider.toml" --server-ca "$pki/root-ca.pem" \
    --client "$pki/client-valid.pem" --client-key "$pki/client-valid.key" \
    --test-ca "$pki/sub-ca.pem" --test-ca-key "$pki/sub-ca.key" > "$work/probe-$1.out" 2>&1 || probe_rc=$?
  cat "$work/probe-$1.out"
}
ROWS="tls-1.2-only cipher-suites cipher-order client-certificate-required renegotiation-refused allowed-request
cache-control-no-store hsts ssp-headers ssp-to interaction-endpoint bearer-token test-ca-control certificate-expired
certificate-wrong-fqdn certificate-unrelated-ca certificate-revoked"
# expect NAME ROW-THAT-FAIL...: every row present; exactly the named rows FAIL, the others PASS.
expect() {
  local name=$1; shift
  local fails=" $* " row want got
  for row in $ROWS; do
    if [[ "$fails" == *" $row "* ]]; then want=FAIL; else want=PASS; fi
    got=$(grep -E "^(PASS|FAIL|SKIP)  $row " "$work/probe-$name.out" | cut -c1-4 || true)
    if [ "$got" = "$want" ]; then gpc_pass "$name: $row $want"; else gpc_fail "$name: $row" "wanted $want, got '${got:-no row}'"; fi
  done
  local rc_want=0; [ $# -gt 0 ] && rc_want=1
  [ "$probe_rc" = "$rc_want" ] && gpc_pass "$name: exit $rc_want" || gpc_fail "$name: exit $rc_want" "exit $probe_rc"
}

echo "== nginx with gpcguard"
probe nginx-gpcguard "$guarded_port"
expect nginx-gpcguard
echo "== Apache httpd with gpcguard"
probe apache-gpcguard "$apache_port"
expect apache-gpcguard
echo "== nginx with plain ssl_* mutual TLS, no gpcguard"
probe nginx-plain "$plain_port"
expect nginx-plain client-certificate-required cache-control-no-store hsts ssp-headers ssp-to interaction-endpoint \
  bearer-token certificate-wrong-fqdn
echo "== --help lists the options"
"$gpcguard" probe --help > "$work/help.out"
for opt in --config --client --client-key --test-ca --test-ca-key --server-ca; do
  grep -q -- "$opt" "$work/help.out" && gpc_pass "probe --help lists $opt" || gpc_fail "probe --help lists $opt" "$(cat "$work/help.out")"
done
echo
gpc_summary
