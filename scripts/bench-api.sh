#!/usr/bin/env bash
# API throughput and latency on a 3-master cluster (release build, fsync on): writes (POST
# configmap) and linearizable reads (GET configmap) through the leader at 1, 16 and 64
# connections, DURATION seconds each (default 5). With `soak SECONDS`, instead a write load at 64
# connections for that long, reporting the term before and after (spurious elections).
# Needs wrk and curl. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=api
if [ "${1:-}" = soak ]; then mode=soak; shift; fi
duration=${1:-5}
source scripts/cluster-lib.sh
cluster_start 18280 19280
leader=""
until [ -n "$leader" ]; do sleep 0.2; leader=$(cluster_leader); done
base="http://127.0.0.1:${api[$leader]}/api/v1/namespaces/default/configmaps"
until curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"metadata":{"name":"probe"}}' "$base" | grep -q '201\|409'; do sleep 0.1; done
echo "machine: $(nproc) cores, $(date -u +%Y-%m-%d); leader master $leader"
term() { curl -s -m 1 "127.0.0.1:${api[$leader]}/cluster/status" | sed 's/.*"term":\([0-9]*\).*/\1/'; }
if [ "$mode" = soak ]; then
  before=$(term)
  w=$(LOAD_PREFIX="soak-$RANDOM" wrk -t2 -c64 -d${duration}s --timeout 5s -s scripts/api-load.lua "$base" | grep RESULT)
  after=$(term)
  echo "soak ${duration}s at 64 connections: ${w#RESULT }; term before $before after $after"
  exit 0
fi
for c in 1 16 64; do
  t=$(( c < 2 ? 1 : 2 ))
  w=$(LOAD_PREFIX="w$c-$RANDOM" wrk -t$t -c$c -d${duration}s --timeout 5s -s scripts/api-load.lua "$base" | grep RESULT)
  r=$(LOAD_METHOD=GET wrk -t$t -c$c -d${duration}s --timeout 5s -s scripts/api-load.lua "$base/probe" | grep RESULT)
  echo "connections=$c write: ${w#RESULT }"
  echo "connections=$c read:  ${r#RESULT }"
done
