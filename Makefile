# gpcguard — build, header, C tests, install. GNU make.
#
#   make                 release library + check that include/gpcguard.h is current
#   make header          regenerate include/gpcguard.h from the release build (then commit it)
#   make demo            the demo provider driven through a dozen requests (also part of make test)
#   make test            what CI runs (.ci/run): deps, header check, cargo tests, C tests, install test, demo
#   make install PREFIX=/usr/local [DESTDIR=...] [INSTALL_LIBDIR=$PREFIX/lib/<multiarch>]
#                        library, header, pkg-config file, bin/gpcguard
#
# Cargo's target folder is asked from cargo itself, so CARGO_TARGET_DIR and .cargo/config work.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# Every recipe shell first sources mk/report-failure.bash: a command that fails the recipe is
# named on stderr, so no step ends in a bare "Error 1" (checks that can fail also say what to do).
export BASH_ENV := $(abspath mk/report-failure.bash)
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
# One cargo at a time, and deps must finish before anything compiles.
.NOTPARALLEL:

CARGO  ?= cargo
CC     ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
# Where make install puts the library and gpcguard.pc; the Debian packages set the multiarch
# directory (/usr/lib/x86_64-linux-gnu).
INSTALL_LIBDIR ?= $(PREFIX)/lib

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
comma := ,
include $(sort $(wildcard mk/*.mk))

.PHONY: all release header check-header c-tests run-c-tests test install install-test deps demo clean

all: release check-header

release:
	$(CARGO) build --release

# find_header STEP: runs the release build and sets $gen to the header it generated, or stops
# saying why. build.rs reports the header's path as GPCGUARD_GENERATED_HEADER, which cargo repeats
# in its build-script-executed message even when nothing had to be rebuilt. That variable, not the
# package id, identifies our build script: cargo writes the id without the package name
# (`path+file:///src/gpcguard#0.1.0`) when the folder is named like the package, as a
# `git clone` makes it (mk/fresh-clone.mk tests that case).
define find_header
msgs=$$($(CARGO) build --release --message-format=json-render-diagnostics) \
  || { echo "$(1): cargo build --release failed (errors above): fix the build, then run make $(1) again" >&2; exit 1; }; \
gen=$$(sed -n 's/.*"reason":"build-script-executed".*\["GPCGUARD_GENERATED_HEADER","\([^"]*\)"\].*/\1/p' <<<"$$msgs" | tail -n 1); \
test -n "$$gen" || { echo "$(1): cargo reported no GPCGUARD_GENERATED_HEADER: build.rs must print cargo:rustc-env=GPCGUARD_GENERATED_HEADER=<path> (see cargo build --release -vv)" >&2; exit 1; }; \
test -s "$$gen" || { echo "$(1): the build generated no header ($$gen): cbindgen failed, see cargo's warnings above; fix src/ffi or cbindgen.toml" >&2; exit 1; }
endef

header:
	@$(call find_header,header); \
	mkdir -p include; cp "$$gen" include/gpcguard.h; echo "include/gpcguard.h <- $$gen"

check-header:
	@$(call find_header,check-header); \
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
libdir=$(patsubst $(PREFIX)/%,$${exec_prefix}/%,$(INSTALL_LIBDIR))
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
	install -d $(DESTDIR)$(INSTALL_LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(LIBDIR)/gpcguard $(DESTDIR)$(PREFIX)/bin/gpcguard
	install -m 0755 $(LIBDIR)/libgpcguard.so $(DESTDIR)$(INSTALL_LIBDIR)/libgpcguard.so.$(VERSION)
	ln -sfn libgpcguard.so.$(VERSION) $(DESTDIR)$(INSTALL_LIBDIR)/libgpcguard.so.$(SOVERSION)
	ln -sfn libgpcguard.so.$(SOVERSION) $(DESTDIR)$(INSTALL_LIBDIR)/libgpcguard.so
	install -m 0644 $(LIBDIR)/libgpcguard.a $(DESTDIR)$(INSTALL_LIBDIR)/libgpcguard.a
	install -m 0644 include/gpcguard.h $(DESTDIR)$(PREFIX)/include/gpcguard.h
	printf '%s\n' "$$PC_FILE" > $(DESTDIR)$(INSTALL_LIBDIR)/pkgconfig/gpcguard.pc

# Installs into a temporary prefix and builds a host program the way a user would: pkg-config
# only, no path into this tree. Running it proves the soname chain resolves (the program records
# NEEDED libgpcguard.so.$(SOVERSION)); a second build links libgpcguard.a with `pkg-config --static`.
# Each check reads the tool's whole output before grep looks at it: `tool | grep -q` fails under
# pipefail when grep's early exit kills the tool, and a `!` in front would never fail the recipe.
install-test: release
	@prefix=$$(mktemp -d); trap 'rm -rf "$$prefix"' EXIT; \
	fail() { echo "install-test: $$*" >&2; exit 1; }; \
	$(MAKE) --no-print-directory install PREFIX="$$prefix" >/dev/null || fail "make install PREFIX=$$prefix failed (errors above)"; \
	export PKG_CONFIG_PATH="$$prefix/lib/pkgconfig"; \
	link=$$(readlink "$$prefix/lib/libgpcguard.so"); \
	[ "$$link" = libgpcguard.so.$(SOVERSION) ] || fail "lib/libgpcguard.so links to '$$link', want libgpcguard.so.$(SOVERSION): see the install recipe"; \
	link=$$(readlink "$$prefix/lib/libgpcguard.so.$(SOVERSION)"); \
	[ "$$link" = libgpcguard.so.$(VERSION) ] || fail "lib/libgpcguard.so.$(SOVERSION) links to '$$link', want libgpcguard.so.$(VERSION): see the install recipe"; \
	version=$$(pkg-config --modversion gpcguard) || fail "pkg-config does not find the installed gpcguard.pc"; \
	[ "$$version" = "$(VERSION)" ] || fail "pkg-config says version '$$version', Cargo.toml says $(VERSION): see PC_FILE"; \
	$(CC) $(C_WARNINGS) -o "$$prefix/pkgconfig-host" c-tests/pkgconfig_host.c $$(pkg-config --cflags --libs gpcguard) \
	  || fail "c-tests/pkgconfig_host.c does not build with pkg-config's flags (errors above)"; \
	dynamic=$$(readelf -d "$$prefix/pkgconfig-host"); \
	grep -q 'NEEDED.*\[libgpcguard.so.$(SOVERSION)\]' <<<"$$dynamic" \
	  || fail "the host program does not record NEEDED libgpcguard.so.$(SOVERSION): the soname (build.rs) is wrong"; \
	dynamic=$$(readelf -d "$$prefix/lib/libgpcguard.so"); \
	grep -q 'NEEDED.*\[libssl.so.3\]' <<<"$$dynamic" || fail "libgpcguard.so does not link libssl.so.3 dynamically: check the openssl crate's features (no vendored OpenSSL)"; \
	symbols=$$(nm -D --defined-only "$$prefix/lib/libgpcguard.so"); \
	! grep -qw 'SSL_CTX_new' <<<"$$symbols" || fail "libgpcguard.so defines SSL_CTX_new: OpenSSL is linked in statically (vendored), it must come from the system"; \
	LD_LIBRARY_PATH="$$prefix/lib" "$$prefix/pkgconfig-host" "$(VERSION)" || fail "the pkg-config host program failed (output above)"; \
	static_libs=$$(pkg-config --static --libs gpcguard | sed 's/-lgpcguard//'); \
	$(CC) $(C_WARNINGS) -o "$$prefix/static-host" c-tests/pkgconfig_host.c $$(pkg-config --cflags gpcguard) \
	  "$$prefix/lib/libgpcguard.a" $$static_libs || fail "the static host does not link with pkg-config --static's libraries: see Libs.private in PC_FILE"; \
	dynamic=$$(readelf -d "$$prefix/static-host"); \
	! grep -q 'NEEDED.*libgpcguard' <<<"$$dynamic" || fail "the static host still needs libgpcguard.so"; \
	"$$prefix/static-host" "$(VERSION)" || fail "the static host program failed (output above)"; \
	test "$$("$$prefix/bin/gpcguard" --version)" = "gpcguard $(VERSION)" || fail "the installed bin/gpcguard does not run or reports another version"; \
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
	export DEBIAN_FRONTEND=noninteractive; \
	{ apt-get update && apt-get install -y --no-install-recommends $$missing; } \
	  || { echo "deps: apt-get could not install$$missing (errors above): check the apt sources and the network, then run make deps again" >&2; exit 1; }

# The README's first command: a throw-away PKI, the demo provider (examples/demo_provider.c, on
# gpcguard_ssl_ctx_new + gpcguard_check_request), a dozen requests through curl, a table of the
# outcomes and the audit lines. Fails when a row's status is not the expected one.
demo: deps c-tests
	$(CC) $(C_CFLAGS) -o $(CTEST_BIN)/demo_provider examples/demo_provider.c $(C_LDLIBS)
	examples/demo.sh $(CTEST_BIN)/demo_provider

clean:
	$(CARGO) clean
	rm -rf $(CTEST_BIN)
