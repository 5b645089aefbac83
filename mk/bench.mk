# `make bench`: gpcguard against its peers, side by side, in one run (issue 5). Not a test: it
# reports timings and writes docs/PERFORMANCE.md, it never fails on a number. Installs its own
# peers when missing: Debian packages (as root) and PyJWT in a venv under build/bench.
#
#   make bench [RUNS=7] [HANDSHAKES=400]

BENCH_DIR := build/bench
BENCH_DEB_PACKAGES := valgrind libjwt-dev libjansson-dev nginx-light python3 python3-venv $(DEB_PACKAGES)
# The bench package has its own Cargo.lock and dependency features: built into the library's
# target folder it replaced the library's rlib with one linked to another build of `openssl`, and
# the next `cargo test --release --test limbo` failed with "multiple different versions of crate
# openssl". Its own folder keeps the two apart.
BENCH_TARGET_DIR := $(TARGET_DIR)/bench
RUNS ?= 7
HANDSHAKES ?= 400

.PHONY: bench bench-deps

bench-deps:
	@missing=; for p in $(BENCH_DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -ne 0 ]; then echo "bench: missing Debian packages:$$missing (run as root)" >&2; exit 1; fi; \
	  echo "bench: installing$$missing"; export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update && apt-get install -y --no-install-recommends $$missing; \
	fi
	@test -x $(BENCH_DIR)/venv/bin/python || python3 -m venv $(BENCH_DIR)/venv
	@$(BENCH_DIR)/venv/bin/python -c 'import jwt' 2>/dev/null || $(BENCH_DIR)/venv/bin/pip install --quiet 'PyJWT>=2.8,<3'

bench: bench-deps release
	$(CARGO) build --release --manifest-path benches/Cargo.toml --target-dir $(BENCH_TARGET_DIR)
	@mkdir -p $(BENCH_DIR)/lib
	ln -sfn $(abspath $(LIBDIR))/libgpcguard.so $(BENCH_DIR)/lib/libgpcguard.so.$(SOVERSION)
	ln -sfn libgpcguard.so.$(SOVERSION) $(BENCH_DIR)/lib/libgpcguard.so
	$(CC) -O2 -Wall -Iinclude $(OPENSSL_CFLAGS) -o $(BENCH_DIR)/hs_server benches/peers/hs_server.c \
	  -L$(BENCH_DIR)/lib -Wl,-rpath,$(abspath $(BENCH_DIR)/lib) -lgpcguard $(OPENSSL_LIBS)
	$(CC) -O2 -Wall $(OPENSSL_CFLAGS) -o $(BENCH_DIR)/hs_client benches/peers/hs_client.c $(OPENSSL_LIBS)
	$(CC) -O2 -Wall -o $(BENCH_DIR)/libjwt_peer benches/peers/libjwt_peer.c $$(pkg-config --cflags --libs libjwt jansson)
	@rm -rf $(BENCH_DIR)/pki $(BENCH_DIR)/nginx
	c-tests/make-pki.sh $(BENCH_DIR)/pki >/dev/null
	RUNS=$(RUNS) HANDSHAKES=$(HANDSHAKES) python3 benches/run.py $(LIBDIR) $(BENCH_DIR) $(BENCH_TARGET_DIR)/release/reqbench
