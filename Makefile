# gpcguard — build, header, C tests, install. GNU make.
#
#   make                 release library + check that include/gpcguard.h is current
#   make header          regenerate include/gpcguard.h from the release build (then commit it)
#   make demo            the demo provider driven through a dozen requests (also part of make test)
#   make test            what CI runs (.ci/run): deps, header check, cargo tests, C tests, install test, demo
#   make install PREFIX=/usr/local [DESTDIR=...]   library, header, pkg-config file, bin/gpcguard
#
# Cargo's target folder is asked from cargo itself, so CARGO_TARGET_DIR and .cargo/config work.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
# One cargo at a time, and deps must finish before anything compiles.
.NOTPARALLEL:

CARGO  ?= cargo
CC     ?= cc
PREFIX ?= /usr/local
DESTDIR ?=

VERSION    := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
SOVERSION  := $(firstword $(subst ., ,$(VERSION)))
TARGET_DIR := $(or $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'),target)
LIBDIR     := $(TARGET_DIR)/release
CTEST_BIN  := c-tests/bin

# Debian packages the build and the tests need (the Rust toolchain is assumed).
DEB_PACKAGES := gcc libc6-dev binutils make pkg-config libssl-dev openssl curl coreutils

OPENSSL_CFLAGS := $(shell pkg-config --cflags openssl 2>/dev/null)
OPENSSL_LIBS   := $(or $(shell pkg-config --libs openssl 2>/dev/null),-lssl -lcrypto)
C_WARNINGS := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter
C_CFLAGS   := $(C_WARNINGS) -O1 -g -Iinclude $(OPENSSL_CFLAGS)
# The programs run against the freshly built library through its soname (libgpcguard.so.$(SOVERSION)),
# which cargo does not create: c-tests/bin/lib holds that link, and the rpath points there.
C_LIBDIR   := $(CTEST_BIN)/lib
C_LDLIBS   := -L$(C_LIBDIR) -Wl,-rpath,$(abspath $(C_LIBDIR)) -lgpcguard $(OPENSSL_LIBS)
# The same programs under AddressSanitizer + UBSan: leaks and bad frees across the C ABI fail the run.
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

SERVERS := tls_server_new tls_server_apply

# Further test suites live in mk/*.mk fragments, one per concern (fuzzing, sanitizers, scanners,
# host modules...). Each may append Debian packages to DEB_PACKAGES, its test target to
# EXTRA_TESTS (run by `make test`, after the core tests) and its targets to .PHONY.
EXTRA_TESTS :=
include $(sort $(wildcard mk/*.mk))

.PHONY: all release header check-header c-tests run-c-tests test install install-test deps demo clean

all: release check-header

release:
	$(CARGO) build --release

# Prints the path of the header the release build generated: cargo reports the build script's
# OUT_DIR for this package (it does so even when nothing had to be rebuilt).
generated_header = $(CARGO) build --release --message-format=json-render-diagnostics \
	| grep '"reason":"build-script-executed"' \
	| grep -E '"package_id":"(path\+file://[^"]*\#gpcguard@|gpcguard )' \
	| sed -n 's/.*"out_dir":"\([^"]*\)".*/\1\/gpcguard.h/p' | tail -n 1

header:
	@gen=$$($(generated_header)); \
	test -s "$$gen" || { echo "make header: the build generated no header ($$gen); see cargo's warnings" >&2; exit 1; }; \
	mkdir -p include; cp "$$gen" include/gpcguard.h; echo "include/gpcguard.h <- $$gen"

check-header:
	@gen=$$($(generated_header)); \
	test -s "$$gen" || { echo "check-header: the build generated no header ($$gen); see cargo's warnings" >&2; exit 1; }; \
	if ! cmp -s "$$gen" include/gpcguard.h; then \
	  echo "include/gpcguard.h is stale or missing: it differs from the header generated from src/ffi." >&2; \
	  echo "Run \`make header\` and commit include/gpcguard.h." >&2; \
	  diff -u include/gpcguard.h "$$gen" | head -n 40 >&2 || true; \
	  exit 1; \
	fi; echo "include/gpcguard.h is current"

# The C test programs use only include/gpcguard.h, OpenSSL and libc.
c-tests: release
	@mkdir -p $(C_LIBDIR)
	ln -sfn $(abspath $(LIBDIR))/libgpcguard.so $(C_LIBDIR)/libgpcguard.so.$(SOVERSION)
	ln -sfn libgpcguard.so.$(SOVERSION) $(C_LIBDIR)/libgpcguard.so
	$(CC) $(C_CFLAGS) -o $(CTEST_BIN)/api_basics c-tests/api_basics.c $(C_LDLIBS)
	$(CC) $(C_CFLAGS) $(ASAN_FLAGS) -o $(CTEST_BIN)/api_basics-asan c-tests/api_basics.c $(C_LDLIBS)
	$(foreach s,$(SERVERS),$(CC) $(C_CFLAGS) -o $(CTEST_BIN)/$(s) c-tests/$(s).c c-tests/tls_server_common.c $(C_LDLIBS);)

# api_basics (plain and sanitized) against a fresh PKI. The TLS servers are driven by
# tests/tls_peers.rs, which `cargo test` runs with real openssl s_client and curl peers.
run-c-tests: c-tests
	@pki=$$(mktemp -d); trap 'rm -rf "$$pki"' EXIT; \
	c-tests/make-pki.sh "$$pki"; \
	$(CTEST_BIN)/api_basics "$$pki"; \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(CTEST_BIN)/api_basics-asan "$$pki"

test: deps check-header
	$(CARGO) test --release
	@echo "tls_peers again with the C servers under AddressSanitizer + UBSan (leaks fail the run)"
	GPCGUARD_C_SANITIZE=1 $(CARGO) test --release --test tls_peers
	$(MAKE) --no-print-directory run-c-tests install-test demo $(EXTRA_TESTS)

define PC_FILE
prefix=$(PREFIX)
exec_prefix=$${prefix}
libdir=$${exec_prefix}/lib
includedir=$${prefix}/include

Name: gpcguard
Description: GP Connect API security model for provider servers (TLS policy, Spine client certificates, SSP headers, audit JWT)
Version: $(VERSION)
Requires.private: libssl libcrypto
Libs: -L$${libdir} -lgpcguard
Libs.private: -lpthread -ldl -lm
Cflags: -I$${includedir}
endef
export PC_FILE

install: release
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(LIBDIR)/gpcguard $(DESTDIR)$(PREFIX)/bin/gpcguard
	install -m 0755 $(LIBDIR)/libgpcguard.so $(DESTDIR)$(PREFIX)/lib/libgpcguard.so.$(VERSION)
	ln -sfn libgpcguard.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libgpcguard.so.$(SOVERSION)
	ln -sfn libgpcguard.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libgpcguard.so
	install -m 0644 $(LIBDIR)/libgpcguard.a $(DESTDIR)$(PREFIX)/lib/libgpcguard.a
	install -m 0644 include/gpcguard.h $(DESTDIR)$(PREFIX)/include/gpcguard.h
	printf '%s\n' "$$PC_FILE" > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gpcguard.pc

# Installs into a temporary prefix and builds a host program the way a user would: pkg-config
# only, no path into this tree. Running it proves the soname chain resolves (the program records
# NEEDED libgpcguard.so.$(SOVERSION)); a second build links libgpcguard.a with `pkg-config --static`.
install-test: release
	@prefix=$$(mktemp -d); trap 'rm -rf "$$prefix"' EXIT; \
	$(MAKE) --no-print-directory install PREFIX="$$prefix" >/dev/null; \
	export PKG_CONFIG_PATH="$$prefix/lib/pkgconfig"; \
	test "$$(readlink "$$prefix/lib/libgpcguard.so")" = libgpcguard.so.$(SOVERSION); \
	test "$$(readlink "$$prefix/lib/libgpcguard.so.$(SOVERSION)")" = libgpcguard.so.$(VERSION); \
	test "$$(pkg-config --modversion gpcguard)" = "$(VERSION)"; \
	$(CC) $(C_WARNINGS) -o "$$prefix/pkgconfig-host" c-tests/pkgconfig_host.c $$(pkg-config --cflags --libs gpcguard); \
	readelf -d "$$prefix/pkgconfig-host" | grep -q 'NEEDED.*\[libgpcguard.so.$(SOVERSION)\]'; \
	readelf -d "$$prefix/lib/libgpcguard.so" | grep -q 'NEEDED.*\[libssl.so.3\]'; \
	! nm -D --defined-only "$$prefix/lib/libgpcguard.so" | grep -qw 'SSL_CTX_new'; \
	LD_LIBRARY_PATH="$$prefix/lib" "$$prefix/pkgconfig-host" "$(VERSION)"; \
	static_libs=$$(pkg-config --static --libs gpcguard | sed 's/-lgpcguard//'); \
	$(CC) $(C_WARNINGS) -o "$$prefix/static-host" c-tests/pkgconfig_host.c $$(pkg-config --cflags gpcguard) \
	  "$$prefix/lib/libgpcguard.a" $$static_libs; \
	! readelf -d "$$prefix/static-host" | grep -q 'NEEDED.*libgpcguard'; \
	"$$prefix/static-host" "$(VERSION)"; \
	test "$$("$$prefix/bin/gpcguard" --version)" = "gpcguard $(VERSION)"; \
	echo "install-test: pkg-config build against $$prefix passed"

# Installs the Debian packages that are missing (as root), or says which to install.
deps:
	@if ! command -v dpkg-query >/dev/null; then \
	  for c in $(CC) make pkg-config openssl curl; do command -v $$c >/dev/null || { echo "deps: $$c is missing" >&2; exit 1; }; done; \
	  exit 0; \
	fi; \
	missing=; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all present ($(DEB_PACKAGES))"; exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ]; then echo "deps: missing Debian packages:$$missing — run as root: apt-get install -y$$missing" >&2; exit 1; fi; \
	echo "deps: installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; apt-get update && apt-get install -y --no-install-recommends $$missing

# The README's first command: a throw-away PKI, the demo provider (examples/demo_provider.c, on
# gpcguard_ssl_ctx_new + gpcguard_check_request), a dozen requests through curl, a table of the
# outcomes and the audit lines. Fails when a row's status is not the expected one.
demo: deps c-tests
	$(CC) $(C_CFLAGS) -o $(CTEST_BIN)/demo_provider examples/demo_provider.c $(C_LDLIBS)
	examples/demo.sh $(CTEST_BIN)/demo_provider

clean:
	$(CARGO) clean
	rm -rf $(CTEST_BIN)
