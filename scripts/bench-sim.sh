#!/usr/bin/env bash
# Simulator speed: simulated seconds per wall second and seeds per minute, for 3 and 5 masters,
# on one thread and on two. Prints the lines bosun-sim reports; see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-1-500}
swift build -c release --product bosun-sim >/dev/null
sim=.build/release/bosun-sim
echo "machine: $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d)"
for nodes in 3 5; do
  for jobs in 1 2; do
    line=$("$sim" --seeds "$seeds" --nodes "$nodes" --jobs "$jobs" | grep '^simulated')
    echo "nodes=$nodes jobs=$jobs seeds=$seeds: $line"
  done
done
