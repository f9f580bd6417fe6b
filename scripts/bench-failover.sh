#!/usr/bin/env bash
# Failover time: kill -9 the leader of a 3-master cluster and time the first successful write
# through a survivor. Repeats TRIALS times (default 10) and prints min/median/max in ms.
# Needs curl. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-10}
swift build -c release --product bosun >/dev/null
bin=.build/release/bosun
dir=$(mktemp -d)
api=(0 18180 18181 18182); peer=(0 19180 19181 19182)
peers="1=127.0.0.1:${peer[1]},2=127.0.0.1:${peer[2]},3=127.0.0.1:${peer[3]}"
apis="1=127.0.0.1:${api[1]},2=127.0.0.1:${api[2]},3=127.0.0.1:${api[3]}"
declare -A pid
start() { "$bin" master --id "$1" --peers "$peers" --api "127.0.0.1:${api[$1]}" --data-dir "$dir/m$1" --api-peers "$apis" >>"$dir/m$1.log" 2>&1 & pid[$1]=$!; }
cleanup() { for i in 1 2 3; do kill -9 "${pid[$i]}" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
leader() { for i in 1 2 3; do if curl -s -m 1 "127.0.0.1:${api[$i]}/cluster/status" | grep -q '"role":"leader"'; then echo "$i"; return 0; fi; done; return 0; }
write() { curl -s -m 1 -o /dev/null -w '%{http_code}' -X POST -d "{\"metadata\":{\"name\":\"$2\"}}" "127.0.0.1:${api[$1]}/api/v1/namespaces/default/configmaps" || true; }
for i in 1 2 3; do start "$i"; done
results=()
for t in $(seq 1 "$trials"); do
  l=""; until [ -n "$l" ]; do sleep 0.2; l=$(leader); done
  until [ "$(write "$l" "warm-$t")" = 201 ]; do sleep 0.05; done
  kill -9 "${pid[$l]}"; wait "${pid[$l]}" 2>/dev/null || true
  t0=$(now_ms); s=$(( l % 3 + 1 ))
  until code=$(write "$s" "after-$t"); [ "$code" = 201 ]; do s=$(( s % 3 + 1 )); [ "$s" = "$l" ] && s=$(( s % 3 + 1 )); done
  t1=$(now_ms); results+=($(( t1 - t0 )))
  start "$l"; sleep 1
done
sorted=($(printf '%s\n' "${results[@]}" | sort -n))
n=${#sorted[@]}
echo "failover ms over $n trials: min ${sorted[0]} median ${sorted[$(( n / 2 ))]} max ${sorted[$(( n - 1 ))]} (all: ${results[*]})"
