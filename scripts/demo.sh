#!/usr/bin/env bash
# Builds tollgate and runs the quickstart: demo upstreams for billing
# (127.0.0.1:9101) and flights (127.0.0.1:9102) behind the gateway
# (proxy 127.0.0.1:8000, admin 127.0.0.1:8001) on config/quickstart.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
exec cargo run --release --bin tollgate -- demo "$@"
