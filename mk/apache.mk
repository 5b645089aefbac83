# The Apache httpd host module (hosts/apache): mod_gpcguard, built with Debian's apxs
# (apache2-dev) and loaded into Debian's apache2 by hosts/apache/test.sh.
#
#   make apache-module   build/apache/mod/.libs/mod_gpcguard.so
#   make test-apache     build it and run hosts/apache/test.sh (part of `make test` and `make test-hosts`)
#
# The module links libgpcguard from an install prefix under build/ (make install PREFIX=...),
# with an rpath to it, the way a user links an installed libgpcguard through pkg-config. The
# Debian package (mk/deb.mk) builds it in its own folder with APACHE_GPCGUARD_RPATH empty: the
# packaged module finds the packaged libgpcguard.so.0 in the system's library path.

DEB_PACKAGES += apache2 apache2-dev

APACHE_BUILD    ?= $(abspath build/apache)
APACHE_GPCGUARD := $(APACHE_BUILD)/gpcguard
APACHE_GPCGUARD_RPATH ?= $(APACHE_GPCGUARD)/lib
APACHE_MODULE   := $(APACHE_BUILD)/mod/.libs/mod_gpcguard.so

.PHONY: apache-module test-apache test-hosts
EXTRA_TESTS += test-apache

# Host-module tests: each host fragment adds its own prerequisite (make merges them).
test-hosts: test-apache

# apxs (libtool) writes its objects next to the source: it compiles a copy under build/.
apache-module: release
	@command -v apxs >/dev/null || { echo "apache-module: apxs is missing: apt-get install apache2-dev (make deps)" >&2; exit 1; }
	$(MAKE) --no-print-directory install PREFIX=$(APACHE_GPCGUARD) INSTALL_LIBDIR=$(APACHE_GPCGUARD)/lib >/dev/null
	rm -rf $(APACHE_BUILD)/mod && mkdir -p $(APACHE_BUILD)/mod
	cp hosts/apache/mod_gpcguard.c $(APACHE_BUILD)/mod/
	cd $(APACHE_BUILD)/mod && export PKG_CONFIG_PATH=$(APACHE_GPCGUARD)/lib/pkgconfig && \
	  apxs -c -Wc,-Wall -Wc,-Wextra -Wc,-Werror -Wc,-Wno-unused-parameter \
	    $$(pkg-config --cflags gpcguard openssl) $$(pkg-config --libs gpcguard openssl) \
	    $(if $(APACHE_GPCGUARD_RPATH),-Wl$(comma)-R$(APACHE_GPCGUARD_RPATH)) mod_gpcguard.c > build.log 2>&1 \
	  || { cat build.log >&2; exit 1; }
	@echo "apache-module: $(APACHE_MODULE)"

test-apache: deps apache-module
	hosts/apache/test.sh $(APACHE_MODULE)
