# Fuzzing (cargo-fuzz + libFuzzer, targets in fuzz/; README "Fuzzing").
#
#   make fuzz [FUZZ_SECONDS=60]     every target for FUZZ_SECONDS each, corpus kept in build/fuzz/
#   make fuzz-smoke                 every target for FUZZ_SMOKE_SECONDS (5) each; part of make test
#   make fuzz-build                 build the targets only
#
# The machine has the stable toolchain only. cargo-fuzz needs nightly flags (-Zsanitizer=address
# for AddressSanitizer + LeakSanitizer, sancov instrumentation); RUSTC_BOOTSTRAP=1 lets the stable
# compiler accept them, and the stable rust-std ships the ASan runtime (librustc-stable_rt.asan.a).
# cargo-fuzz itself is installed from crates.io into build/tools when missing.
#
# Enforced per input: no crash or panic (every target also asserts its own oracles), no leak
# (-detect_leaks=1), at most FUZZ_BUDGET_MS (100) ms of CPU (checked inside each target, since
# libFuzzer's -timeout counts whole seconds; -timeout=1 stays as the wall-clock backstop for
# hangs), no single allocation above FUZZ_MALLOC_MB (64) MiB, resident memory under FUZZ_RSS_MB
# (2048) MiB. Failing inputs are written to fuzz/artifacts/<target>/.

FUZZ_TARGETS       := jwt_envelope base64url claims check_request config peer_chain
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_BUDGET_MS     ?= 100
FUZZ_MALLOC_MB     ?= 64
FUZZ_RSS_MB        ?= 2048
FUZZ_SANITIZER     ?= address
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TOOLS         := build/tools
CARGO_FUZZ         := $(FUZZ_TOOLS)/bin/cargo-fuzz
# Its own target folder (the instrumented build shares nothing with the library's).
FUZZ_TARGET_DIR    := $(TARGET_DIR)/fuzz
FUZZ_WORK          := build/fuzz
# Longest input per target: a little over the library's own limit on what that input can be
# (max_authorization_bytes, max_json_bytes, max_header_bytes), so the limit itself is fuzzed.
FUZZ_MAX_LEN_jwt_envelope  := 8300
FUZZ_MAX_LEN_base64url     := 8300
FUZZ_MAX_LEN_claims        := 8300
FUZZ_MAX_LEN_check_request := 12000
FUZZ_MAX_LEN_config        := 4096
FUZZ_MAX_LEN_peer_chain    := 16384

FUZZ_ENV := PATH="$(abspath $(FUZZ_TOOLS))/bin:$$PATH" RUSTC_BOOTSTRAP=1 GPCGUARD_FUZZ_BUDGET_MS=$(FUZZ_BUDGET_MS)
FUZZ_CARGO_FLAGS := --fuzz-dir fuzz -s $(FUZZ_SANITIZER) --target-dir $(FUZZ_TARGET_DIR)
FUZZ_LIBFUZZER_FLAGS := -timeout=1 -malloc_limit_mb=$(FUZZ_MALLOC_MB) -rss_limit_mb=$(FUZZ_RSS_MB) \
	-detect_leaks=1 -print_final_stats=1

# fuzz_all SECONDS: each target in turn on a writable copy of its corpus (build/fuzz/corpus/T,
# new inputs land there) plus the committed seeds (fuzz/corpus/T, read only); stops at the first failure.
define fuzz_all
	@mkdir -p $(FUZZ_WORK)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_WORK)/corpus/$$t fuzz/artifacts/$$t; \
	  case $$t in \
	    jwt_envelope) max=$(FUZZ_MAX_LEN_jwt_envelope);; base64url) max=$(FUZZ_MAX_LEN_base64url);; claims) max=$(FUZZ_MAX_LEN_claims);; \
	    check_request) max=$(FUZZ_MAX_LEN_check_request);; config) max=$(FUZZ_MAX_LEN_config);; \
	    *) max=$(FUZZ_MAX_LEN_peer_chain);; \
	  esac; \
	  echo "fuzz: $$t for $(1) s (max_len $$max)"; \
	  $(FUZZ_ENV) cargo fuzz run $(FUZZ_CARGO_FLAGS) $$t $(FUZZ_WORK)/corpus/$$t fuzz/corpus/$$t -- \
	    -max_total_time=$(1) -max_len=$$max $(FUZZ_LIBFUZZER_FLAGS) -artifact_prefix=fuzz/artifacts/$$t/ \
	    > $(FUZZ_WORK)/$$t.log 2>&1 \
	    || { tail -n 60 $(FUZZ_WORK)/$$t.log >&2; echo "fuzz: $$t FAILED (log $(FUZZ_WORK)/$$t.log, input in fuzz/artifacts/$$t/)" >&2; exit 1; }; \
	  { grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^Done [0-9]+ runs' $(FUZZ_WORK)/$$t.log || echo "(no libFuzzer stats in $(FUZZ_WORK)/$$t.log)"; } | tr '\n' ' '; echo; \
	done
endef

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --root $(FUZZ_TOOLS) --locked

fuzz-build: $(CARGO_FUZZ)
	$(FUZZ_ENV) cargo fuzz build $(FUZZ_CARGO_FLAGS)

fuzz: fuzz-build
	$(call fuzz_all,$(FUZZ_SECONDS))

fuzz-smoke: fuzz-build
	$(call fuzz_all,$(FUZZ_SMOKE_SECONDS))

EXTRA_TESTS += fuzz-smoke
.PHONY: fuzz fuzz-smoke fuzz-build
