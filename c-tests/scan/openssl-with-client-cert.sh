#!/bin/sh
# The openssl binary that testssl.sh 3.0.8 (Debian 12) gets with --openssl: every `s_client`
# presents the client certificate in $SCAN_CLIENT_CERT / $SCAN_CLIENT_KEY, which that testssl.sh
# version has no option for. Other subcommands pass through unchanged.
if [ "${1-}" = s_client ]; then
  shift
  exec /usr/bin/openssl s_client -cert "${SCAN_CLIENT_CERT:?}" -key "${SCAN_CLIENT_KEY:?}" "$@"
fi
exec /usr/bin/openssl "$@"
