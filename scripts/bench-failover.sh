#!/usr/bin/env bash
# Failover time: kill -9 the leader of a 3-master cluster and time the first successful write
# through a survivor. Repeats TRIALS times (default 10) and prints min/median/max in ms.
# Needs curl. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-10}
source scripts/cluster-lib.sh
cluster_start 18180 19180
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
write() { curl -s -m 1 -o /dev/null -w '%{http_code}' -X POST -d "{\"metadata\":{\"name\":\"$2\"}}" "127.0.0.1:${api[$1]}/api/v1/namespaces/default/configmaps" || true; }
results=()
for t in $(seq 1 "$trials"); do
  l=""; until [ -n "$l" ]; do sleep 0.2; l=$(cluster_leader); done
  until [ "$(write "$l" "warm-$t")" = 201 ]; do sleep 0.05; done
  kill -9 "${pid[$l]}"; wait "${pid[$l]}" 2>/dev/null || true
  t0=$(now_ms); s=$(( l % 3 + 1 ))
  until code=$(write "$s" "after-$t"); [ "$code" = 201 ]; do s=$(( s % 3 + 1 )); [ "$s" = "$l" ] && s=$(( s % 3 + 1 )); done
  t1=$(now_ms); results+=($(( t1 - t0 )))
  cluster_start_master "$l"; sleep 1
done
sorted=($(printf '%s\n' "${results[@]}" | sort -n))
n=${#sorted[@]}
echo "failover ms over $n trials: min ${sorted[0]} median ${sorted[$(( n / 2 ))]} max ${sorted[$(( n - 1 ))]} (all: ${results[*]})"
