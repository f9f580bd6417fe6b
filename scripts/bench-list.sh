#!/usr/bin/env bash
# Listing one resource in a big store: one release master, 1,000 pods, then configmaps written by
# wrk for 40 s (hundreds of thousands), then the latency of listing the 1,000 pods.
# Usage: bash scripts/bench-list.sh [BINARY] [PORT]. Needs wrk, curl, python3. See docs/benchmarks.md.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/release/bosun}; port=${2:-18590}; dir=$(mktemp -d)
[ "$bin" = .build/release/bosun ] && swift build -c release --product bosun >/dev/null
$bin master --id 1 --peers 1=127.0.0.1:$((port+1)) --api 127.0.0.1:$port --data-dir $dir > $dir/log 2>&1 &
pid=$!
sleep 1.5
python3 - $port <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
def post(path, body):
    c.request("POST", path, json.dumps(body)); r = c.getresponse(); r.read(); assert r.status == 201, r.status
for i in range(1000):
    post("/api/v1/namespaces/default/pods", {"metadata": {"name": "p%04d" % i}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
PY
LOAD_PREFIX=cm wrk -t2 -c32 -d40s -s scripts/api-load.lua "http://127.0.0.1:$port/api/v1/namespaces/default/configmaps" | grep RESULT
count=$(curl -s "127.0.0.1:$port/cluster/status" | sed 's/.*"appliedIndex":\([0-9]*\).*/\1/')
r=$(LOAD_METHOD=GET wrk -t1 -c1 -d5s -s scripts/api-load.lua "http://127.0.0.1:$port/api/v1/namespaces/default/pods" | grep RESULT)
echo "store ~$count objects; list 1,000 pods: $r"
kill $pid; rm -rf $dir
