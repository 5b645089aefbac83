# Independent TLS scanners against the C TLS server (c-tests/bin/tls_server_new, whose SSL_CTX
# gpcguard makes): sslscan and testssl.sh from Debian, sslyze from PyPI in a venv. What they see
# (protocols, accepted suites, server order, renegotiation, client certificate requirement) must
# equal c-tests/scan/expected.json; c-tests/scan/run-scans.sh says which tool asserts what.
#
#   make scan            raw outputs and the normalised view are left in build/scan/

DEB_PACKAGES += sslscan testssl.sh python3 python3-venv
EXTRA_TESTS  += scan

SSLYZE_VERSION := 6.3.1
SSLYZE_VENV    := build/venv-sslyze
SSLYZE_STAMP   := $(SSLYZE_VENV)/.sslyze-$(SSLYZE_VERSION)

.PHONY: scan sslyze-venv

# Debian's python3 by its path, so a python3 earlier in PATH (pyenv...) is not the venv's base.
$(SSLYZE_STAMP):
	rm -rf $(SSLYZE_VENV)
	/usr/bin/python3 -m venv $(SSLYZE_VENV)
	$(SSLYZE_VENV)/bin/pip install --quiet --disable-pip-version-check 'sslyze==$(SSLYZE_VERSION)'
	touch $@

sslyze-venv: deps $(SSLYZE_STAMP)

scan: deps c-tests sslyze-venv
	@start=$$(date +%s); \
	c-tests/scan/run-scans.sh $(CTEST_BIN)/tls_server_new $(SSLYZE_VENV)/bin/sslyze build/scan; \
	echo "scan: done in $$(( $$(date +%s) - start )) s"
