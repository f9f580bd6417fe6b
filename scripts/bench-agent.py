#!/usr/bin/env python3
"""Node agents end to end: 3 release masters (fsync on) and real `bosun agent` processes on 127.0.0.1.

1. Pod start latency: 2 agents; PODS bare pods (default 100, each `sleep`) are created one after
   another; a watch records when each is first seen Running. Milliseconds from its POST to that.
2. Reattach: AGENTS agents (default 50), every one renewing its Lease each second; kill -9 of the
   leader, TRIALS times (default 5): milliseconds until every agent's Lease was renewed again
   (seen by polling the survivors every 50 ms).
3. Footprint of an idle agent running 20 pods: its RSS and the CPU it uses over 30 s.

Usage: python3 scripts/bench-agent.py [PODS [AGENTS [TRIALS]]]  (BOSUN_BIN: another build)
"""
import http.client, json, os, shutil, signal, statistics, subprocess, sys, tempfile, threading, time, urllib.request

pods_count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
agents_count = int(sys.argv[2]) if len(sys.argv) > 2 else 50
trials = int(sys.argv[3]) if len(sys.argv) > 3 else 5
binary = os.environ.get("BOSUN_BIN", ".build/release/bosun")
os.chdir(os.path.join(os.path.dirname(__file__), ".."))
if "BOSUN_BIN" not in os.environ:
    subprocess.run(["swift", "build", "-c", "release", "--product", "bosun"], check=True, stdout=subprocess.DEVNULL)

api = {i: 18580 + i for i in (1, 2, 3)}
peer = {i: 19580 + i for i in (1, 2, 3)}
root = tempfile.mkdtemp()
masters, agents = {}, {}
marker = f"1000.{os.getpid()}"

def start_master(i):
    peers = ",".join(f"{j}=127.0.0.1:{peer[j]}" for j in (1, 2, 3))
    apis = ",".join(f"{j}=127.0.0.1:{api[j]}" for j in (1, 2, 3))
    log = open(f"{root}/m{i}.log", "a")
    masters[i] = subprocess.Popen([binary, "master", "--id", str(i), "--peers", peers, "--api", f"127.0.0.1:{api[i]}",
                                   "--api-peers", apis, "--data-dir", f"{root}/m{i}"], stdout=log, stderr=log)

def start_agent(n):
    log = open(f"{root}/a{n}.log", "a")
    agents[n] = subprocess.Popen([binary, "agent", "--name", f"node-{n}", "--masters", ",".join(f"127.0.0.1:{api[i]}" for i in (1, 2, 3)),
                                  "--data-dir", f"{root}/a{n}", "--port", str(20600 + n)], stdout=log, stderr=log)

def call(method, path, body=None, ports=(1, 2, 3)):
    for i in ports:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{api[i]}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            if e.code != 503: return e.code, e.read()
        except Exception:
            pass
    return None, b""

def leader():
    """The master that says it leads, waiting for one."""
    while True:
        for i in masters:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api[i]}/cluster/status", timeout=2) as r:
                    if json.load(r)["role"] == "leader": return i
            except Exception:
                pass
        time.sleep(0.1)

def pod(name):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "agent"}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": "busybox", "command": ["/bin/sleep", marker]}]}}

def leases():
    status, body = call("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", ports=[i for i in masters if masters[i].poll() is None])
    return {l["metadata"]["name"]: l["spec"].get("renewTime") for l in json.loads(body)["items"]} if status == 200 else {}

def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

try:
    for i in (1, 2, 3): start_master(i)
    leader()
    for n in (1, 2): start_agent(n)
    while len(leases()) < 2: time.sleep(0.1)
    print(f"machine: {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")

    # 1. Pod start latency.
    created, running = {}, {}
    status, body = call("GET", "/api/v1/pods")
    version = json.loads(body)["metadata"]["resourceVersion"]
    def watch():
        conn = http.client.HTTPConnection("127.0.0.1", api[leader()], timeout=120)
        conn.request("GET", f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={version}&labelSelector=bench%3Dagent")
        response = conn.getresponse()
        while len(running) < pods_count:
            line = response.readline()
            if not line: break
            obj = json.loads(line)["object"]
            name = obj["metadata"]["name"]
            if obj.get("status", {}).get("phase") == "Running" and name not in running: running[name] = time.monotonic()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    time.sleep(0.3)
    for k in range(pods_count):
        name = f"p{k}"
        created[name] = time.monotonic()
        call("POST", "/api/v1/namespaces/default/pods", pod(name))
    watcher.join(60)
    latencies = [(running[n] - created[n]) * 1000 for n in created if n in running]
    print(f"pod start, POST to Running seen by a watch, {len(latencies)}/{pods_count} pods on 2 agents: "
          f"p50 {percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms")

    # 3. Footprint of an idle agent with 20 pods (node-1 runs about half of them; trim to 20 there).
    mine = [p["metadata"]["name"] for p in json.loads(call("GET", "/api/v1/pods")[1])["items"] if p["spec"].get("nodeName") == "node-1"]
    for name in mine[20:]: call("DELETE", f"/api/v1/namespaces/default/pods/{name}")
    time.sleep(5)
    pid = agents[1].pid
    def cpu_ticks():
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    before, t0 = cpu_ticks(), time.monotonic()
    time.sleep(30)
    cpu = (cpu_ticks() - before) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0) * 100
    rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")) / 1024
    print(f"idle agent with {min(20, len(mine))} pods: RSS {rss:.1f} MiB, CPU {cpu:.2f} % of one core (30 s)")

    # 2. Reattach after kill -9 of the leader.
    call("DELETE", "/api/v1/namespaces/default/pods?labelSelector=bench%3Dagent")
    for n in range(3, agents_count + 1): start_agent(n)
    while len(leases()) < agents_count: time.sleep(0.2)
    time.sleep(3)
    results = []
    for t in range(trials):
        lead = leader()
        before = leases()
        masters[lead].send_signal(signal.SIGKILL); masters[lead].wait()
        killed = time.monotonic()
        renewed = {}
        while len(renewed) < agents_count and time.monotonic() - killed < 30:
            for name, value in leases().items():
                if name not in renewed and value != before.get(name): renewed[name] = (time.monotonic() - killed) * 1000
            time.sleep(0.05)
        results.append(max(renewed.values()) if len(renewed) == agents_count else float("inf"))
        if len(renewed) < agents_count:
            print(f"trial {t}: not renewed within 30 s: {sorted(set(before) - set(renewed))}; leader was {lead}, now {leader()}")
        start_master(lead)
        time.sleep(5)
    print(f"kill -9 of the leader to every one of {agents_count} agents' Leases renewed again, {trials} trials: "
          f"median {statistics.median(results):.0f} ms, max {max(results):.0f} ms ({', '.join(f'{x:.0f}' for x in results)})")
finally:
    for p in list(agents.values()) + list(masters.values()): p.kill()
    subprocess.run(["pkill", "-KILL", "-f", f"sleep {marker}"])
    shutil.rmtree(root, ignore_errors=True)
