#!/usr/bin/env bash
# Writes the summary of a cargo-mutants run (its mutants.out folder) into DOC, between the lines
# "<!-- mutants:begin -->" and "<!-- mutants:end -->", keeping the rest of DOC (the hand-written
# explanations of the survivors) as it is.
#
# Usage: mk/mutants-summary.sh MUTANTS_OUT "FILE..." DOC [TEST-FILTER]
set -euo pipefail
out=${1:?usage: mutants-summary.sh MUTANTS_OUT FILES DOC}
files=${2:?}
doc=${3:?}
filter=${4:-}
[ -d "$out" ] || { echo "mutants-summary: no $out" >&2; exit 1; }
grep -q '^<!-- mutants:begin -->$' "$doc" && grep -q '^<!-- mutants:end -->$' "$doc" \
  || { echo "mutants-summary: $doc has no mutants:begin/end markers" >&2; exit 1; }

count() { grep -c "^$2:" "$out/$1.txt" 2>/dev/null || true; }
block=$(mktemp)
trap 'rm -f "$block"' EXIT
{
  echo "<!-- mutants:begin -->"
  echo "Last \`make mutants\` run: $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), cargo-mutants" \
       "$(cargo mutants --version 2>/dev/null | awk '{print $2}'), test command \`cargo test --lib${filter:+ -- $filter}\`."
  echo
  echo "| file | mutants | caught | missed | timeout | unviable | score |"
  echo "|---|---|---|---|---|---|---|"
  for f in $files; do
    c=$(count caught "$f"); m=$(count missed "$f"); t=$(count timeout "$f"); u=$(count unviable "$f")
    n=$((c + m + t + u))
    if [ $((c + m + t)) -gt 0 ]; then score="$((100 * c / (c + m + t)))%"; else score="-"; fi
    echo "| \`$f\` | $n | $c | $m | $t | $u | $score |"
  done
  echo
  if [ -s "$out/missed.txt" ] || [ -s "$out/timeout.txt" ]; then
    echo "Missed in that run (each is explained or killed below):"
    echo
    cat "$out/missed.txt" "$out/timeout.txt" 2>/dev/null | sed 's/^/- `/; s/$/`/'
  else
    echo "No mutant was missed in that run."
  fi
  echo "<!-- mutants:end -->"
} > "$block"
awk -v block="$block" '
  /^<!-- mutants:begin -->$/ { while ((getline line < block) > 0) print line; skipping = 1; next }
  /^<!-- mutants:end -->$/ { skipping = 0; next }
  !skipping { print }
' "$doc" > "$doc.new"
mv "$doc.new" "$doc"
