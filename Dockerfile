# The Bosun image: one binary for `bosun master`, `bosun agent` and the CLI.
#
# With a registry: `docker build -t bosun:latest .` compiles in the Swift image and copies the
# binary (linked with --static-swift-stdlib, so it needs only glibc and libstdc++) into slim Debian.
# Without one, scripts/build-image.sh makes the base image from Debian's packages and passes a
# binary built on the host (PREBUILT), so the Swift image is never needed.
ARG BUILDER=swift:6.1-bookworm
ARG BASE=debian:bookworm-slim

FROM ${BUILDER} AS build
ARG PREBUILT=
WORKDIR /src
COPY . .
RUN if [ -n "$PREBUILT" ]; then \
      cp "$PREBUILT" /bosun; \
    else \
      swift build -c release --static-swift-stdlib --product bosun && cp .build/release/bosun /bosun; \
    fi

FROM ${BASE}
COPY --from=build /bosun /usr/local/bin/bosun
# Masters run as an unprivileged user; their data lives in /var/lib/bosun (a volume). An agent
# that drives the host's Docker engine runs as root, since the engine's socket is root's
# (docker-compose.yml says so per service).
RUN useradd --system --uid 10001 --home-dir /var/lib/bosun bosun \
    && mkdir -p /var/lib/bosun && chown bosun /var/lib/bosun
USER bosun
WORKDIR /var/lib/bosun
ENV BOSUN_DATA_DIR=/var/lib/bosun
EXPOSE 8080 9080 10250
ENTRYPOINT ["bosun"]
