#!/usr/bin/env bash
# Failover time: kill -9 the leader of a 3-master cluster and time the first successful write
# through a survivor, and the time until a survivor says it leads. Repeats TRIALS times (default
# 10) and prints min/median/max of both in ms.
# With `load` as the second argument, wrk writes through the surviving follower at 32 connections
# (forwarded to the leader) from a second before the kill until after the failover.
# Needs curl (and wrk for load). See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-10}
load=${2:-}
source scripts/cluster-lib.sh
cluster_start 18180 19180
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
write() { curl -s -m 1 -o /dev/null -w '%{http_code}' -X POST -d "{\"metadata\":{\"name\":\"$2\"}}" "127.0.0.1:${api[$1]}/api/v1/namespaces/default/configmaps" || true; }
results=()
elected=()
for t in $(seq 1 "$trials"); do
  l=""; until [ -n "$l" ]; do sleep 0.2; l=$(cluster_leader); done
  until [ "$(write "$l" "warm-$t")" = 201 ]; do sleep 0.05; done
  s=$(( l % 3 + 1 ))
  if [ "$load" = load ]; then
    LOAD_PREFIX="load-$t-$RANDOM" wrk -t2 -c32 -d4s --timeout 5s -s scripts/api-load.lua \
      "http://127.0.0.1:${api[$s]}/api/v1/namespaces/default/configmaps" >/dev/null 2>&1 &
    wrk_pid=$!
    sleep 1
  fi
  kill -9 "${pid[$l]}"; wait "${pid[$l]}" 2>/dev/null || true
  t0=$(now_ms)
  until [ -n "$(cluster_leader)" ]; do :; done
  elected+=($(( $(now_ms) - t0 )))
  # 409: an earlier attempt timed out on the client but was committed.
  until code=$(write "$s" "after-$t"); [ "$code" = 201 ] || [ "$code" = 409 ]; do s=$(( s % 3 + 1 )); [ "$s" = "$l" ] && s=$(( s % 3 + 1 )); done
  t1=$(now_ms); results+=($(( t1 - t0 )))
  if [ "$load" = load ]; then wait "$wrk_pid" || true; fi
  # Restart the killed master and let it catch up before the next trial: a failover while it is
  # still installing a snapshot waits for it (the new leader needs its vote and its acks).
  cluster_start_master "$l"
  applied() { curl -s -m 1 "127.0.0.1:${api[$1]}/cluster/status" | sed -n 's/.*"appliedIndex":\([0-9]*\).*/\1/p' || true; }
  target=$(applied "$s"); for _ in $(seq 1 300); do a=$(applied "$l"); [ -n "$a" ] && [ -n "$target" ] && [ "$a" -ge "$target" ] && break; sleep 0.1; done
done
summary() {
  local sorted=($(printf '%s\n' "$@" | sort -n)) n=$#
  echo "min ${sorted[0]} median ${sorted[$(( n / 2 ))]} max ${sorted[$(( n - 1 ))]} (all: $*)"
}
echo "over $trials trials${load:+ under write load}, ms from kill -9:"
echo "  a survivor leads:         $(summary "${elected[@]}")"
echo "  first acknowledged write: $(summary "${results[@]}")"
