# The Java binding (hosts/java) and the Tomcat integration (hosts/tomcat), built with javac and cc
# only (no Maven repository is reachable; Debian ships every jar needed).
#
#   make java        build/java/gpcguard.jar (org.gpcguard, org.gpcguard.tomcat...) and
#                    build/java/libgpcguard_jni.so (the JNI shim over the C ABI)
#   make test-java   the JUnit 5 suite under -Xcheck:jni (part of `make test`)
#
# The shim links libgpcguard from an install prefix under build/ (make install PREFIX=...), with
# an rpath to it, the way the nginx and Apache modules do.

DEB_PACKAGES += openjdk-17-jdk-headless junit5 libtomcat10-java tomcat10 libtomcat9-java libtcnative-1

JAVA_HOME   ?= /usr/lib/jvm/java-17-openjdk-$(shell dpkg --print-architecture 2>/dev/null || echo amd64)
JAVAC       := $(JAVA_HOME)/bin/javac
JAVA        := $(JAVA_HOME)/bin/java
JAR         := $(JAVA_HOME)/bin/jar
JAVA_BUILD  := $(abspath build/java)
JAVA_PREFIX := $(JAVA_BUILD)/gpcguard
JAVA_JAR    := $(JAVA_BUILD)/gpcguard.jar
JNI_LIB     := $(JAVA_BUILD)/libgpcguard_jni.so
# The test build finds libgpcguard in its prefix under build/; the Debian package (debian/rules)
# empties this, so the packaged shim finds the packaged libgpcguard.so.0 on the system path.
JAVA_GPCGUARD_RPATH ?= -Wl,-rpath,$(JAVA_PREFIX)/lib
# Extra compiler and linker flags for the shim: the Debian package passes dpkg-buildflags'
# (_FORTIFY_SOURCE, stack protector, bindnow), as Debian builds C it ships.
JNI_BUILDFLAGS ?=
JUNIT_JAR   := /usr/share/java/junit-platform-console-standalone.jar
TOMCAT10_LIB := /usr/share/tomcat10/lib
TOMCAT10_CP := $(TOMCAT10_LIB)/catalina.jar:$(TOMCAT10_LIB)/servlet-api.jar:$(TOMCAT10_LIB)/tomcat-coyote.jar:$(TOMCAT10_LIB)/tomcat-util.jar:$(TOMCAT10_LIB)/tomcat-api.jar:/usr/share/tomcat10/bin/tomcat-juli.jar
TOMCAT9_CP  := $(subst $(eval) ,:,$(addprefix /usr/share/java/tomcat9-,catalina.jar servlet-api.jar coyote.jar util.jar api.jar juli.jar jni.jar))
JAVA_SOURCES := $(shell find hosts/java/src -name '*.java' 2>/dev/null) \
                $(shell find hosts/tomcat/src10 -name '*.java' 2>/dev/null)
TOMCAT9_SOURCES := $(shell find hosts/tomcat/src9 -name '*.java' 2>/dev/null)
# The Valve, the Filter, the JMX control and the listeners' base class (configuration, reloads,
# failed startup) are the same for both Tomcats but for the servlet package (jakarta / javax):
# the Tomcat 9 ones are made from the Tomcat 10 sources, so each rule is written once.
TOMCAT9_SHARED := GpcGuardValve GpcGuardFilter GpcGuardControl GpcGuardControlMBean GpcGuardListenerBase
JAVA_TESTS  := $(shell find hosts/java/test -name '*.java' 2>/dev/null)

.PHONY: java test-java
EXTRA_TESTS += test-java

java: $(JAVA_JAR) $(JNI_LIB)

$(JAVA_PREFIX)/lib/libgpcguard.so: release
	$(MAKE) --no-print-directory install PREFIX=$(JAVA_PREFIX) >/dev/null

$(JNI_LIB): hosts/java/jni/gpcguard_jni.c hosts/java/jni/exports.map include/gpcguard.h $(JAVA_PREFIX)/lib/libgpcguard.so
	@mkdir -p $(JAVA_BUILD)
	$(CC) $(C_WARNINGS) -O2 -g -fPIC -shared -fvisibility=hidden $(JNI_BUILDFLAGS) \
	  -DGPCGUARD_JNI_BUILT_VERSION='"$(VERSION)"' \
	  -I$(JAVA_PREFIX)/include -I$(JAVA_HOME)/include -I$(JAVA_HOME)/include/linux $(OPENSSL_CFLAGS) \
	  -Wl,--version-script=hosts/java/jni/exports.map -Wl,-z,now -Wl,-z,relro \
	  -o $@ hosts/java/jni/gpcguard_jni.c \
	  -L$(JAVA_PREFIX)/lib $(JAVA_GPCGUARD_RPATH) -lgpcguard $(OPENSSL_LIBS)
	@exported=$$(nm -D --defined-only $@ | awk '{print $$3}' | sort | tr '\n' ' '); \
	test "$$exported" = "JNI_OnLoad JNI_OnUnload " || { echo "$@ exports more than JNI_OnLoad/JNI_OnUnload: $$exported" >&2; exit 1; }

$(JAVA_JAR): $(JAVA_SOURCES) $(TOMCAT9_SOURCES)
	@test -x $(JAVAC) || { echo "java: $(JAVAC) is missing: apt-get install openjdk-17-jdk-headless (make deps)" >&2; exit 1; }
	rm -rf $(JAVA_BUILD)/classes $(JAVA_BUILD)/src9 && mkdir -p $(JAVA_BUILD)/classes $(JAVA_BUILD)/src9/org/gpcguard/tomcat9
	$(JAVAC) -Xlint:all -Werror --release 11 -d $(JAVA_BUILD)/classes -cp $(TOMCAT10_CP) $(JAVA_SOURCES)
	for c in $(TOMCAT9_SHARED); do \
	  sed -e 's/^package org\.gpcguard\.tomcat;/package org.gpcguard.tomcat9;/' -e 's/\bjakarta\.servlet\b/javax.servlet/g' \
	    -e 's/Tomcat 10\.1/Tomcat 9/g' hosts/tomcat/src10/org/gpcguard/tomcat/$$c.java > $(JAVA_BUILD)/src9/org/gpcguard/tomcat9/$$c.java; \
	done
	$(JAVAC) -Xlint:all -Werror --release 11 -d $(JAVA_BUILD)/classes -cp $(JAVA_BUILD)/classes:$(TOMCAT9_CP) \
	  $(TOMCAT9_SOURCES) $(addprefix $(JAVA_BUILD)/src9/org/gpcguard/tomcat9/,$(addsuffix .java,$(TOMCAT9_SHARED)))
	$(JAR) --create --file $@ -C $(JAVA_BUILD)/classes .

# JUnit 5 (Debian's console launcher) with -Xcheck:jni; the tests make their own PKI.
test-java: deps java
	rm -rf $(JAVA_BUILD)/test-classes && mkdir -p $(JAVA_BUILD)/test-classes
	$(CC) $(C_WARNINGS) -O1 -g -I$(JAVA_PREFIX)/include -o $(JAVA_BUILD)/verdict_oracle hosts/java/test/c/verdict_oracle.c \
	  -L$(JAVA_PREFIX)/lib -Wl,-rpath,$(JAVA_PREFIX)/lib -lgpcguard
	$(JAVAC) -Xlint:all -Werror --release 11 -d $(JAVA_BUILD)/test-classes -cp $(JAVA_JAR):$(JUNIT_JAR) $(JAVA_TESTS)
	$(JAVA) -Xcheck:jni -Xms256m -Xmx256m -XX:+AlwaysPreTouch -Dgpcguard.jni.library=$(JNI_LIB) -Dgpcguard.repo=$(CURDIR) \
	  -Dgpcguard.jar=$(JAVA_JAR) -Dgpcguard.oracle=$(JAVA_BUILD)/verdict_oracle \
	  -jar $(JUNIT_JAR) --disable-banner --fail-if-no-tests \
	  -cp $(JAVA_JAR):$(JAVA_BUILD)/test-classes --scan-classpath $(JAVA_BUILD)/test-classes

# Real Tomcat 10.1 (Debian's tomcat10, catalina.sh run, JSSE) driven by curl and openssl s_client,
# and `gpcguard probe` (the release build's command) against it, as against Tomcat 9 below.
.PHONY: test-tomcat10
EXTRA_TESTS += test-tomcat10
test-hosts: test-tomcat10

test-tomcat10: deps java release
	hosts/tomcat/test10.sh $(JAVA_BUILD) $(LIBDIR)/gpcguard

# Real Tomcat 9 with the APR/native connector (the security page's attributes), embedded from
# Debian's libtomcat9-java jars with Debian's tcnative; sslscan sees exactly the Spine suites.
.PHONY: test-tomcat9
DEB_PACKAGES += sslscan
EXTRA_TESTS += test-tomcat9
test-hosts: test-tomcat9

test-tomcat9: deps java release
	hosts/tomcat/test9.sh $(JAVA_BUILD) $(LIBDIR)/gpcguard

# `make bench-java`: JNI against the C ABI and against the same checks in Java (Jackson from
# Debian, installed by make bench's packages); prints the rows `make bench` puts in
# docs/PERFORMANCE.md. Not a test.
.PHONY: bench-java
bench-java: java $(JAVA_BUILD)/abi_bench
	hosts/java/bench/run.sh $(JAVA_BUILD) $(RUNS)

# `make bench` gains the Java rows (bench.mk, included before this file, defines the list): JNI
# against the C ABI and Java + Jackson, and a real Tomcat 10.1's requests/s with and without the
# Valve (hosts/java/bench/tomcat.sh, its load client built there with OpenSSL).
BENCH_DEB_PACKAGES += libjackson2-databind-java openjdk-17-jdk-headless tomcat10 libtomcat10-java curl libssl-dev
bench: java $(JAVA_BUILD)/abi_bench
bench: export GPCGUARD_JAVA_BENCH := $(JAVA_BUILD)

$(JAVA_BUILD)/abi_bench: hosts/java/bench/abi_bench.c $(JAVA_PREFIX)/lib/libgpcguard.so
	$(CC) -O2 -Wall -I$(JAVA_PREFIX)/include -o $@ hosts/java/bench/abi_bench.c \
	  -L$(JAVA_PREFIX)/lib -Wl,-rpath,$(JAVA_PREFIX)/lib -lgpcguard
