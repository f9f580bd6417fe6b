#!/usr/bin/env python3
"""Watch delivery latency: 100 watchers spread over the masters, writes through the leader.

Usage: bench-watch.py HOST:PORT,HOST:PORT,... LEADER_HOST:PORT [WATCHERS] [WRITES]

For every write and every watcher: the time from sending the write to the watcher reading its
event (send -> event), and from the writer reading the 201 (committed and applied on the leader)
to the watcher reading the event (ack -> event, negative when a watcher hears first). Prints
p50/p99/max of both, and checks that every watcher saw every write.
"""
import http.client
import json
import sys
import threading
import time

masters = [m.split(":") for m in sys.argv[1].split(",")]
leader_host, leader_port = sys.argv[2].split(":")
watchers = int(sys.argv[3]) if len(sys.argv) > 3 else 100
writes = int(sys.argv[4]) if len(sys.argv) > 4 else 200
namespace = "bench-watch"

connection = http.client.HTTPConnection(leader_host, int(leader_port))
connection.request("POST", "/api/v1/namespaces", json.dumps({"metadata": {"name": namespace}}))
connection.getresponse().read()
connection.request("GET", "/api/v1/namespaces/%s/configmaps" % namespace)
start_version = json.loads(connection.getresponse().read())["metadata"]["resourceVersion"]

received = [dict() for _ in range(watchers)]
ready = threading.Barrier(watchers + 1)


def watch(index):
    host, port = masters[index % len(masters)]
    stream = http.client.HTTPConnection(host, int(port), timeout=60)
    stream.request("GET", "/api/v1/namespaces/%s/configmaps?watch=true&resourceVersion=%s" % (namespace, start_version))
    response = stream.getresponse()
    ready.wait()
    while len(received[index]) < writes:
        line = response.readline()
        if not line:
            return
        now = time.monotonic()
        event = json.loads(line)
        received[index][event["object"]["metadata"]["name"]] = now


threads = [threading.Thread(target=watch, args=(i,), daemon=True) for i in range(watchers)]
for t in threads:
    t.start()
ready.wait()
sent, acked = {}, {}
for i in range(writes):
    name = "w-%d" % i
    sent[name] = time.monotonic()
    connection.request("POST", "/api/v1/namespaces/%s/configmaps" % namespace, json.dumps({"metadata": {"name": name}}))
    response = connection.getresponse()
    response.read()
    acked[name] = time.monotonic()
    assert response.status == 201, response.status
    time.sleep(0.02)
for t in threads:
    t.join(timeout=10)

from_send, from_ack, missing = [], [], 0
for events in received:
    for name in sent:
        if name not in events:
            missing += 1
            continue
        from_send.append((events[name] - sent[name]) * 1000)
        from_ack.append((events[name] - acked[name]) * 1000)


def summary(values):
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f" % (pick(0.5), pick(0.99), values[-1])


print("watch delivery, %d watchers over %d masters, %d writes at 50/s: send->event %s; ack->event %s; missing=%d"
      % (watchers, len(masters), writes, summary(from_send), summary(from_ack), missing))
