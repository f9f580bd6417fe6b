#!/usr/bin/env python3
"""How long hostile or merely heavy requests hold a master's event loop.

  python3 scripts/bench-hostile.py [BOSUN_BINARY]   (default .build/release/bosun)

Starts one master (fsync on) in a temporary directory, then sends, one kind at a time, requests
whose content chooses the work: the largest object the API takes, JSON nested to the parser's
limit, a JSON patch of 10,000 operations, a patch that would expand to gigabytes, one that would
shift a million list items a thousand times, a strategic merge of 20,000 containers, a label selector
of 100 terms (the most allowed), a list of 5,000 objects (JSON and table), a watch replaying 5,000 events, and a
request head sent a byte at a time. For each kind it shows what another client sees meanwhile
(the slowest answer to `/readyz`, asked every 2 ms on a connection of its own) and, from
`bosun_loop_hold_seconds` in /metrics, how many callbacks held the loop past 50 ms and the longest
hold so far (`bosun_loop_longest_hold_seconds`). While a callback holds the loop nothing else runs
on it: no Raft tick, no other client.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

BINARY = sys.argv[1] if len(sys.argv) > 1 else ".build/release/bosun"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


API, PEER = free_port(), free_port()


def request(method, path, body=None, content_type="application/json", timeout=60):
    connection = http.client.HTTPConnection("127.0.0.1", API, timeout=timeout)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    connection.request(method, path, body=data, headers={"Content-Type": content_type} if data else {})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, payload


def loop_metrics():
    """(holds over 50 ms so far, longest hold so far in ms) from /metrics."""
    _, text = request("GET", "/metrics")
    values = {}
    for line in text.decode().splitlines():
        if line.startswith("bosun_loop_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    over = values["bosun_loop_hold_seconds_count"] - values['bosun_loop_hold_seconds_bucket{le="0.05"}']
    return int(over), values["bosun_loop_longest_hold_seconds"] * 1000


class Prober(threading.Thread):
    """Asks /readyz every 2 ms and remembers when each answer was asked and came."""

    def __init__(self):
        super().__init__(daemon=True)
        self.lock = threading.Lock()
        self.probes = []
        self.running = True

    def run(self):
        while self.running:
            start = time.monotonic()
            try:
                request("GET", "/readyz")
            except OSError:
                return  # the master is stopping
            with self.lock:
                self.probes.append((start, time.monotonic()))
            time.sleep(0.002)

    def slowest_ms(self, start, end):
        """The slowest answer to a probe that was waiting at some time in [start, end]; waits
        until a probe asked after `end` has come back."""
        while True:
            with self.lock:
                if self.probes and self.probes[-1][0] > end:
                    waiting = [b - a for a, b in self.probes if a <= end and b >= start]
                    self.probes = self.probes[-1:]
                    return max(waiting, default=0) * 1000
            time.sleep(0.001)


def configmaps(name=""):
    return "/api/v1/namespaces/default/configmaps" + (f"/{name}" if name else "")


def main():
    root = tempfile.mkdtemp(prefix="bosun-hostile-")
    master = subprocess.Popen(
        [BINARY, "master", "--id", "1", "--peers", f"1=127.0.0.1:{PEER}", "--api", f"127.0.0.1:{API}", "--data-dir", root + "/m1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if request("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        prober = Prober()
        prober.start()
        print(f"{'what':50} {'status':>6} {'slowest /readyz':>16} {'holds > 50 ms':>14} {'longest hold':>13}")

        def case(what, send):
            before, _ = loop_metrics()
            start = time.monotonic()
            status = send()
            slowest = prober.slowest_ms(start, time.monotonic())
            after, longest = loop_metrics()
            print(f"{what:50} {status:>6} {slowest:>13.1f} ms {after - before:>14} {longest:>10.1f} ms", flush=True)

        def first_write():
            for _ in range(100):
                status = request("POST", configmaps(), {"metadata": {"name": "first"}, "data": {"a": "b"}})[0]
                if status != 503:
                    return status
                time.sleep(0.1)
            return status
        case("idle (startup, first writes)", first_write)
        big = {"metadata": {"name": "big"}, "data": {f"k{i}": "x" * 1000 for i in range(1500)}}
        case("create of a 1.5 MB ConfigMap", lambda: request("POST", configmaps(), big)[0])
        nested = "[" * 199 + "]" * 199
        case("JSON nested 199 deep in a value", lambda: request(
            "POST", configmaps(), f'{{"metadata":{{"name":"deep"}},"data":{{"a":"b"}},"x":{nested}}}'.encode())[0])
        ops = [{"op": "add", "path": f"/data/k{i}", "value": "v"} for i in range(10_000)]
        case("JSON patch of 10,000 operations", lambda: request(
            "PATCH", configmaps("first"), ops, "application/json-patch+json")[0])
        bomb = [{"op": "add", "path": "/data", "value": {"a": "x" * 1000}}] + [{"op": "copy", "from": "/data", "path": f"/data/c{i}"} for i in range(30)]
        case("JSON patch doubling the object 30 times", lambda: request(
            "PATCH", configmaps("first"), bomb, "application/json-patch+json")[0])
        numbers = [{"op": "add", "path": "/x", "value": [0] * 1_000_000}] + [{"op": "add", "path": "/x/0", "value": 1}] * 1_000
        case("JSON patch: 1,000 inserts at the front of 1M items", lambda: request(
            "PATCH", configmaps("first"), numbers, "application/json-patch+json")[0])
        case("create of a Pod", lambda: request("POST", "/api/v1/namespaces/default/pods",
                                                {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x"}]}})[0])
        containers = {"spec": {"containers": [{"name": f"c{i}", "image": "x"} for i in range(20_000)]}}
        case("strategic merge of 20,000 containers", lambda: request(
            "PATCH", "/api/v1/namespaces/default/pods/p", containers, "application/strategic-merge-patch+json")[0])
        for i in range(5_000):
            request("POST", configmaps(), {"metadata": {"name": f"cm-{i}", "labels": {"n": str(i % 10)}}, "data": {"k": "v" * 100}})
        case("(5,000 ConfigMaps written, one at a time)", lambda: 200)
        selector = ",".join(f"l{i}!=v" for i in range(100))
        case("list with a selector of 100 terms (the most)", lambda: request("GET", configmaps() + "?labelSelector=" + selector)[0])
        case("list of 5,000 objects", lambda: request("GET", configmaps())[0])
        case("list of 5,000 objects as a table", lambda: request("GET", configmaps() + "?as=Table")[0])
        connection = http.client.HTTPConnection("127.0.0.1", API, timeout=30)

        def watch_replay():
            connection.request("GET", configmaps() + "?watch=true&resourceVersion=1&timeoutSeconds=1")
            response = connection.getresponse()
            response.read()
            return response.status
        case("watch replaying 5,000 events", watch_replay)

        def slow_head():
            with socket.create_connection(("127.0.0.1", API)) as s:
                head = b"GET /readyz HTTP/1.1\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(400)) + b"\r\n"
                for byte in head:
                    s.send(bytes([byte]))
                s.settimeout(10)
                return int(s.recv(100).split()[1])
        case("request head of 40 KB sent a byte at a time", slow_head)
    finally:
        master.terminate()
        master.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
