# The nginx host module (hosts/nginx): built against Debian's nginx 1.22 with the source tree
# nginx-dev ships, loaded into the real Debian nginx by hosts/nginx/test.sh.
#
#   make nginx-module   build/nginx/objs/ngx_http_gpcguard_module.so
#   make test-nginx     build it and run hosts/nginx/test.sh (part of `make test` and `make test-hosts`)
#
# The module links libgpcguard from an install prefix under build/ (make install PREFIX=...),
# with an rpath to it, the way a user links an installed libgpcguard. The Debian package
# (mk/deb.mk) builds it in its own folder with NGINX_GPCGUARD_RPATH empty: the packaged module
# finds the packaged libgpcguard.so.0 in the system's library path.

DEB_PACKAGES += nginx nginx-dev

NGINX_SRC       ?= /usr/share/nginx/src
NGINX_BUILD     ?= $(abspath build/nginx)
NGINX_GPCGUARD  := $(NGINX_BUILD)/gpcguard
NGINX_GPCGUARD_RPATH ?= $(NGINX_GPCGUARD)/lib
NGINX_MODULE    := $(NGINX_BUILD)/objs/ngx_http_gpcguard_module.so

.PHONY: nginx-module test-nginx test-hosts
EXTRA_TESTS += test-nginx

# Host-module tests: each host fragment adds its own prerequisite (make merges them).
test-hosts: test-nginx

# nginx's configure writes a Makefile into the tree it runs from, so it runs in a copy of the
# shipped tree (1 MB), never in /usr/share/nginx/src. Same flags as Debian's own module builds
# (conf_flags, dpkg-buildflags, --with-compat), so the module matches the packaged binary.
$(NGINX_BUILD)/objs/Makefile: hosts/nginx/config mk/nginx.mk
	@test -x $(NGINX_SRC)/configure || { echo "nginx-module: $(NGINX_SRC) is missing: apt-get install nginx-dev (make deps)" >&2; exit 1; }
	rm -rf $(NGINX_BUILD)/src $(NGINX_BUILD)/objs
	mkdir -p $(NGINX_BUILD)
	cp -a $(NGINX_SRC) $(NGINX_BUILD)/src
	cd $(NGINX_BUILD)/src && . ./conf_flags && \
	  export GPCGUARD_CFLAGS="-I$(NGINX_GPCGUARD)/include" \
	         GPCGUARD_LIBS="-L$(NGINX_GPCGUARD)/lib $(if $(NGINX_GPCGUARD_RPATH),-Wl$(comma)-rpath$(comma)$(NGINX_GPCGUARD_RPATH)) -lgpcguard" && \
	  ./configure \
	    --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC $$(dpkg-buildflags --get CPPFLAGS)" \
	    --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC" \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module=$(abspath hosts/nginx) \
	    --builddir=$(NGINX_BUILD)/objs > $(NGINX_BUILD)/configure.log 2>&1 \
	  || { tail -n 30 $(NGINX_BUILD)/configure.log >&2; exit 1; }

nginx-module: release $(NGINX_BUILD)/objs/Makefile
	$(MAKE) --no-print-directory install PREFIX=$(NGINX_GPCGUARD) INSTALL_LIBDIR=$(NGINX_GPCGUARD)/lib >/dev/null
	$(MAKE) --no-print-directory -f $(NGINX_BUILD)/objs/Makefile -C $(NGINX_BUILD)/src modules
	@echo "nginx-module: $(NGINX_MODULE)"

test-nginx: deps nginx-module
	hosts/nginx/test.sh $(NGINX_MODULE)
