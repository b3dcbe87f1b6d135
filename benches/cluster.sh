#!/usr/bin/env bash
# Cluster rate limiting: accuracy and cost.
#
# Accuracy: for 1, 3 and 5 data planes × sync_rate 0, 0.02, 0.1, 1, a real
# redis-server and real data planes; one key with a package limit of LIMIT per
# minute; paced load spread evenly over the nodes (RATE requests/s per node)
# for SECONDS. GCRA admits a burst of LIMIT plus the refill LIMIT/60 per second,
# so the exact answer is LIMIT + LIMIT/60 × elapsed; the table shows admitted
# over that.
# Cost: wrk against one data plane in local, sync_rate 0 and sync_rate 0.1 modes.
#
# Usage: benches/cluster.sh [LIMIT] [SECONDS] [RATE]   (defaults 300 10 40)
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=${1:-300}
SECS=${2:-10}
RATE=${3:-40}
cargo build --release --quiet --bin tollgate --example spread_load
BIN=target/release/tollgate
LOAD=target/release/examples/spread_load
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
UP=127.0.0.1:19301
"$BIN" demo-upstream --listen "$UP" --fixed >/dev/null 2>&1 & PIDS+=($!)

snapshot() { # $1 = sync_rate line, $2 = redis port
cat <<EOF2
_format_version: "3.0"
services:
  - { name: s, url: "http://$UP", routes: [{ name: r, paths: [/items], strip_path: false }] }
plugins:
  - name: ace
    config:
      match_policy: required
$1
apis:
  - name: items
    operations: [{ method: GET, path: /items, id: list-items }]
auth_strategies: [{ name: keys, type: key_auth, key_names: [apikey] }]
api_packages:
  - name: pkg
    rate_limiting_config: { limit: $LIMIT, duration: minutes }
    operations: [{ api: items, method: GET, path: /items }]
applications:
  - { name: app, auth_strategy: keys, credentials: [{ key: k1 }], registrations: [{ api_package: pkg }] }
EOF2
}
rl() { echo "      rate_limiting: { sync_rate: $1, redis: { host: 127.0.0.1, port: $2, read_timeout: 500 } }"; }

start_planes() { # $1 = count, $2 = config file; sets URLS
  URLS=""
  for i in $(seq 1 "$1"); do
    local p=$((19310 + i * 2))
    TOLLGATE_LOG=warn "$BIN" run --config "$2" --listen "127.0.0.1:$p" --admin-listen "127.0.0.1:$((p + 1))" --threads 1 >/dev/null 2>&1 & PIDS+=($!)
    URLS="$URLS http://127.0.0.1:$p/items"
  done
  for i in $(seq 1 "$1"); do
    until curl -sf "http://127.0.0.1:$((19310 + i * 2 + 1))/health" >/dev/null; do sleep 0.05; done
  done
}
stop_planes() { for p in "${PIDS[@]:1}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; PIDS=("${PIDS[0]}"); }

echo "accuracy: limit $LIMIT/minute, $SECS s, $RATE req/s per node; admitted / (limit + refill over the run)"
printf '%-6s %-10s %9s %9s %8s\n' nodes sync_rate admitted exact ratio
for n in 1 3 5; do
  for s in 0 0.02 0.1 1; do
    port=$((19390 + RANDOM % 500))
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 & RP=$!
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
    snapshot "$(rl "$s" "$port")" >"$WORK/c.yaml"
    start_planes "$n" "$WORK/c.yaml"
    # shellcheck disable=SC2086
    out=$("$LOAD" k1 "$SECS" "$RATE" $URLS)
    admitted=$(awk '{print $2}' <<<"$out"); elapsed=$(awk '{print $8}' <<<"$out"); errs=$(awk '{print $6}' <<<"$out")
    exact=$(awk -v l="$LIMIT" -v e="$elapsed" 'BEGIN{ printf "%.1f", l + l/60*e }')
    printf '%-6s %-10s %9s %9s %8.3f%s\n' "$n" "$s" "$admitted" "$exact" "$(awk -v a="$admitted" -v x="$exact" 'BEGIN{print a/x}')" "$([ "$errs" != 0 ] && echo "  ($errs errors)")"
    stop_planes; kill "$RP" 2>/dev/null; wait "$RP" 2>/dev/null || true
  done
done

echo
echo "cost: one data plane, wrk -t2 -c32 -d8s, limit high enough never to reject"
LIMIT=1000000000
port=$((19390 + RANDOM % 500))
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 & RP=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
declare -A RPS P99
for round in 1 2 3; do
  for mode in local 0 0.1; do
    if [ "$mode" = local ]; then snapshot "" >"$WORK/c.yaml"; else snapshot "$(rl "$mode" "$port")" >"$WORK/c.yaml"; fi
    start_planes 1 "$WORK/c.yaml"
    url=${URLS# }
    curl -s -o /dev/null -H 'apikey: k1' "$url"
    out=$(wrk -t2 -c32 -d8s --latency -H 'apikey: k1' "$url")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    printf 'round %d %-6s %10s req/s  p50 %8s  p99 %8s\n' "$round" "$mode" "$rps" "$(awk '$1=="50%" {print $2}' <<<"$out")" "$p99"
    RPS[$mode]="${RPS[$mode]:-} $rps"
    stop_planes
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{ print a[int((NR+1)/2)] }'; }
loc=$(median <<<"${RPS[local]}")
for mode in 0 0.1; do
  awk -v a="$(median <<<"${RPS[$mode]}")" -v b="$loc" -v m="$mode" 'BEGIN{ printf "sync_rate %-4s median %.0f req/s = %.3f x local (%.0f)\n", m, a, a/b, b }'
done
kill "$RP" 2>/dev/null || true
