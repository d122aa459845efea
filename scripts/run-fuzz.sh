#!/usr/bin/env bash
# Runs every libFuzzer target in BINDIR for SECONDS each, from its seed corpus
# in fuzz/corpus/NAME (copied, so runs never grow the committed corpus).
# Prints the execution count per target; any crash fails the run.
set -euo pipefail
bindir=$1; secs=$2
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
status=0
for bin in "$bindir"/fuzz_*; do
  name=$(basename "$bin")
  work=$(mktemp -d)
  [ -d "$root/fuzz/corpus/$name" ] && cp -r "$root/fuzz/corpus/$name/." "$work/"
  log=$(mktemp)
  if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/" "$work" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz: $name ok, $runs executions in ${secs}s"
  else
    echo "fuzz: $name FAILED"; tail -40 "$log"; status=1
  fi
  rm -rf "$work" "$log"
done
exit $status
