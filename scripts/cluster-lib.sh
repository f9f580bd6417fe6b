# Shared by the benchmark scripts: a 3-master cluster of release `bosun master` processes on
# 127.0.0.1. Source it, then: cluster_start API_BASE PEER_BASE; cluster_leader; cluster_start_master N.
# BOSUN_BIN names another build to measure (for before/after comparisons); else this tree's.
bin=${BOSUN_BIN:-.build/release/bosun}
cluster_dir=$(mktemp -d)
declare -a api peer
declare -A pid
cluster_start_master() {
  "$bin" master --id "$1" --peers "$cluster_peers" --api "127.0.0.1:${api[$1]}" --data-dir "$cluster_dir/m$1" \
    --api-peers "$cluster_apis" >>"$cluster_dir/m$1.log" 2>&1 &
  pid[$1]=$!
}
cluster_start() {
  api=(0 "$1" $(( $1 + 1 )) $(( $1 + 2 ))); peer=(0 "$2" $(( $2 + 1 )) $(( $2 + 2 )))
  cluster_peers="1=127.0.0.1:${peer[1]},2=127.0.0.1:${peer[2]},3=127.0.0.1:${peer[3]}"
  cluster_apis="1=127.0.0.1:${api[1]},2=127.0.0.1:${api[2]},3=127.0.0.1:${api[3]}"
  [ -n "${BOSUN_BIN:-}" ] || swift build -c release --product bosun >/dev/null
  for i in 1 2 3; do cluster_start_master "$i"; done
  trap 'for i in 1 2 3; do kill -9 "${pid[$i]}" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$cluster_dir"' EXIT
}
# Prints the id of the master that says it leads (nothing when none does).
cluster_leader() {
  for i in 1 2 3; do
    if curl -s -m 1 "127.0.0.1:${api[$i]}/cluster/status" | grep -q '"role":"leader"'; then echo "$i"; return 0; fi
  done
  return 0
}
