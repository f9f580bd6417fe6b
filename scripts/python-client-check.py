#!/usr/bin/env python3
"""The official Kubernetes Python client against a Bosun cluster.

Usage: python-client-check.py URL,URL,URL PID,PID,PID

Creates, lists, patches and deletes through the typed clients, then watches configmaps on the
first master, kills that master (SIGKILL) in the middle of the stream, resumes the watch on the
third master from the last resourceVersion it received, and checks that every acknowledged write
arrived exactly once. Prints "ok" and exits 0 on success; anything else is a failure.
"""
import os
import signal
import sys
import threading
import time

from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def api_for(url):
    configuration = client.Configuration()
    configuration.host = url
    return client.ApiClient(configuration)


def check(condition, message):
    if not condition:
        print("FAILED: " + message)
        sys.exit(1)


def retrying(action):
    """Runs a write until a master answers it (one may be down, the cluster electing)."""
    for _ in range(200):
        try:
            return action()
        except ApiException as e:
            if e.status not in (502, 503, 504):
                raise
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError("no master answered")


def crud(url):
    core = client.CoreV1Api(api_for(url))
    apps = client.AppsV1Api(api_for(url))
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "pycm"}, "data": {"k": "v"}})
    check(created.metadata.resource_version is not None, "create returned no resourceVersion")
    names = [cm.metadata.name for cm in core.list_namespaced_config_map("default").items]
    check("pycm" in names, "list misses pycm: %s" % names)
    patched = core.patch_namespaced_config_map("pycm", "default", {"data": {"k": "w", "x": "y"}})
    check(patched.data == {"k": "w", "x": "y"}, "patch gave %s" % patched.data)
    check(core.read_namespaced_config_map("pycm", "default").data["k"] == "w", "read after patch")
    try:
        core.create_namespaced_config_map("default", {"metadata": {"name": "pycm"}})
        check(False, "a duplicate create succeeded")
    except ApiException as e:
        check(e.status == 409, "duplicate create gave %s" % e.status)
    core.delete_namespaced_config_map("pycm", "default")
    try:
        core.read_namespaced_config_map("pycm", "default")
        check(False, "read after delete succeeded")
    except ApiException as e:
        check(e.status == 404, "read after delete gave %s" % e.status)

    deployment = {
        "metadata": {"name": "pyweb"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "pyweb"}},
            "template": {"metadata": {"labels": {"app": "pyweb"}},
                         "spec": {"containers": [{"name": "main", "image": "nginx", "ports": [{"containerPort": 80}]}]}},
        },
    }
    apps.create_namespaced_deployment("default", deployment)
    patch = {"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "main", "image": "nginx:2"}]}}}}
    result = apps.patch_namespaced_deployment("pyweb", "default", patch)
    check(result.spec.replicas == 2, "deployment replicas %s" % result.spec.replicas)
    container = result.spec.template.spec.containers[0]
    check(container.image == "nginx:2" and container.ports[0].container_port == 80, "strategic merge lost the ports")
    check(result.metadata.generation == 2, "generation %s" % result.metadata.generation)


def watch_across_kill(urls, pids):
    first, writer, last = urls[0], urls[1], urls[2]
    start = client.CoreV1Api(api_for(first)).list_namespaced_config_map("default").metadata.resource_version
    received = []
    done = threading.Event()

    def follow(url, since):
        w = watch.Watch()
        core = client.CoreV1Api(api_for(url))
        try:
            for event in w.stream(core.list_namespaced_config_map, "default", resource_version=since, _request_timeout=30):
                received.append((event["type"], event["object"].metadata.name, event["object"].metadata.resource_version))
                if done.is_set():
                    return
        except Exception:
            return  # the master went away mid-stream

    written = []

    def write(index, url_choices):
        name = "pyw-%d" % index
        def attempt():
            url = url_choices[attempt.count % len(url_choices)]
            attempt.count += 1
            core = client.CoreV1Api(api_for(url))
            try:
                return core.create_namespaced_config_map("default", {"metadata": {"name": name}}).metadata.resource_version
            except ApiException as e:
                if e.status == 409:  # an earlier attempt committed
                    return core.read_namespaced_config_map(name, "default").metadata.resource_version
                raise
        attempt.count = 0
        written.append(("ADDED", name, retrying(attempt)))

    thread = threading.Thread(target=follow, args=(first, start))
    thread.start()
    for i in range(10):
        write(i, [writer, last])
    deadline = time.time() + 10
    while len(received) < 10 and time.time() < deadline:
        time.sleep(0.05)
    check(len(received) == 10, "the first master sent %d of 10 events" % len(received))
    os.kill(pids[0], signal.SIGKILL)
    thread.join(timeout=30)
    for i in range(10, 20):
        write(i, [writer, last])
    resume_from = received[-1][2]
    thread = threading.Thread(target=follow, args=(last, resume_from))
    thread.start()
    deadline = time.time() + 15
    while len(received) < 20 and time.time() < deadline:
        time.sleep(0.05)
    done.set()
    # Wake the watcher so it sees `done` and returns.
    retrying(lambda: client.CoreV1Api(api_for(last)).create_namespaced_config_map("default", {"metadata": {"name": "pyw-end"}}))
    thread.join(timeout=30)
    got = [event for event in received if event[1] != "pyw-end"]
    check(got == written, "watch events differ from the acknowledged writes:\n got %s\nwant %s" % (got, written))


def main():
    urls = sys.argv[1].split(",")
    pids = [int(p) for p in sys.argv[2].split(",")]
    crud(urls[1])
    watch_across_kill(urls, pids)
    print("ok")


if __name__ == "__main__":
    main()
