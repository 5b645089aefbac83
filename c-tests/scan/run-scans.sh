#!/usr/bin/env bash
# Points three independent TLS scanners at the C TLS server (tls_server_new: gpcguard makes the
# SSL_CTX from the configuration) on a fresh test PKI, then compares what they saw with
# c-tests/scan/expected.json (check_scans.py). Run by `make scan`.
#
#   run-scans.sh SERVER SSLYZE OUTDIR
#
# SERVER: c-tests/bin/tls_server_new; SSLYZE: the sslyze in the venv; OUTDIR: where the raw
# scanner outputs, the server's log and the normalised view (observed.json) are left for reading.
#
# The server demands a client certificate. Each scanner gets client-valid.pem/.key where it can:
#   sslscan 2.0.7      --certs/--pk
#   sslyze 6           --cert/--key (a second run without them shows the requirement)
#   testssl.sh 3.0.8   has no client-certificate option (--mtls came in 3.2). Its first run goes
#                      without one: it enumerates suites up to the CertificateRequest and reports
#                      the requirement. Its second run (-R only) gets the certificate through
#                      openssl-with-client-cert.sh as its openssl binary, so that its
#                      client-initiated renegotiation test runs on a completed handshake.
set -euo pipefail

server=${1:?usage: run-scans.sh SERVER SSLYZE OUTDIR}
sslyze=${2:?usage: run-scans.sh SERVER SSLYZE OUTDIR}
out=${3:?usage: run-scans.sh SERVER SSLYZE OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/*.xml "$out"/*.json "$out"/*.log "$out"/*.txt
pki=$(mktemp -d)
server_pid=
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$pki"
}
trap stop_server EXIT

"$here/../make-pki.sh" "$pki" >/dev/null 2>&1
cert=$pki/client-valid.pem
key=$pki/client-valid.key

"$server" "$pki/provider.toml" 0 > "$out/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/^READY port=\([0-9]*\)$/\1/p' "$out/server.log")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "scan: the server exited before READY:" >&2; cat "$out/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "scan: no READY line from the server within 10 s" >&2; exit 1; }
target=127.0.0.1:$port
echo "scan: server on $target (log: $out/server.log)"

step() { # step NAME COMMAND...: runs one scanner with a time limit, output to OUTDIR/NAME.log
  local name=$1 start=$SECONDS rc=0
  shift
  timeout 300 "$@" > "$out/$name.log" 2>&1 || rc=$?
  echo "scan: $name exit $rc in $((SECONDS - start)) s"
  return $rc
}

step sslscan sslscan --no-colour --certs="$cert" --pk="$key" --xml="$out/sslscan.xml" "$target"

# testssl.sh's exit status adds up findings; 240 and above are its own failures (connect, options...).
testssl_run() {
  local rc=0
  step "$@" || rc=$?
  if [ "$rc" -ge 240 ]; then echo "scan: testssl.sh failed (exit $rc), see $out/$1.log" >&2; exit 1; fi
}
testssl_common=(--quiet --color 0 --warnings off --nodns none --connect-timeout 10 --openssl-timeout 10)
testssl_run testssl testssl "${testssl_common[@]}" -p -e -P --jsonfile "$out/testssl.json" "$target"
SCAN_CLIENT_CERT=$cert SCAN_CLIENT_KEY=$key \
  testssl_run testssl-mtls testssl "${testssl_common[@]}" --openssl "$here/openssl-with-client-cert.sh" \
  -R --jsonfile "$out/testssl-mtls.json" "$target"

sslyze_common=(--quiet --mozilla_config disable)
step sslyze "$sslyze" "${sslyze_common[@]}" --cert "$cert" --key "$key" \
  --sslv2 --sslv3 --tlsv1 --tlsv1_1 --tlsv1_2 --tlsv1_3 --reneg --json_out "$out/sslyze.json" "$target"
step sslyze-nocert "$sslyze" "${sslyze_common[@]}" --tlsv1_2 --json_out "$out/sslyze-nocert.json" "$target"

# A server that died under the scans would have made every later "rejected" meaningless.
kill -0 "$server_pid" 2>/dev/null || { echo "scan: the server died during the scans:" >&2; tail -n 20 "$out/server.log" >&2; exit 1; }
echo "scan: server served $(grep -c '^ACCEPTED' "$out/server.log") accepted and $(grep -c '^REFUSED' "$out/server.log") refused connections"

/usr/bin/python3 "$here/check_scans.py" --expected "$here/expected.json" --observed-out "$out/observed.json" \
  --sslscan "$out/sslscan.xml" --testssl "$out/testssl.json" --testssl-mtls "$out/testssl-mtls.json" \
  --sslyze "$out/sslyze.json" --sslyze-nocert "$out/sslyze-nocert.json"
