# Debian packages (debian/), built with Debian's own tools: dpkg-buildpackage and debhelper.
#
#   make deb        build/deb/*.deb: libgpcguard0, libgpcguard-dev, gpcguard-tools,
#                   libnginx-mod-http-gpcguard, libapache2-mod-gpcguard, libgpcguard-java and
#                   their -dbgsym packages (debian/README.source)
#   make test-deb   lintian, then install them on this machine, run the nginx and Apache host
#                   tests against the system servers with the modules the packages enabled,
#                   build a program with pkg-config against the installed -dev, run the
#                   packaged gpcguard command and a Java program on the packaged JNI library,
#                   purge, and check that nothing is left (as root; part of `make test`)
#
# debian/changelog is written here from Cargo.toml's version (and not committed). The build
# runs in this tree and shares target/ with `make`: after `make test` the crate is not compiled
# again (debian/README.source).

DEB_PACKAGES += debhelper dpkg-dev fakeroot lintian
DEB_OUT := $(abspath build/deb)

.PHONY: deb test-deb
EXTRA_TESTS += test-deb

# The build dependencies of debian/control are installed when missing (as root, as make deps
# does). The changelog entry is signed by debian/control's maintainer and dated by the commit, so
# two builds of one commit are the same (dpkg takes SOURCE_DATE_EPOCH from it).
deb:
	@if ! { command -v dpkg-checkbuilddeps >/dev/null && dpkg-checkbuilddeps; }; then \
	  if [ "$$(id -u)" -ne 0 ]; then echo "deb: run as root: apt-get install dpkg-dev fakeroot && apt-get build-dep ./" >&2; exit 1; fi; \
	  echo "deb: installing the build dependencies (apt-get build-dep ./)"; \
	  export DEBIAN_FRONTEND=noninteractive; apt-get update && apt-get install -y --no-install-recommends dpkg-dev fakeroot \
	    && apt-get build-dep -y --no-install-recommends ./; \
	fi
	@commit=$$(git rev-parse --short HEAD 2>/dev/null || true); \
	when=$$(git log -1 --format=%ct 2>/dev/null || date +%s); \
	dirty=$$(test -n "$$commit" && ! git diff --quiet HEAD -- 2>/dev/null && echo ', with local changes' || true); \
	{ printf 'gpcguard (%s) unstable; urgency=medium\n\n' "$(VERSION)"; \
	  printf '  * Cargo.toml version %s%s%s.\n\n' "$(VERSION)" "$${commit:+, git commit $$commit}" "$$dirty"; \
	  printf ' -- %s  %s\n' "$$(sed -n 's/^Maintainer: //p' debian/control)" "$$(LC_ALL=C date -u -R -d @$$when)"; \
	} > debian/changelog
	rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)
	dpkg-buildpackage -b --no-sign \
	  --buildinfo-file=$(DEB_OUT)/gpcguard_$(VERSION)_$$(dpkg --print-architecture).buildinfo \
	  --changes-file=$(DEB_OUT)/gpcguard_$(VERSION)_$$(dpkg --print-architecture).changes \
	  --buildinfo-option=-u$(DEB_OUT) --changes-option=-u$(DEB_OUT)
	@ls -l $(DEB_OUT)

test-deb: deps deb
	hosts/deb-test.sh $(DEB_OUT) $(VERSION)
