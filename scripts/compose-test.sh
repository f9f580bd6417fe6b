#!/usr/bin/env bash
# The containerised cluster tested against a real Docker engine: installs docker.io and
# docker-compose from Debian's packages when missing, starts dockerd when none runs, builds the
# images without a registry (scripts/build-image.sh, plus a busybox image for the test's pods),
# runs the Docker runtime's own tests and scripts/compose-scenario.py, and removes what it made (containers, networks, volumes, and
# the engine if it started it), pass or fail. A failure prints the containers' logs.
set -euo pipefail
cd "$(dirname "$0")/.."

export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-bosuntest}
export POD_IMAGE=${POD_IMAGE:-bosun-test/busybox:1}

if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null; then
  apt-get update -qq && apt-get install -y -qq docker.io docker-compose >/dev/null
fi
started_engine=""
if ! docker info >/dev/null 2>&1; then
  dockerd >/tmp/bosun-dockerd.log 2>&1 &
  started_engine=$!
  for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null
fi
if docker compose version >/dev/null 2>&1; then export COMPOSE="docker compose"; else export COMPOSE="docker-compose"; fi

cleanup() {
  local status=$?
  if [ "$status" != 0 ]; then
    echo "compose-test: failed; the containers' logs follow" >&2
    $COMPOSE logs --no-color --tail 80 >&2 || true
  fi
  # The pods' containers first: while they are attached, the network cannot go.
  docker ps -aq --filter label=io.bosun.pod-uid | xargs -r docker rm -f >/dev/null 2>&1 || true
  $COMPOSE down -v --remove-orphans >/dev/null 2>&1 || true
  if [ -n "$started_engine" ]; then kill "$started_engine" 2>/dev/null || true; wait "$started_engine" 2>/dev/null || true; fi
  exit "$status"
}
trap cleanup EXIT

bash scripts/build-image.sh

# The pods' image: a static busybox in an otherwise empty image (no registry to pull one from).
if ! docker image inspect "$POD_IMAGE" >/dev/null 2>&1; then
  command -v busybox >/dev/null || apt-get install -y -qq busybox-static >/dev/null
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin"
  cp "$(command -v busybox)" "$rootfs/bin/busybox"
  for applet in sh sleep echo cat true; do ln -s busybox "$rootfs/bin/$applet"; done
  tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' - "$POD_IMAGE" >/dev/null
  rm -rf "$rootfs"
fi

# The Docker runtime on its own (create, logs, limits, OOM, graceful stop, bad images, re-adoption).
BOSUN_DOCKER_TESTS=1 swift test --filter DockerRuntimeTests

$COMPOSE down -v --remove-orphans >/dev/null 2>&1 || true
python3 scripts/compose-scenario.py
