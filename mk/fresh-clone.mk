# A newcomer's first make. `git clone` names the folder after the repository, gpcguard, and in a
# folder named like the package cargo writes the package id without the name
# (`path+file:///.../gpcguard#0.1.0`), which once made the header lookup find nothing and stop
# with a bare "Error 1". This clones the committed HEAD into a temporary folder named gpcguard and
# runs `make check-header` there; then it makes the clone's header stale and expects the check to
# fail saying so and what to run, not silently.
#
#   make test-fresh-clone-name     part of make test
#
# The clone builds into a target folder of its own under ours, kept between runs (a second run
# rebuilds only gpcguard). Sharing ours would let cargo take one tree's artifacts for the other's
# (it fingerprints a path package by paths relative to the package), so the tests after this one
# could run on HEAD instead of the working tree. Only the build script's header is looked at, so
# the clone builds at opt-level 0 without debug info, which is quicker.

FRESH_CLONE_TARGET_DIR := $(abspath $(TARGET_DIR))/fresh-clone

EXTRA_TESTS += test-fresh-clone-name
.PHONY: test-fresh-clone-name

test-fresh-clone-name:
	@work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; \
	fail() { echo "test-fresh-clone-name: $$*" >&2; exit 1; }; \
	git -C "$(CURDIR)" rev-parse --verify --quiet HEAD >/dev/null \
	  || fail "$(CURDIR) is not a git checkout with a commit: this test clones the committed HEAD"; \
	git clone --quiet "$(CURDIR)" "$$work/gpcguard" || fail "git clone of $(CURDIR) failed (errors above)"; \
	export CARGO_TARGET_DIR="$(FRESH_CLONE_TARGET_DIR)" CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_DEBUG=0; \
	if ! $(MAKE) --no-print-directory -C "$$work/gpcguard" check-header > "$$work/current.log" 2>&1; then \
	  cat "$$work/current.log" >&2; \
	  fail "make check-header failed in a fresh clone whose folder is named gpcguard (output above)"; \
	fi; \
	grep -q '^include/gpcguard.h is current$$' "$$work/current.log" \
	  || { cat "$$work/current.log" >&2; fail "make check-header passed in the clone without saying the header is current"; }; \
	echo '/* stale */' >> "$$work/gpcguard/include/gpcguard.h"; \
	if $(MAKE) --no-print-directory -C "$$work/gpcguard" check-header > "$$work/stale.log" 2>&1; then \
	  fail "make check-header passed in the clone with a stale include/gpcguard.h"; \
	fi; \
	grep -q 'include/gpcguard.h is stale' "$$work/stale.log" && grep -q 'Run `make header`' "$$work/stale.log" \
	  || { cat "$$work/stale.log" >&2; fail "make check-header refused a stale header without saying so and what to run (output above)"; }; \
	echo "test-fresh-clone-name: make check-header in a clone named gpcguard passes, and names a stale header"
