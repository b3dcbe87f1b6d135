#!/usr/bin/env bash
# Installs the system packages a fresh Debian machine lacks for building and
# testing tollgate: cmake and a C toolchain (Pingora), pkg-config and OpenSSL
# headers (upstream TLS), redis-server (started by the cluster tests) and
# Prometheus's promtool (tests/dashboards.rs checks /metrics and the alert rules).
# Extra package names may be passed as arguments.
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v cc >/dev/null || need+=(build-essential)
[ -e /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
command -v redis-server >/dev/null || need+=(redis-server)   # tests/cluster*.rs start real servers, Sentinels (redis-server --sentinel)
command -v redis-cli >/dev/null || need+=(redis-tools)      # tests/cluster_redis_ha.rs creates a Redis Cluster with it
command -v promtool >/dev/null || need+=(prometheus)          # Debian ships promtool in it
for p in "$@"; do
  command -v "$p" >/dev/null || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
