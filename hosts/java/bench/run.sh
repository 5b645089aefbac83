#!/usr/bin/env bash
# `make bench-java`: check_request through JNI, through the C ABI, and the same checks written in
# Java (Jackson + java.util.Base64), on one allowed request; prints the rows for
# docs/PERFORMANCE.md. Not a test: it never fails on a number.
#   hosts/java/bench/run.sh BUILD_DIR RUNS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../test-helpers.sh"
build=$(cd "$1" && pwd); runs=${2:-7}
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)}
work=$build/bench
rm -rf "$work" && mkdir -p "$work/classes"
gpc_make_pki "$work/pki" /A20047/STU3/1/gpconnect
jackson=/usr/share/java/jackson-databind.jar:/usr/share/java/jackson-core.jar:/usr/share/java/jackson-annotations.jar
test -r /usr/share/java/jackson-databind.jar || { echo "bench-java: apt-get install libjackson2-databind-java" >&2; exit 1; }
"$JAVA_HOME/bin/javac" -d "$work/classes" -cp "$build/gpcguard.jar:$jackson" "$here/JavaBench.java"
now=$(date +%s)
token=$(gpc_token 300 'patient/*.read' Device)
abi=$("$build/abi_bench" "$work/pki/provider.toml" "$token" "$now" "$runs" | awk '{print $2}')
out=$("$JAVA_HOME/bin/java" -Xmx256m -Dgpcguard.jni.library="$build/libgpcguard_jni.so" -cp "$work/classes:$build/gpcguard.jar:$jackson" \
  JavaBench "$work/pki/provider.toml" "$token" "$now" "$runs")
jni=$(awk '$1 == "jni" {print $2}' <<< "$out"); java=$(awk '$1 == "java" {print $2}' <<< "$out")
ratio=$(awk -v a="$jni" -v b="$java" 'BEGIN { printf "%.2f", a / b }')
above=$(awk -v a="$jni" -v b="$abi" 'BEGIN { printf "%.0f", a - b }')
met() { awk -v v="$1" -v limit="$2" 'BEGIN { exit !(v <= limit) }' && echo met || echo '**MISSED**'; }
# Raw figures first (benches/run.py reads these lines), then the rows.
printf 'abi %s\njni %s\njava %s\n' "$abi" "$jni" "$java"
echo "| workload | ours | peer | ratio | target | |"
echo "|---|---|---|---|---|---|"
echo "| check_request allowed, Java through JNI: CPU ns/op (median of $runs) | $jni | Java + Jackson $java | ${ratio}× the Java time | ≤ 0.5× | $(met "$ratio" 0.5) |"
echo "| check_request allowed, JNI above the C ABI: CPU ns/op | $jni − $abi = $above | — | — | ≤ 1000 ns | $(met "$above" 1000) |"
