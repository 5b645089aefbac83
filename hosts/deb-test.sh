#!/usr/bin/env bash
# The Debian packages of `make deb` used the way an operator uses them, on this machine (as root):
# lintian; `apt-get install ./build/deb/*.deb`; the installed library (stripped, soname, exports);
# the modules enabled the Debian way (modules-enabled snippet, a2enmod) and loaded by the system
# configurations; the nginx and Apache host tests run by the system servers with the module the
# enabled snippet loads; a C program built with `pkg-config gpcguard` against the installed -dev;
# the gpcguard command (gpcguard-tools) and its systemd examples; a Java program that loads the
# packaged JNI library through java.library.path (libgpcguard-java); then `apt-get purge`, after which nothing of gpcguard is left and both system configurations
# still load. The packages are purged when the test ends, whatever happens, and first if a
# previous run left them installed.
#
# Usage: hosts/deb-test.sh DEB_DIR VERSION    (make test-deb builds the packages and calls this)
set -euo pipefail

debs=$(realpath "${1:?usage: deb-test.sh DEB_DIR VERSION}")
version=${2:?usage: deb-test.sh DEB_DIR VERSION}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/test-helpers.sh"
[ "$(id -u)" = 0 ] || { echo "deb-test: it installs packages: run it as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -y -q -o DPkg::Lock::Timeout=600)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
lib=/usr/lib/$multiarch/libgpcguard.so.0
nginx_snippet=/etc/nginx/modules-enabled/50-mod-http-gpcguard.conf
apache_load=/etc/apache2/mods-enabled/gpcguard.load
nginx_module=/usr/lib/nginx/modules/ngx_http_gpcguard_module.so
apache_module=/usr/lib/apache2/modules/mod_gpcguard.so
jni_lib=/usr/lib/$multiarch/jni/libgpcguard_jni.so
jar=/usr/share/java/gpcguard.jar
systemd_examples=/usr/share/doc/gpcguard-tools/examples/systemd
java_home=/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)
mapfile -t packages < <(for d in "$debs"/*.deb; do dpkg-deb -f "$d" Package; done)
[ "${#packages[@]}" -ge 6 ] || { echo "deb-test: no packages in $debs (make deb)" >&2; exit 1; }

work=$(mktemp -d /tmp/gpcguard-deb.XXXXXX)
# present: the packages dpkg knows in any state but "not installed" (config-files included).
present() {
  dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${packages[@]}" 2>/dev/null \
    | awk 'substr($1, 2, 1) != "n" { print $2 }'
}
purge() {
  local left
  left=$(present)
  [ -z "$left" ] || "${apt[@]}" purge $left > "$work/purge.log" 2>&1 || { cat "$work/purge.log"; return 1; }
}
cleanup() {
  purge || echo "deb-test: could not purge: $(present | tr '\n' ' ')" >&2
  rm -rf "$work"
}
trap cleanup EXIT
# check NAME COMMAND...: pass when COMMAND succeeds, else fail with its output.
check() {
  local name=$1; shift
  if "$@" > "$work/out" 2>&1; then gpc_pass "$name"; else gpc_fail "$name" "$(head -c 1500 "$work/out")"; fi
}

echo "== lintian (errors, warnings and info; overrides in debian/*.lintian-overrides)"
check "lintian is clean" lintian --fail-on error,warning,info -I "$debs"/*.changes

if [ -n "$(present)" ]; then
  echo "== purging what a previous run left: $(present | tr '\n' ' ')"
  purge
fi

echo "== apt-get install $debs/*.deb"
if ! "${apt[@]}" install --no-install-recommends "$debs"/*.deb > "$work/install.log" 2>&1; then
  cat "$work/install.log"; exit 1
fi
gpc_pass "apt-get install of ${#packages[@]} packages: ${packages[*]}"
for p in "${packages[@]}"; do dpkg -L "$p" >> "$work/files"; done

echo "== the installed library"
check "soname libgpcguard.so.0" bash -c "readelf -d '$lib' | grep -q 'SONAME.*\[libgpcguard.so.0\]'"
check "stripped: no symbol table, no debug sections" bash -c "! readelf -S -W '$lib' | grep -E '\.symtab|\.debug_'"
# The exports are exactly the functions the installed header declares.
nm -D --defined-only "$lib" | awk '{ print $3 }' | sort > "$work/exports"
grep -oE '\bgpcguard_[a-z0-9_]+\(' /usr/include/gpcguard.h | tr -d '(' | sort -u > "$work/declared"
check "exports only gpcguard_* ($(wc -l < "$work/exports") symbols), each declared in gpcguard.h" \
  diff "$work/declared" "$work/exports"
# (with merged /usr the cache and ldd may name it /lib/...: the files are compared)
check "found through the linker cache" bash -c \
  "ldconfig -p | awk '\$1 == \"libgpcguard.so.0\" { print \$NF }' | xargs -r readlink -f | grep -qxF '$(readlink -f "$lib")'"
echo "   $(readlink -f "$lib"): $(stat -L -c %s "$lib") bytes"

echo "== the modules: no rpath, the packaged library, the server's ABI"
for m in "$nginx_module" "$apache_module"; do
  check "$m has no RPATH/RUNPATH" bash -c "! readelf -d '$m' | grep -E 'RPATH|RUNPATH'"
  check "$m loads $lib" bash -c \
    "ldd '$m' | awk '\$1 == \"libgpcguard.so.0\" { print \$3 }' | xargs -r readlink -f | grep -qxF '$(readlink -f "$lib")'"
done
nginx_abi=$(dpkg-query -W -f='${Provides}' nginx | grep -o 'nginx-abi-[^ ,]*')
check "libnginx-mod-http-gpcguard depends on $nginx_abi (nginx's Provides)" \
  bash -c "dpkg-query -W -f='\${Depends}' libnginx-mod-http-gpcguard | grep -qw -- '$nginx_abi'"
apache_api=$(dpkg-query -W -f='${Provides}' apache2-bin | grep -o 'apache2-api-[0-9]*' | head -n 1)
check "libapache2-mod-gpcguard depends on $apache_api (apache2-bin's Provides)" \
  bash -c "dpkg-query -W -f='\${Depends}' libapache2-mod-gpcguard | grep -qw -- '$apache_api'"
for p in libnginx-mod-http-gpcguard libapache2-mod-gpcguard; do
  check "$p depends on libgpcguard0 (>= $version) (symbols file)" \
    bash -c "dpkg-query -W -f='\${Depends}' $p | grep -qF 'libgpcguard0 (>= $version)'"
done

echo "== enabled the Debian way"
check "the package enabled the nginx module: $nginx_snippet" \
  test "$(readlink "$nginx_snippet")" = /usr/share/nginx/modules-available/mod-http-gpcguard.conf
check "a2enmod gpcguard" a2enmod gpcguard
check "mods-enabled has gpcguard.load and gpcguard.conf" \
  test -L "$apache_load" -a -L /etc/apache2/mods-enabled/gpcguard.conf
check "nginx -t: the system configuration loads the module" bash -c \
  "nginx -t && nginx -T 2>/dev/null | grep -q '^load_module modules/ngx_http_gpcguard_module.so;'"
check "apache2ctl configtest: the system configuration loads the module" bash -c \
  "apache2ctl configtest && apache2ctl -M 2>/dev/null | grep -q gpcguard_module"

echo "== hosts/nginx/test.sh $nginx_snippet (the system nginx)"
if "$here/nginx/test.sh" "$nginx_snippet"; then gpc_pass "nginx host test with the packaged module"
else gpc_fail "nginx host test with the packaged module" "see above"; fi
echo "== hosts/apache/test.sh $apache_load (the system apache2)"
if "$here/apache/test.sh" "$apache_load"; then gpc_pass "Apache host test with the packaged module"
else gpc_fail "Apache host test with the packaged module" "see above"; fi

echo "== a C program built with pkg-config against the installed libgpcguard-dev"
check "pkg-config: version $version, libdir /usr/lib/$multiarch" bash -c \
  "[ \"\$(pkg-config --modversion gpcguard)\" = '$version' ] && [ \"\$(pkg-config --variable=libdir gpcguard)\" = /usr/lib/$multiarch ]"
cd "$work"
check "cc pkgconfig_host.c \$(pkg-config --cflags --libs gpcguard)" bash -c \
  "cc -std=gnu11 -Wall -Wextra -Werror -o host '$here/../c-tests/pkgconfig_host.c' \$(pkg-config --cflags --libs gpcguard)"
check "the program needs libgpcguard.so.0, with no rpath" bash -c \
  "readelf -d host | grep -q 'NEEDED.*\[libgpcguard.so.0\]' && ! readelf -d host | grep -qE 'RPATH|RUNPATH'"
check "the program runs against the installed library" ./host "$version"
check "static: the stripped libgpcguard.a links (pkg-config --static)" bash -c \
  "cc -std=gnu11 -Wall -Wextra -Werror -o static-host '$here/../c-tests/pkgconfig_host.c' \$(pkg-config --cflags gpcguard) \
     /usr/lib/$multiarch/libgpcguard.a \$(pkg-config --static --libs gpcguard | sed 's/-lgpcguard//') && ./static-host '$version'"
cd - > /dev/null

echo "== gpcguard-tools: the gpcguard command"
check "gpcguard on PATH is /usr/bin/gpcguard" test "$(command -v gpcguard)" = /usr/bin/gpcguard
check "gpcguard --version prints the Cargo.toml version" test "$(/usr/bin/gpcguard --version 2>&1)" = "gpcguard $version"
check "gpcguard-tools depends on curl (crl-fetch downloads with it)" \
  bash -c "dpkg-query -W -f='\${Depends}' gpcguard-tools | tr ',' '\n' | grep -qxE ' ?curl( \(.*\))?'"
check "man gpcguard: /usr/share/man/man1/gpcguard.1.gz" test -s /usr/share/man/man1/gpcguard.1.gz
gpc_make_pki "$work/pki" /A20047/STU3/1/gpconnect
config=$work/pki/provider.toml
check "gpcguard check-config on the test configuration: clean (exit 0), its provider_asid" bash -c \
  "gpcguard check-config '$config' > '$work/check-config.out' && grep -qE '^provider_asid +$GPC_ASID_TO\$' '$work/check-config.out'"
check "gpcguard check-config on a configuration naming a missing trust anchor: exit 2, names the file" bash -c \
  "sed 's#^trust_anchor = .*#trust_anchor = [\"no-such-ca.pem\"]#' '$config' > '$work/pki/broken.toml' \
   && grep -q no-such-ca '$work/pki/broken.toml' || exit 1; gpcguard check-config '$work/pki/broken.toml' > '$work/broken.out' 2>&1; \
   rc=\$?; cat '$work/broken.out'; [ \$rc = 2 ] && grep -q 'no-such-ca.pem' '$work/broken.out'"
# systemd-analyze verify also checks that the binary ExecStart names exists.
check "the systemd examples run /usr/bin/gpcguard and pass systemd-analyze verify" bash -c \
  "grep -q '^ExecStart=/usr/bin/gpcguard crl-fetch ' '$systemd_examples/gpcguard-crl-fetch@.service' \
   && for u in service timer; do cp '$systemd_examples/gpcguard-crl-fetch@.'\$u '$work/gpcguard-crl-fetch@nginx.'\$u; done \
   && out=\$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no '$work/gpcguard-crl-fetch@nginx.service' '$work/gpcguard-crl-fetch@nginx.timer' 2>&1) \
   && { [ -z \"\$out\" ] || { echo \"\$out\"; false; }; }"

echo "== libgpcguard-java: the jar and the JNI library"
check "$jar is a link to gpcguard-$version.jar (Java policy)" test "$(readlink "$jar")" = "gpcguard-$version.jar"
check "$jar lists org/gpcguard/Guard.class" bash -c "'$java_home/bin/jar' tf '$jar' | grep -qx org/gpcguard/Guard.class"
check "$jni_lib has no RPATH/RUNPATH" bash -c "! readelf -d '$jni_lib' | grep -E 'RPATH|RUNPATH'"
check "$jni_lib loads $lib" bash -c \
  "ldd '$jni_lib' | awk '\$1 == \"libgpcguard.so.0\" { print \$3 }' | xargs -r readlink -f | grep -qxF '$(readlink -f "$lib")'"
check "libgpcguard-java depends on libgpcguard0 (>= $version)" \
  bash -c "dpkg-query -W -f='\${Depends}' libgpcguard-java | grep -qF 'libgpcguard0 (>= $version)'"
# A one-file program (java's source launcher) with only the packaged jar on the class path and no
# gpcguard.jni.library: the JVM's default java.library.path (Debian's includes
# /usr/lib/<multiarch>/jni) finds the shim, and the dynamic loader the packaged libgpcguard.so.0.
cat > "$work/PackagedGuard.java" <<'JAVA'
import java.nio.file.Files;
import java.nio.file.Path;
import org.gpcguard.Guard;

public class PackagedGuard {
    public static void main(String[] args) throws Exception {
        System.out.println("java.library.path " + System.getProperty("java.library.path"));
        try (Guard guard = Guard.fromFile(Path.of(args[0]))) {
            System.out.println("guard from " + args[0] + ", library " + Guard.version());
        }
        // The files the JVM mapped: which gpcguard libraries were really loaded.
        Files.readAllLines(Path.of("/proc/self/maps")).stream()
            .map(l -> l.replaceFirst("^(\\S+\\s+){5}", "").trim())
            .filter(f -> f.contains("libgpcguard"))
            .distinct()
            .forEach(f -> {
                try {
                    System.out.println("mapped " + Path.of(f).toRealPath());
                } catch (java.io.IOException e) {
                    System.out.println("mapped " + f + " (" + e + ")");
                }
            });
    }
}
JAVA
check "java -cp $jar PackagedGuard.java: builds a Guard from the test configuration" bash -c \
  "cd '$work' && '$java_home/bin/java' -Xshare:auto -cp '$jar' PackagedGuard.java '$config' > java.out 2>&1 \
   || { cat java.out; false; }"
check "the JVM's java.library.path has /usr/lib/$multiarch/jni" \
  grep -qE "^java.library.path (.*:)?/usr/lib/$multiarch/jni(:|\$)" "$work/java.out"
check "the Guard ran on the packaged library, version $version" grep -qxF "guard from $config, library $version" "$work/java.out"
check "the JVM loaded the packaged $jni_lib and $lib, nothing else of gpcguard" bash -c \
  "grep '^mapped ' '$work/java.out' | sort > '$work/mapped' \
   && printf 'mapped %s\n' '$(readlink -f "$jni_lib")' '$(readlink -f "$lib")' | sort | diff - '$work/mapped'"

echo "== apt-get purge"
check "apt-get purge ${packages[*]}" purge
check "dpkg knows none of the packages any more" test -z "$(present)"
# nothing_left: no file or link the packages had is there (debug files included); of the
# folders, those named after gpcguard are gone too (the others may belong to other packages).
nothing_left() {
  local f
  [ -s "$work/files" ] || { echo "no file list"; return 1; }
  while read -r f; do
    if [ -d "$f" ] && [ ! -L "$f" ]; then
      case $f in *gpcguard*) echo "left: $f"; return 1 ;; esac
    elif [ -e "$f" ] || [ -L "$f" ]; then
      echo "left: $f"; return 1
    fi
  done < "$work/files"
}
check "no file of the packages is left ($(grep -c . "$work/files") paths)" nothing_left
check "no gpcguard snippet or link in /etc/nginx, /etc/apache2, modules-available" bash -c \
  "! find /etc/nginx /etc/apache2 /usr/share/nginx -name '*gpcguard*' | grep ."
check "the linker cache has no libgpcguard" bash -c "! ldconfig -p | grep libgpcguard"
check "no gpcguard command, man page, systemd examples, jar or JNI library" bash -c \
  "! command -v gpcguard && ! ls -d /usr/bin/gpcguard /usr/share/man/man1/gpcguard.1.gz /usr/share/doc/gpcguard-tools \
     '$jar' '$jni_lib' 2>/dev/null | grep ."
check "nginx -t: the system nginx configuration still loads" nginx -t
check "apache2ctl configtest: the system Apache configuration still loads" apache2ctl configtest

echo
gpc_summary
