#!/usr/bin/env python3
"""The control plane end to end on 3 release masters on 127.0.0.1 (fsync on).

1. NODES fake nodes (default 1000; Ready, a Lease each, a grace period long enough that nothing
   marks them) and a Deployment of REPLICAS pods (default 1000): seconds from the POST to every
   pod bound, and the API writes per pod that took (entries committed / pods).
2. TRIALS times (default 10): scale the Deployment up by 50 and at once kill -9 the leader:
   milliseconds until a surviving master's controllers propose a write
   (`bosun_control_writes_total` moves), then restart the killed master and let it catch up.

Usage: python3 scripts/bench-control.py [NODES [REPLICAS [TRIALS]]]  (BOSUN_BIN: another build)
"""
import json, os, shutil, signal, statistics, subprocess, sys, tempfile, time, urllib.request

nodes_count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
replicas = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
trials = int(sys.argv[3]) if len(sys.argv) > 3 else 10
binary = os.environ.get("BOSUN_BIN", ".build/release/bosun")
os.chdir(os.path.join(os.path.dirname(__file__), ".."))
if "BOSUN_BIN" not in os.environ:
    subprocess.run(["swift", "build", "-c", "release", "--product", "bosun"], check=True, stdout=subprocess.DEVNULL)

api = {i: 18480 + i for i in (1, 2, 3)}
peer = {i: 19480 + i for i in (1, 2, 3)}
root = tempfile.mkdtemp()
procs = {}

def start(i):
    peers = ",".join(f"{j}=127.0.0.1:{peer[j]}" for j in (1, 2, 3))
    apis = ",".join(f"{j}=127.0.0.1:{api[j]}" for j in (1, 2, 3))
    log = open(f"{root}/m{i}.log", "a")
    procs[i] = subprocess.Popen([binary, "master", "--id", str(i), "--peers", peers, "--api", f"127.0.0.1:{api[i]}",
                                 "--api-peers", apis, "--data-dir", f"{root}/m{i}", "--node-grace-seconds", "3600"],
                                stdout=log, stderr=log)

def call(method, path, body=None, port=None, content="application/json", timeout=5):
    for i in ([port] if port else (1, 2, 3)):
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{api[i] if port is None else port}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(), headers={"Content-Type": content})
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            if e.code != 503: return e.code, e.read()
        except Exception:
            pass
    return None, b""

def leader():
    for i in (1, 2, 3):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{api[i]}/cluster/status", timeout=1) as r:
                if json.load(r)["role"] == "leader": return i
        except Exception:
            pass
    return None

def metric(i, name):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api[i]}/metrics", timeout=1) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "): return float(line.split()[-1])
    except Exception:
        pass
    return None

def bound_pods():
    status, body = call("GET", "/api/v1/pods")
    return sum(1 for p in json.loads(body)["items"] if p["spec"].get("nodeName")) if status == 200 else -1

try:
    for i in (1, 2, 3): start(i)
    while leader() is None: time.sleep(0.1)
    while call("GET", "/api/v1/namespaces/kube-node-lease")[0] != 200: time.sleep(0.1)
    for n in range(nodes_count):
        name = f"node-{n}"
        call("POST", "/api/v1/nodes", {"metadata": {"name": name}})
        call("PATCH", f"/api/v1/nodes/{name}/status", {"status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
              "conditions": [{"type": "Ready", "status": "True"}]}}, content="application/merge-patch+json")
        call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {"metadata": {"name": name}, "spec": {"holderIdentity": name}})
    lead = leader()
    commit_before = metric(lead, "bosun_raft_commit_index")
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "c", "image": "app:v1", "resources": {"requests": {"cpu": "100m"}}}]}}}}
    t0 = time.monotonic()
    call("POST", "/apis/apps/v1/namespaces/default/deployments", deployment)
    while bound_pods() < replicas: time.sleep(0.05)
    elapsed = time.monotonic() - t0
    time.sleep(1)
    writes = (metric(lead, "bosun_raft_commit_index") - commit_before) / replicas
    print(f"machine: {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; {nodes_count} nodes")
    print(f"apply to {replicas} pods bound: {elapsed:.2f} s ({replicas / elapsed:.0f} binds/s committed); {writes:.2f} entries per pod")

    times = []
    for t in range(trials):
        lead = leader()
        survivors = [i for i in (1, 2, 3) if i != lead]
        before = {i: metric(i, "bosun_control_writes_total") or 0 for i in survivors}
        replicas += 50
        call("PATCH", "/apis/apps/v1/namespaces/default/deployments/web", {"spec": {"replicas": replicas}}, port=api[lead],
             content="application/merge-patch+json")
        procs[lead].send_signal(signal.SIGKILL); procs[lead].wait()
        killed = time.monotonic()
        while True:
            if any((metric(i, "bosun_control_writes_total") or 0) > before[i] for i in survivors): break
            if time.monotonic() - killed > 30: break
            time.sleep(0.005)
        times.append((time.monotonic() - killed) * 1000)
        start(lead)
        while bound_pods() < replicas: time.sleep(0.1)
        time.sleep(1)
    print(f"kill -9 of the leader to the first controller write, {trials} trials: median {statistics.median(times):.0f} ms, "
          f"max {max(times):.0f} ms ({', '.join(f'{x:.0f}' for x in times)})")
finally:
    for p in procs.values():
        p.kill()
    shutil.rmtree(root, ignore_errors=True)
