#!/usr/bin/env bash
# Runs every test: unit tests of each crate, the pure-core decision table,
# and the integration tests that start real gateway processes in front of
# real upstreams. Also validates every example snapshot in config/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --bin tollgate
for f in config/*.yaml config/*.json; do
  [ -e "$f" ] || continue
  target/debug/tollgate validate "$f"
done
cargo test --workspace
