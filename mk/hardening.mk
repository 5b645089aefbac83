# Hardening (issue 4, items 2-4): the C programs under Debian clang's AddressSanitizer + UBSan
# (with a proof that the sanitizers are linked and armed) and under valgrind memcheck; panic
# containment against a test-only build; the prefork model and the reload stress through the ABI.
# tests/stress_reload.rs (the Rust reload stress) runs with `cargo test --release`.
#
#   make hardening-test          everything below
#   make clang-sanitize-test     clang -fsanitize=address,undefined: canaries, nm proof, programs, TLS servers
#   make valgrind-test           valgrind memcheck: zero errors, zero definite/indirect leaks
#   make panic-test              library built with --features test-panic (own target folder)
#   make fork-test stress-c-test the prefork model; 8 pthreads + a reloader through the ABI

DEB_PACKAGES += clang libclang-rt-dev valgrind

EXTRA_TESTS += hardening-test
.PHONY: hardening-test hardening-programs clang-sanitize-test valgrind-test panic-test fork-test stress-c-test

CLANG ?= clang
CLANG_SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# LeakSanitizer is on (the default of clang's ASan on Linux, stated anyway); any report fails the run.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1 \
  LSAN_OPTIONS=report_objects=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --show-leak-kinds=definite,indirect --track-origins=yes --child-silent-after-fork=no \
  --fair-sched=yes
HARDENING_DIR := $(CTEST_BIN)/hardening

# Programs run by every checker, with their link extras. The request-side programs join when
# they are on this branch (mk/ctests-requests.mk brings them and their jansson flags).
HARDENING_PROGRAMS := api_basics fork_workers stress_threads \
  $(if $(wildcard c-tests/request_checks.c),request_checks) $(if $(wildcard c-tests/peer_der.c),peer_der)
hardening_libs = $(if $(filter request_checks,$(1)),$(or $(JANSSON_LIBS),-ljansson)) $(if $(filter stress_threads,$(1)),-pthread)
# The stress program's run time (ms) plain / under the sanitizers; under valgrind, which
# serialises threads and runs ~30x slower, 200 ms and at least 6 reloads.
STRESS_MS ?= 1500
STRESS_SAN_MS ?= 1500
STRESS_VALGRIND_ARGS ?= 200 6

# A fresh PKI per recipe, removed on exit.
define with_pki
pki=$$(mktemp -d); trap 'rm -rf "$$pki"' EXIT; c-tests/make-pki.sh "$$pki" >/dev/null;
endef
# run_program PREFIX PROGRAM: runs one program against $$pki with its arguments.
run_program = case $(2) in \
  stress_threads) $(1) $(HARDENING_DIR)/$(2)$(3) "$$pki" $(4) ;; \
  *) $(1) $(HARDENING_DIR)/$(2)$(3) "$$pki" ;; esac

hardening-test: clang-sanitize-test valgrind-test panic-test fork-test stress-c-test

hardening-programs: c-tests
	@mkdir -p $(HARDENING_DIR)
	@for p in $(HARDENING_PROGRAMS); do \
	  case $$p in request_checks) extra="$(call hardening_libs,request_checks)";; stress_threads) extra=-pthread;; *) extra=;; esac; \
	  $(CC) $(C_CFLAGS) -o $(HARDENING_DIR)/$$p c-tests/$$p.c $(C_LDLIBS) $$extra; \
	  $(CLANG) $(C_CFLAGS) $(CLANG_SAN_FLAGS) -o $(HARDENING_DIR)/$$p-clang-asan c-tests/$$p.c $(C_LDLIBS) $$extra; \
	done
	$(CLANG) $(C_WARNINGS) -O1 -g $(CLANG_SAN_FLAGS) -o $(HARDENING_DIR)/sanitizer_canary-clang-asan c-tests/sanitizer_canary.c
	$(CC) $(C_WARNINGS) -O0 -g -o $(HARDENING_DIR)/sanitizer_canary c-tests/sanitizer_canary.c
	$(CC) $(C_CFLAGS) -o $(HARDENING_DIR)/panic_containment c-tests/panic_containment.c $(C_LDLIBS)

# tests/tls_peers.rs compiles its servers with $$CC at run time. CC is handed to the test process
# through cargo's runner setting, not cargo's environment: openssl-sys's build script watches CC,
# and a CC=clang cargo would rebuild it (and again for the next plain cargo run).
HOST_RUNNER_VAR := CARGO_TARGET_$(shell rustc -vV | sed -n 's/^host: //p' | tr 'a-z.-' 'A-Z__')_RUNNER

# 1. The canary, built with the same flags, must be caught in each way; 2. every sanitized binary
# carries the ASan, LSan and UBSan runtimes (clang links them statically: nm, not ldd, shows
# them); 3. the programs and the TLS servers (tests/tls_peers.rs with CC=clang) run clean.
clang-sanitize-test: hardening-programs
	@canary=$(HARDENING_DIR)/sanitizer_canary-clang-asan; \
	$(SAN_ENV) $$canary clean; \
	expect_caught() { \
	  local mode=$$1 report=$$2 out; \
	  if out=$$($(SAN_ENV) $$canary $$mode 2>&1); then echo "canary $$mode: exit 0, the sanitizer did not stop it" >&2; exit 1; fi; \
	  grep -q "$$report" <<<"$$out" || { echo "canary $$mode: no \"$$report\" report:" >&2; echo "$$out" >&2; exit 1; }; \
	  echo "canary $$mode: caught ($$report)"; \
	}; \
	expect_caught overflow 'ERROR: AddressSanitizer: heap-buffer-overflow'; \
	expect_caught leak 'ERROR: LeakSanitizer: detected memory leaks'; \
	expect_caught ubsan 'runtime error: signed integer overflow'; \
	for b in $$canary $(foreach p,$(HARDENING_PROGRAMS),$(HARDENING_DIR)/$(p)-clang-asan); do \
	  syms=$$(nm "$$b"); \
	  for s in __asan_init __lsan_do_leak_check __ubsan_handle_; do \
	    grep -q " $$s" <<<"$$syms" || { echo "$$b: no $$s symbol: the sanitizer runtime is not linked" >&2; exit 1; }; \
	  done; \
	done; echo "sanitizer runtimes (__asan_init, __lsan_do_leak_check, __ubsan_handle_*) linked into every -clang-asan binary"
	@$(with_pki) \
	for p in $(HARDENING_PROGRAMS); do \
	  echo "== $$p under clang ASan+UBSan+LSan"; \
	  $(call run_program,$(SAN_ENV),$$p,-clang-asan,$(STRESS_SAN_MS)); \
	done
	@echo "== tests/tls_peers.rs: the TLS servers built by clang under ASan+UBSan+LSan"
	$(HOST_RUNNER_VAR)='env CC=$(CLANG)' GPCGUARD_C_SANITIZE=1 $(CARGO) test --release --test tls_peers

# Valgrind's canaries first: an invalid read and a definite leak must each end with exit 99.
valgrind-test: hardening-programs
	@for mode in overflow leak; do \
	  status=0; $(VALGRIND) $(HARDENING_DIR)/sanitizer_canary $$mode >/dev/null 2>&1 || status=$$?; \
	  [ $$status -eq 99 ] || { echo "valgrind canary $$mode: exit $$status, want 99" >&2; exit 1; }; \
	  echo "valgrind canary $$mode: caught (exit 99)"; \
	done
	@$(with_pki) \
	for p in $(HARDENING_PROGRAMS); do \
	  echo "== $$p under valgrind memcheck"; \
	  $(call run_program,$(VALGRIND),$$p,,$(STRESS_VALGRIND_ARGS)); \
	done; \
	echo "== panic_containment (shipped build) under valgrind memcheck"; \
	$(VALGRIND) $(HARDENING_DIR)/panic_containment "$$pki" shipped

# The test-only library lives in its own target folder, so it can never be what `make install`
# or the other tests pick up; the shipped library must not contain the hook's message.
PANIC_TARGET_DIR := $(TARGET_DIR)/test-panic
PANIC_LIBDIR := $(CTEST_BIN)/lib-test-panic
panic-test: hardening-programs
	$(CARGO) build --features test-panic --target-dir $(PANIC_TARGET_DIR)
	@mkdir -p $(PANIC_LIBDIR)
	ln -sfn $(abspath $(PANIC_TARGET_DIR))/debug/libgpcguard.so $(PANIC_LIBDIR)/libgpcguard.so.$(SOVERSION)
	ln -sfn libgpcguard.so.$(SOVERSION) $(PANIC_LIBDIR)/libgpcguard.so
	$(CC) $(C_CFLAGS) -o $(HARDENING_DIR)/panic_containment-hooked c-tests/panic_containment.c \
	  -L$(PANIC_LIBDIR) -Wl,-rpath,$(abspath $(PANIC_LIBDIR)) -lgpcguard $(OPENSSL_LIBS)
	@grep -q 'test-panic feature' $(PANIC_TARGET_DIR)/debug/libgpcguard.so || { echo "the test-panic build has no hook" >&2; exit 1; }
	@! grep -q 'test-panic feature' $(LIBDIR)/libgpcguard.so || { echo "$(LIBDIR)/libgpcguard.so contains the test-panic hook" >&2; exit 1; }
	@$(with_pki) \
	echo "== panic_containment against the test-panic build (the panic messages below are expected)"; \
	RUST_BACKTRACE=0 $(HARDENING_DIR)/panic_containment-hooked "$$pki" hooked; \
	echo "== panic_containment against the shipped build"; \
	$(HARDENING_DIR)/panic_containment "$$pki" shipped

fork-test: hardening-programs
	@$(with_pki) $(HARDENING_DIR)/fork_workers "$$pki"

stress-c-test: hardening-programs
	@$(with_pki) $(HARDENING_DIR)/stress_threads "$$pki" $(STRESS_MS)
