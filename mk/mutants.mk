# Mutation testing (cargo-mutants, crates.io; installed into build/tools like cargo-fuzz): one
# deliberate fault at a time in the modules that decide a verdict, the unit tests run after each;
# a fault no test notices ("missed") is a test to write or an equivalence to explain in
# docs/MUTANTS.md.
#
#   make mutants [MUTANTS_FILES="src/request/ssp.rs src/request/jwt.rs"] [MUTANTS_TESTS=request::]
#                [MUTANTS_TARGETS="--lib --test limbo"] [MUTANTS_JOBS=1] [MUTANTS_TIMEOUT=300]
#       every mutant of MUTANTS_FILES (default: all the verdict modules); writes the summary
#       between the markers of docs/MUTANTS.md. Long (a build per mutant): not part of make test.
#   make mutants-quick [MUTANTS_BASE=main] [MUTANTS_QUICK_SECONDS=900]
#       only the mutants on lines of the verdict modules changed since MUTANTS_BASE (the last
#       commit when HEAD is MUTANTS_BASE itself); part of make test. A missed mutant fails it;
#       a run cut off by MUTANTS_QUICK_SECONDS says so and keeps what it found.
#
# The test command is `cargo test --lib` (the unit tests of each module, the request tests in
# src/request/tests.rs among them); the integration tests drive real peers and take minutes each.
# MUTANTS_TESTS narrows it to the tests whose names contain it (`request::` for the per-request
# modules: a mutant there takes 10 s instead of 40, the connection tests' handshakes skipped).
# MUTANTS_TARGETS (default `--lib`) adds test targets, e.g. `--lib --test limbo`
# for the connection modules, with MUTANTS_TESTS="connection::pki connection::profile x509_limbo"
# (the names filter every target: a test of another name is not run).
# The runs recorded in docs/MUTANTS.md say which command each module had; a mutant they missed
# was then tried by hand against the wider suites (tls_peers, the CLI, valgrind).
# Builds use the `mutants` profile of Cargo.toml (no debug information: a build per mutant).
# Mutants are built in a copy of the tree (cargo-mutants' default), never in the work tree.

CARGO_MUTANTS_VERSION := 27.1.0
MUTANTS_TOOLS   := build/tools
CARGO_MUTANTS   := $(MUTANTS_TOOLS)/bin/cargo-mutants
MUTANTS_VERDICT_FILES := src/request/ssp.rs src/request/interactions.rs src/request/jwt.rs \
	src/request/claims.rs src/request/claims/payload.rs src/request/fhir/validate.rs \
	src/request/fhir/primitive.rs src/request/scope.rs src/request/rules.rs src/connection/pki.rs \
	src/connection/profile.rs src/connection/tls.rs src/config.rs
MUTANTS_FILES   ?= $(MUTANTS_VERDICT_FILES)
MUTANTS_JOBS    ?= 1
MUTANTS_TIMEOUT ?= 300
MUTANTS_BASE    ?= main
MUTANTS_QUICK_SECONDS ?= 900
MUTANTS_TESTS   ?=
MUTANTS_TARGETS ?= --lib
MUTANTS_OUT     := build/mutants
MUTANTS_ENV     := PATH="$(abspath $(MUTANTS_TOOLS))/bin:$$PATH"
MUTANTS_FLAGS    = --jobs $(MUTANTS_JOBS) --timeout $(MUTANTS_TIMEOUT) --no-shuffle --colors never --profile mutants

.PHONY: mutants mutants-quick
EXTRA_TESTS += mutants-quick

$(CARGO_MUTANTS):
	$(CARGO) install cargo-mutants --version $(CARGO_MUTANTS_VERSION) --root $(MUTANTS_TOOLS) --locked

mutants: $(CARGO_MUTANTS)
	@mkdir -p $(MUTANTS_OUT)
	@rc=0; $(MUTANTS_ENV) cargo mutants $(MUTANTS_FLAGS) $(foreach f,$(MUTANTS_FILES),--file $(f)) \
	  --output $(MUTANTS_OUT) -- $(MUTANTS_TARGETS) -- $(MUTANTS_TESTS) || rc=$$?; \
	mk/mutants-summary.sh $(MUTANTS_OUT)/mutants.out "$(MUTANTS_FILES)" docs/MUTANTS.md "$(MUTANTS_TESTS)"; \
	case $$rc in 0|2|3) ;; *) echo "mutants: cargo-mutants failed ($$rc)" >&2; exit $$rc;; esac; \
	echo "mutants: summary written to docs/MUTANTS.md (missed mutants: $(MUTANTS_OUT)/mutants.out/missed.txt)"

# The verdict modules' lines changed since the base, as a diff cargo-mutants reads (--in-diff).
# The verdict is read from missed.txt: cargo-mutants exits 3 when a mutant timed out even if others
# were missed, and a mutant that hangs the tests is one they noticed.
# cargo-mutants is installed (a long compile) only when there is a changed line to mutate.
mutants-quick:
	@mkdir -p $(MUTANTS_OUT)-quick
	@base=$$(git merge-base HEAD $(MUTANTS_BASE) 2>/dev/null || true); \
	if [ -z "$$base" ] || [ "$$base" = "$$(git rev-parse HEAD)" ]; then base=$$(git rev-parse HEAD~1); fi; \
	diff=$(MUTANTS_OUT)-quick/changes.diff; out=$(MUTANTS_OUT)-quick/mutants.out; \
	git diff "$$base" HEAD -- $(MUTANTS_VERDICT_FILES) > $$diff; \
	n=0; if [ -s $$diff ]; then $(MAKE) --no-print-directory $(CARGO_MUTANTS); \
	  n=$$($(MUTANTS_ENV) cargo mutants --list --in-diff $$diff | grep -c . || true); fi; \
	if [ "$$n" = 0 ]; then \
	  echo "mutants-quick: no mutant on the verdict-module lines changed since $$(git rev-parse --short $$base)"; exit 0; \
	fi; \
	echo "mutants-quick: $$n mutants on the verdict-module lines changed since $$(git rev-parse --short $$base)"; \
	rm -rf $$out; rc=0; timeout $(MUTANTS_QUICK_SECONDS) env $(MUTANTS_ENV) cargo mutants $(MUTANTS_FLAGS) \
	  --in-diff $$diff --output $(MUTANTS_OUT)-quick -- --lib || rc=$$?; \
	case $$rc in \
	  0|2|3) ;; \
	  124) echo "mutants-quick: stopped after $(MUTANTS_QUICK_SECONDS) s, $$(cat $$out/caught.txt $$out/missed.txt $$out/timeout.txt $$out/unviable.txt 2>/dev/null | wc -l) of $$n mutants tested";; \
	  *) echo "mutants-quick: cargo-mutants failed ($$rc; 4 = the tests fail unmutated)" >&2; exit 1;; \
	esac; \
	if [ -s $$out/timeout.txt ]; then echo "mutants-quick: timed out (counted as caught):"; cat $$out/timeout.txt; fi; \
	if [ -s $$out/missed.txt ]; then \
	  echo "mutants-quick: missed mutants (a test to write, or an equivalence for docs/MUTANTS.md):" >&2; \
	  cat $$out/missed.txt >&2; exit 1; \
	fi; \
	echo "mutants-quick: no mutant missed"
