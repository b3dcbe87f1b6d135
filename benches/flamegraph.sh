#!/usr/bin/env bash
# Flame graphs of tollgate (ACE bench snapshot: package limit charged on every
# request) and of a bare Pingora proxy on the same allocator, each sampled by
# `perf record` while wrk drives it. Writes OUT/tollgate.svg and OUT/bare.svg.
#
# Usage: benches/flamegraph.sh [OUT] [SECONDS]     defaults: docs/flamegraphs 10
#        Needs perf (linux-perf), wrk and inferno (`cargo install inferno`).
#        Builds the release binaries first.
set -euo pipefail
OUT=${1:-docs/flamegraphs} SECS=${2:-10}
for tool in perf wrk inferno-collapse-perf inferno-flamegraph; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done
cargo build --release --quiet --bin tollgate --example bare_pingora_mimalloc
. "$(dirname "$0")/lib.sh"
mkdir -p "$OUT"
TG=target/release/tollgate BARE=target/release/examples/bare_pingora_mimalloc
UP=127.0.0.1:19701
write_ace_snapshot "$WORK/ace.yaml" "$UP"
"$TG" demo-upstream --listen "$UP" --name bench --fixed 2>/dev/null & PIDS+=($!)
TOLLGATE_LOG=error "$TG" run --config "$WORK/ace.yaml" --listen 127.0.0.1:19710 \
  --admin-listen 127.0.0.1:19711 --threads 2 & PIDS+=($!); TG_PID=$!
"$BARE" 127.0.0.1:19720 "$UP" 2 2>/dev/null & PIDS+=($!); BARE_PID=$!
sleep 1.5

profile() { # name pid port
  wrk -t2 -c64 -d"$((SECS + 2))s" -H 'apikey: bench-key' "http://127.0.0.1:$3/bench" >"$WORK/wrk.$1" &
  local wrk=$!
  sleep 1
  perf record -q -F 499 -g --call-graph dwarf,16384 -p "$2" -o "$WORK/perf.$1" -- sleep "$SECS" 2>/dev/null
  wait "$wrk"
  perf script -i "$WORK/perf.$1" 2>/dev/null | inferno-collapse-perf >"$WORK/folded.$1"
  inferno-flamegraph --title "$1 under wrk -t2 -c64 ($(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.$1") req/s)" \
    --minwidth 0.25 <"$WORK/folded.$1" >"$OUT/$1.svg"
  echo "$OUT/$1.svg: $(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.$1") req/s while sampled"
}
profile tollgate "$TG_PID" 19710
profile bare "$BARE_PID" 19720
