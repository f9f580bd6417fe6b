#!/usr/bin/env bash
# Builds the image docker-compose.yml runs (bosun:latest), also on a machine that can reach no
# container registry:
# - the base image (debian:bookworm-slim) is used if present or pullable; otherwise one is made
#   from Debian's packages (debootstrap --variant=minbase, then docker import) as bosun-base:bookworm;
# - the Swift image is used to compile if present or pullable; otherwise the binary is built on
#   this host (swift build -c release --static-swift-stdlib) and copied in.
# After it, `docker compose up -d` (or `docker-compose up -d`) builds nothing.
#
# Environment: BOSUN_IMAGE (bosun:latest), BOSUN_BASE_IMAGE (debian:bookworm-slim),
# BOSUN_BUILDER_IMAGE (swift:6.1-bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."

image=${BOSUN_IMAGE:-bosun:latest}
base=${BOSUN_BASE_IMAGE:-debian:bookworm-slim}
builder=${BOSUN_BUILDER_IMAGE:-swift:6.1-bookworm}

have_image() { docker image inspect "$1" >/dev/null 2>&1 || docker pull "$1" >/dev/null 2>&1; }

# A bookworm minbase root file system from the Debian mirror apt uses here, imported as an image.
make_base() {
  local name=$1 mirror rootfs
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  mirror=${mirror:-http://deb.debian.org/debian}
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' RETURN
  echo "build-image: making $name from $mirror (debootstrap, about a minute)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
  tar -C "$rootfs" -c . | docker import - "$name" >/dev/null
}

if ! have_image "$base"; then
  base=bosun-base:bookworm
  docker image inspect "$base" >/dev/null 2>&1 || make_base "$base"
fi

if have_image "$builder"; then
  echo "build-image: compiling in $builder"
  docker build --build-arg BUILDER="$builder" --build-arg BASE="$base" -t "$image" .
else
  echo "build-image: no $builder; building the binary on this host"
  swift build -c release --static-swift-stdlib --product bosun
  mkdir -p .build-image
  cp "$(swift build -c release --static-swift-stdlib --show-bin-path)/bosun" .build-image/bosun
  docker build --build-arg BUILDER="$base" --build-arg BASE="$base" --build-arg PREBUILT=.build-image/bosun -t "$image" .
fi
echo "build-image: $image ready (on $base)"
