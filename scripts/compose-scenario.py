#!/usr/bin/env python3
"""The failover scenario on the containerised cluster that docker-compose.yml describes.

Run by scripts/compose-test.sh, which installs and starts the engine, builds the images and
cleans up. This script brings the cluster up and plays the user's story against it, talking to
the masters only through the ports published on 127.0.0.1:

  a leader is elected; a Deployment of 4 replicas runs on the two agents as Docker containers
  (the agents' Docker runtime); its logs come through a master; 200 writes go
  through the masters; `docker kill` of the leader's container: a write through another master
  succeeds (time reported), the pods keep running (same container ids), no acknowledged write is
  lost; the killed master is started again and catches up; the new leader is cut off with
  `docker network disconnect`: a new leader is elected among the other two, and once reconnected
  the old one rejoins as a follower; `docker kill` of an agent: its pods are replaced on the other
  node after their toleration, while its own containers run on; started again, the agent stops
  and removes them.

Environment: COMPOSE (the compose command, e.g. "docker-compose"), COMPOSE_PROJECT_NAME,
POD_IMAGE (the image the Deployment's pods run), RESULTS (a file the measured times are appended to).
"""
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request

COMPOSE = shlex.split(os.environ.get("COMPOSE", "docker-compose"))
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "bosuntest")
POD_IMAGE = os.environ.get("POD_IMAGE", "bosun-test/busybox:1")
PORTS = {1: 8080, 2: 8081, 3: 8082}
NETWORK = "bosun"  # docker-compose.yml names its network
RESULTS = os.environ.get("RESULTS")


def say(text):
    print("scenario: " + text, flush=True)


def run(*args, check=True):
    result = subprocess.run(list(args), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout.strip()


def compose(*args, check=True):
    return run(*COMPOSE, *args, check=check)


def request(method, master, path, body=None, timeout=3):
    """(status, parsed JSON or text) from one master; (None, reason) if it does not answer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{PORTS[master]}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    except (OSError, urllib.error.URLError) as error:
        return None, str(error)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def wait_for(what, check, timeout):
    """Polls `check` until it returns something truthy; fails the scenario after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def status_of(master):
    code, body = request("GET", master, "/cluster/status", timeout=1)
    return body if code == 200 else None


def leader_seen_by(masters):
    """The leader that every master in `masters` names, if they agree and it names itself."""
    views = [status_of(m) for m in masters]
    if any(v is None for v in views):
        return None
    leaders = {v["leader"] for v in views}
    if len(leaders) != 1 or None in leaders:
        return None
    leader = leaders.pop()
    return leader if leader in masters else None


def container(service):
    return compose("ps", "-q", service)


def pods():
    code, body = request("GET", any_master(), "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
    return body["items"] if code == 200 else []


def running_pods():
    """name -> (node, container id) of the Deployment's running pods, not being deleted."""
    result = {}
    for pod in pods():
        statuses = pod.get("status", {}).get("containerStatuses", [])
        if pod["metadata"].get("deletionTimestamp") or pod.get("status", {}).get("phase") != "Running":
            continue
        if statuses and "running" in statuses[0].get("state", {}):
            result[pod["metadata"]["name"]] = (pod["spec"].get("nodeName"), statuses[0].get("containerID"))
    return result


alive = set(PORTS)


def any_master():
    for m in sorted(alive):
        if status_of(m):
            return m
    return sorted(alive)[0]


def write(name, masters, timeout=10):
    """Creates ConfigMap `name` through the first of `masters` that accepts it, retrying across
    them (a 409 after a retry means an earlier attempt applied). Returns the time it took."""
    start = time.monotonic()
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}}
    while time.monotonic() - start < timeout:
        for m in masters:
            code, _ = request("POST", m, "/api/v1/namespaces/default/configmaps", body, timeout=2)
            if code in (201, 409):
                return time.monotonic() - start
        time.sleep(0.05)
    raise RuntimeError(f"write {name} was not accepted within {timeout} s")


def configmap_names(master, local=False):
    query = "?resourceVersion=0" if local else ""
    code, body = request("GET", master, "/api/v1/namespaces/default/configmaps" + query)
    return {item["metadata"]["name"] for item in body["items"]} if code == 200 else set()


def record(line):
    say(line)
    if RESULTS:
        with open(RESULTS, "a") as f:
            f.write(line + "\n")


def main():
    compose("up", "-d")
    leader = wait_for("a leader all three masters agree on", lambda: leader_seen_by([1, 2, 3]), 60)
    say(f"master {leader} leads")

    def nodes_ready():
        code, body = request("GET", leader, "/api/v1/nodes")
        if code != 200:
            return False
        ready = [n for n in body["items"] if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]
        return len(ready) == 2 and ready

    for node in wait_for("both agents' nodes Ready", nodes_ready, 60):
        say(f"node {node['metadata']['name']} Ready at {node['status']['addresses'][0]['address']}")

    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": 4, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "terminationGracePeriodSeconds": 2,
                "containers": [{"name": "main", "image": POD_IMAGE, "imagePullPolicy": "Never",
                                "command": ["sh", "-c", "echo started on $NODE; exec sleep 100000"],
                                "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}],
            }},
        },
    }
    code, body = request("POST", leader, "/apis/apps/v1/namespaces/default/deployments", deployment)
    assert code == 201, (code, body)
    before = wait_for("4 running pods", lambda: (lambda r: len(r) == 4 and r)(running_pods()), 90)
    say(f"4 pods running on {sorted({n for n, _ in before.values()})}")
    for node, cid in before.values():
        assert cid.startswith("docker://"), cid
        labels = json.loads(run("docker", "inspect", "--format", "{{json .Config.Labels}}", cid[len("docker://"):]))
        assert labels["io.bosun.node"] == node, labels

    # Logs through a master, which asks the pod's node (the agent's address on the compose network).
    first = sorted(before)[0]
    code, text = request("GET", leader, f"/api/v1/namespaces/default/pods/{first}/log")
    assert code == 200 and "started on node" in text, (code, text)

    for k in range(200):
        write(f"cm-{k}", [1 + k % 3, 1 + (k + 1) % 3, 1 + (k + 2) % 3])
    say("200 writes acknowledged")

    # Kill the leader's container; a write through another master must succeed.
    others = [m for m in PORTS if m != leader]
    run("docker", "kill", container(f"master{leader}"))
    killed_at = time.monotonic()
    alive.discard(leader)
    took = write("after-kill", others, timeout=15)
    record(f"containers: write through a surviving master {took * 1000:.0f} ms after docker kill of the leader")
    new_leader = wait_for("a new leader among the other two", lambda: leader_seen_by(others), 15)
    say(f"master {new_leader} leads after {time.monotonic() - killed_at:.2f} s")

    names = configmap_names(new_leader)
    missing = {f"cm-{k}" for k in range(200)} | {"after-kill"}
    assert missing <= names, f"acknowledged writes lost: {sorted(missing - names)[:10]}"
    after = running_pods()
    assert after == before, f"pods changed across the failover: {before} -> {after}"
    say("no acknowledged write lost; the 4 pods kept their containers")

    # The killed master comes back and catches up (its own local state holds every write).
    compose("start", f"master{leader}")
    alive.add(leader)
    wait_for(f"master {leader} to catch up", lambda: missing <= configmap_names(leader, local=True), 30)
    say(f"master {leader} restarted and caught up")

    # Cut the new leader off its network: the other two elect a leader; reconnected, it follows.
    cut = new_leader
    rest = [m for m in PORTS if m != cut]
    cid = container(f"master{cut}")
    run("docker", "network", "disconnect", NETWORK, cid)
    cut_at = time.monotonic()
    alive.discard(cut)
    successor = wait_for("a leader among the two connected masters", lambda: leader_seen_by(rest), 20)
    record(f"containers: new leader {time.monotonic() - cut_at:.2f} s after docker network disconnect of the leader")
    write("after-cut", rest)
    run("docker", "network", "connect", "--alias", f"master{cut}", NETWORK, cid)
    alive.add(cut)

    def follows():
        view = status_of(cut)
        return view and view["role"] == "follower" and view["leader"] == leader_seen_by(rest) and view
    view = wait_for(f"master {cut} to rejoin as a follower", follows, 30)
    say(f"master {cut} rejoined as a follower of master {view['leader']} (term {view['term']})")

    # Kill an agent: after the node grace and the pods' toleration, its pods run on the other node.
    victim = sorted({n for n, _ in before.values()})[0]
    survivor = "node2" if victim == "node1" else "node1"
    run("docker", "kill", container(victim))
    agent_killed = time.monotonic()

    def replaced():
        r = running_pods()
        return len(r) == 4 and all(n == survivor for n, _ in r.values()) and r
    wait_for(f"{victim}'s pods replaced on {survivor}", replaced, 120)
    record(f"containers: pods of a killed agent running on the other node {time.monotonic() - agent_killed:.1f} s later (grace 5 s + toleration 30 s)")
    orphans = lambda: run("docker", "ps", "-q", "--filter", f"label=io.bosun.node={victim}").split()
    assert orphans(), f"{victim}'s containers should run on while it is down, as a kubelet's do"
    compose("start", victim)
    wait_for(f"{victim}, back, to stop the containers of pods that moved away", lambda: not orphans(), 60)
    say(f"{victim} came back and removed its stale containers")
    say("passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - the scenario's one failure report
        print(f"scenario: FAILED: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
