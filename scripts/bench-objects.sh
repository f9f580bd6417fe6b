#!/usr/bin/env bash
# API latency on a 3-master cluster (release build, fsync on), one connection at a time: create a
# pod, get a pod, and list 1,000 pods, each through the leader and through a follower (which
# forwards to the leader), DURATION seconds each (default 5). Then watch delivery latency with 100
# watchers (scripts/bench-watch.py). Needs wrk, curl and python3. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
source scripts/cluster-lib.sh
cluster_start 18380 19380
leader=""
until [ -n "$leader" ]; do sleep 0.2; leader=$(cluster_leader); done
follower=$(( leader % 3 + 1 ))
for ns in bench-list bench-create; do
  until curl -s -o /dev/null -w '%{http_code}' -X POST -d "{\"metadata\":{\"name\":\"$ns\"}}" "127.0.0.1:${api[$leader]}/api/v1/namespaces" | grep -q '201\|409'; do sleep 0.1; done
done
python3 - "127.0.0.1:${api[$leader]}" <<'PY'
import http.client, json, sys
host, port = sys.argv[1].split(":")
connection = http.client.HTTPConnection(host, int(port))
for i in range(1000):
    body = {"metadata": {"name": "pod-%04d" % i, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}
    connection.request("POST", "/api/v1/namespaces/bench-list/pods", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    assert response.status == 201, response.status
PY
echo "machine: $(nproc) cores, $(date -u +%Y-%m-%d); leader master $leader, follower master $follower; 1 connection, ${duration}s each"
for role in leader follower; do
  id=$([ "$role" = leader ] && echo "$leader" || echo "$follower")
  base="http://127.0.0.1:${api[$id]}/api/v1/namespaces"
  c=$(LOAD_KIND=pods LOAD_PREFIX="c-$role-$RANDOM" wrk -t1 -c1 -d${duration}s --timeout 5s -s scripts/api-load.lua "$base/bench-create/pods" | grep RESULT)
  g=$(LOAD_METHOD=GET wrk -t1 -c1 -d${duration}s --timeout 5s -s scripts/api-load.lua "$base/bench-list/pods/pod-0500" | grep RESULT)
  l=$(LOAD_METHOD=GET wrk -t1 -c1 -d${duration}s --timeout 5s -s scripts/api-load.lua "$base/bench-list/pods" | grep RESULT)
  echo "through the $role: create pod: ${c#RESULT }"
  echo "through the $role: get pod:    ${g#RESULT }"
  echo "through the $role: list 1,000: ${l#RESULT }"
done
python3 scripts/bench-watch.py "127.0.0.1:${api[1]},127.0.0.1:${api[2]},127.0.0.1:${api[3]}" "127.0.0.1:${api[$leader]}"
