# Multi-stage build: compile in the Rust image, run on slim Debian as a
# non-root user. Mount a snapshot at /etc/tollgate/snapshot.yaml (watched:
# edits apply without restart).
#
#   docker build -t tollgate .
#   docker run -p 8000:8000 -v $PWD/config/quickstart.yaml:/etc/tollgate/snapshot.yaml tollgate
#
# The admin API stays on the container's loopback unless you expose it, and
# then it needs a token (tollgate refuses to start otherwise):
#
#   docker run -p 8000:8000 -p 127.0.0.1:8001:8001 \
#     -e TOLLGATE_ADMIN_LISTEN=0.0.0.0:8001 -e TOLLGATE_ADMIN_TOKEN="$(openssl rand -hex 32)" \
#     -v $PWD/config/quickstart.yaml:/etc/tollgate/snapshot.yaml tollgate
#
# The runtime image gets the stripped binary (scripts/release.sh); its debug
# info, for profiling and symbolizing core dumps, is a separate target:
#
#   docker build --target debuginfo --output type=local,dest=./debuginfo .
#
# See docs/deployment.md.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The `dist` profile (fat LTO): about 7 minutes on two cores, and more memory
# at link time than a plain release build.
RUN scripts/release.sh

FROM scratch AS debuginfo
COPY --from=build /src/dist/tollgate.debug /tollgate.debug

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home tollgate \
 && mkdir -p /etc/tollgate
COPY --from=build /src/dist/tollgate /usr/local/bin/tollgate
COPY config/quickstart.yaml /etc/tollgate/snapshot.yaml
USER tollgate
EXPOSE 8000
ENV TOLLGATE_CONFIG=/etc/tollgate/snapshot.yaml \
    TOLLGATE_LISTEN=0.0.0.0:8000 \
    TOLLGATE_ADMIN_LISTEN=127.0.0.1:8001
ENTRYPOINT ["tollgate"]
CMD ["run"]
