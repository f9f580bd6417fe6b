#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that takes outside input (docs/fuzzing.md).
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]   (default: 30 s each, every target)
#   FUZZ_RUNS=N bash scripts/fuzz.sh [SECONDS] [TARGET...]   (a long campaign: N inputs each, or
#   SECONDS if that comes first; 0 seconds means no time limit)
# Builds one libFuzzer binary (-sanitize=fuzzer,address) from scripts/fuzz/FuzzTargets.swift and the
# sources of Raft, Store, Master and the HTTP parser compiled as one module, then runs each target
# for SECONDS with a corpus in .build/fuzz/corpus/TARGET, seeded from the tests' manifests, and
# the format's dictionary (scripts/fuzz/TARGET.dict) where there is one. Exits
# non-zero on any crash, on an input that runs longer than 2 s, or past 2 GiB of memory; the
# input that did it is kept in .build/fuzz/ (replay: FUZZ_TARGET=T .build/fuzz/fuzz FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(json yaml http raft-message wal selectors patch)
work=.build/fuzz
mkdir -p "$work/src"
rm -f "$work"/src/*.swift
for module in Raft Store Master; do
  for f in Sources/$module/*.swift; do
    sed -E '/^import (Raft|Store|Master)$/d' "$f" > "$work/src/${module}_$(basename "$f")"
  done
done
sed -E '/^import (Raft|Store|Master)$/d' Sources/Runtime/HTTPParser.swift > "$work/src/Runtime_HTTPParser.swift"
if [ ! -x "$work/fuzz" ] || [ -n "$(find scripts/fuzz Sources -name '*.swift' -newer "$work/fuzz" | head -1)" ]; then
  swiftc -sanitize=fuzzer,address -parse-as-library -O "$work"/src/*.swift scripts/fuzz/FuzzTargets.swift -o "$work/fuzz"
fi
export SWIFT_BACKTRACE=enable=no  # Swift's crash reporter would stall each crash for minutes.
export ASAN_OPTIONS=detect_leaks=0  # global statics (resource types, schemas) live for the process
status=0
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  mkdir -p "$corpus"
  case "$target" in
    json) cp Tests/MasterTests/Corpus/*.json "$corpus/" 2>/dev/null || true ;;
    yaml) cp Tests/MasterTests/Corpus/*.yaml "$corpus/" 2>/dev/null || true ;;
    patch) printf '\x00{"metadata":{"labels":{"tier":"db"}}}' > "$corpus/merge"
           printf '\x01[{"op":"copy","from":"/spec","path":"/metadata/annotations"}]' > "$corpus/json" ;;
    http) printf '\x07GET /api/v1/pods?watch=true HTTP/1.1\r\nHost: x\r\n\r\n' > "$corpus/get" ;;
    selectors) printf 'app in (web,db),!canary,tier!=x' > "$corpus/labels" ;;
  esac
  log="$work/$target.log"
  dict=()
  [ -f "scripts/fuzz/$target.dict" ] && dict=(-dict="scripts/fuzz/$target.dict")
  limit=(-max_total_time="$seconds")
  [ -n "${FUZZ_RUNS:-}" ] && limit+=(-runs="$FUZZ_RUNS")
  echo "fuzz $target for ${seconds}s${FUZZ_RUNS:+ or $FUZZ_RUNS inputs}"
  started=$SECONDS
  if FUZZ_TARGET=$target "$work/fuzz" "${limit[@]}" -timeout=2 -rss_limit_mb=2048 "${dict[@]}" \
      -artifact_prefix="$work/$target-" -print_final_stats=1 "$corpus" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | tr '\n' ' '
    echo "$(grep -oE "cov: [0-9]+" "$log" | tail -1) in $((SECONDS - started)) s"
  else
    echo "FINDING in $target (log: $log):" >&2
    grep -E 'ERROR|SUMMARY|Fatal error|Test unit written' "$log" | head -5 >&2
    status=1
  fi
done
exit $status
