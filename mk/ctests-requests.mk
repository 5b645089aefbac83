# C programs on the request and DER-peer calls of the C ABI (issues 2 and 3), through
# include/gpcguard.h only: c-tests/request_checks.c (gpcguard_check_request, with jansson to
# read the OperationOutcome and audit record) and c-tests/peer_der.c (gpcguard_check_peer_der).
# Each runs plain and under the sanitizers api_basics uses, against a fresh PKI.
#
#   make run-request-checks

DEB_PACKAGES += libjansson-dev
JANSSON_LIBS = $(or $(shell pkg-config --libs jansson 2>/dev/null),-ljansson)
REQUEST_CHECK_PROGRAMS := request_checks peer_der

EXTRA_TESTS += run-request-checks
.PHONY: request-checks run-request-checks

request-checks: c-tests
	$(CC) $(C_CFLAGS) -o $(CTEST_BIN)/request_checks c-tests/request_checks.c $(C_LDLIBS) $(JANSSON_LIBS)
	$(CC) $(C_CFLAGS) $(ASAN_FLAGS) -o $(CTEST_BIN)/request_checks-asan c-tests/request_checks.c $(C_LDLIBS) $(JANSSON_LIBS)
	$(CC) $(C_CFLAGS) -o $(CTEST_BIN)/peer_der c-tests/peer_der.c $(C_LDLIBS)
	$(CC) $(C_CFLAGS) $(ASAN_FLAGS) -o $(CTEST_BIN)/peer_der-asan c-tests/peer_der.c $(C_LDLIBS)

run-request-checks: request-checks
	@pki=$$(mktemp -d); trap 'rm -rf "$$pki"' EXIT; \
	c-tests/make-pki.sh "$$pki"; \
	for p in $(REQUEST_CHECK_PROGRAMS); do \
	  $(CTEST_BIN)/$$p "$$pki"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(CTEST_BIN)/$$p-asan "$$pki"; \
	done
