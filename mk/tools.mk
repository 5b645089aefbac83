# The operators' command `gpcguard` (src/bin/gpcguard) against real peers. Its Rust tests
# (tests/gpcguard_cli.rs, tests/crl_fetch.rs with an HTTP server in the test) run with cargo test.
#
#   make test-tools        everything below (part of `make test`)
#   make test-crl-refresh  crl-fetch from a python3 http.server, then nginx -s reload (tests/tools/crl-refresh-nginx.sh)
#   make test-systemd      hosts/systemd units checked with systemd-analyze verify
#   make test-probe        gpcguard probe against nginx and Apache with gpcguard (every row passes) and
#                          nginx with plain ssl_* mutual TLS (the rows gpcguard adds fail) (tests/tools/probe.sh)

DEB_PACKAGES += python3 curl nginx apache2 systemd

GPCGUARD_BIN := $(LIBDIR)/gpcguard

.PHONY: test-tools test-crl-refresh test-systemd test-probe
EXTRA_TESTS += test-tools

test-tools: test-crl-refresh test-systemd test-probe

test-crl-refresh: deps nginx-module
	tests/tools/crl-refresh-nginx.sh $(GPCGUARD_BIN) $(NGINX_MODULE)

test-probe: deps nginx-module apache-module
	tests/tools/probe.sh $(GPCGUARD_BIN) $(NGINX_MODULE) $(APACHE_MODULE)

# systemd-analyze checks the binary the unit runs exists: the unit under test points at this build.
test-systemd: release
	@command -v systemd-analyze >/dev/null || { echo "test-systemd: systemd-analyze is missing (apt-get install systemd)" >&2; exit 1; }
	@d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	for u in service timer; do \
	  sed 's#/usr/local/bin/gpcguard#$(abspath $(GPCGUARD_BIN))#' "hosts/systemd/gpcguard-crl-fetch@.$$u" > "$$d/gpcguard-crl-fetch@nginx.$$u"; \
	done; \
	out=$$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$$d/gpcguard-crl-fetch@nginx.service" "$$d/gpcguard-crl-fetch@nginx.timer" 2>&1) \
	  || { echo "$$out" >&2; exit 1; }; \
	if [ -n "$$out" ]; then echo "test-systemd: systemd-analyze verify complains (a warning is a setting systemd ignores):" >&2; echo "$$out" >&2; exit 1; fi; \
	echo "test-systemd: hosts/systemd units verified"
