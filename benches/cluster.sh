#!/usr/bin/env bash
# Cluster rate limiting: accuracy and cost.
#
# Accuracy: for each node count in NODES × each mode in MODES (sync_rate 0,
# 0.02, 0.1, 1, and strategy lease), a real redis-server and real data planes;
# one key with a package limit of LIMIT per minute.
#   steady: paced load spread evenly over the nodes (RATE requests/s per node)
#           for SECONDS;
#   burst:  the same total of 200 requests in 1.3 s, spread round-robin over
#           the nodes, against a limit of 20 per minute.
# GCRA admits a burst of LIMIT plus the refill LIMIT/60 per second, so the
# exact answer is LIMIT + LIMIT/60 × elapsed; the table shows admitted over
# that, and the Redis calls per request (INFO commandstats: EVAL, EVALSHA and
# SCRIPT round trips, including lease returns during a 1.2 s grace after the
# load; the commands a script runs inside Redis are not counted).
# Cost: wrk against one data plane in local, sync_rate 0, sync_rate 0.1 and
# lease modes.
#
# Usage: benches/cluster.sh [LIMIT] [SECONDS] [RATE]   (defaults 300 10 40)
# Environment (empty = skip): NODES="1 3 5 10", MODES="0 0.02 0.1 1 lease",
#   LOADS="steady burst", COST=1 (0: skip the wrk part), WRK_SECS=8,
#   ROUNDS=3 (wrk rounds), PROFILE=release (debug: use the debug build, e.g.
#   on a shared machine), BUILD=1 (0: use what is already built).
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=${1:-300}
SECS=${2:-10}
RATE=${3:-40}
NODES=${NODES-1 3 5 10}
MODES=${MODES-0 0.02 0.1 1 lease}
LOADS=${LOADS-steady burst}
COST=${COST:-1}
WRK_SECS=${WRK_SECS:-8}
PROFILE=${PROFILE:-release}
ROUNDS=${ROUNDS:-3}
if [ "${BUILD:-1}" = 0 ]; then
  :
elif [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin tollgate --example spread_load
else
  cargo build --quiet --bin tollgate --example spread_load
fi
BIN=target/$PROFILE/tollgate
LOAD=target/$PROFILE/examples/spread_load
source benches/lib.sh
UP=127.0.0.1:19301
"$BIN" demo-upstream --listen "$UP" --fixed >/dev/null 2>&1 & PIDS+=($!)

snapshot() { # $1 = rate_limiting line
items_head "$UP"
echo "$1"
items_api
cat <<EOF2
api_packages:
  - name: pkg
    rate_limiting_config: { limit: ${CELL_LIMIT:-$LIMIT}, duration: minutes }
    operations: [{ api: items, method: GET, path: /items }]
applications:
  - { name: app, auth_strategy: keys, credentials: [{ key: k1 }], registrations: [{ api_package: pkg }] }
EOF2
}
rl() { # $1 = sync_rate or lease, $2 = redis port
  local how="sync_rate: $1"
  [ "$1" = lease ] && how="strategy: lease"
  echo "      rate_limiting: { $how, redis: { host: 127.0.0.1, port: $2, read_timeout: 500 } }"
}
redis_cmds() { # round trips: script calls (the commands a script runs are counted apart)
  redis-cli -p "$1" INFO commandstats | tr -d '\r' |
    awk -F'[:=,]' '$1 ~ /^cmdstat_(eval|evalsha|script)$/ { n += $3 } END { print n + 0 }'
}

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

cell() { # $1 = load, $2 = nodes, $3 = mode
  local n=$2 s=$3 port secs rate out admitted rejected errs elapsed exact cmds
  port=$((19390 + RANDOM % 500))
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 & RP=$!
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
  if [ "$1" = burst ]; then
    CELL_LIMIT=20; secs=1.3; rate=$(awk -v n="$n" 'BEGIN { printf "%.3f", 200 / 1.3 / n }')
  else
    CELL_LIMIT=$LIMIT; secs=$SECS; rate=$RATE
  fi
  snapshot "$(rl "$s" "$port")" >"$WORK/c.yaml"
  start_planes "$n" "$WORK/c.yaml"
  redis-cli -p "$port" CONFIG RESETSTAT >/dev/null
  # shellcheck disable=SC2086
  out=$("$LOAD" k1 "$secs" "$rate" $URLS)
  sleep 1.2
  cmds=$(redis_cmds "$port")
  admitted=$(awk '{print $2}' <<<"$out"); rejected=$(awk '{print $4}' <<<"$out")
  errs=$(awk '{print $6}' <<<"$out"); elapsed=$(awk '{print $8}' <<<"$out")
  exact=$(awk -v l="$CELL_LIMIT" -v e="$elapsed" 'BEGIN{ printf "%.1f", l + l/60*e }')
  printf '%-7s %-6s %-10s %9s %9s %8.3f %10.3f%s\n' "$1" "$n" "$s" "$admitted" "$exact" \
    "$(awk -v a="$admitted" -v x="$exact" 'BEGIN{print a/x}')" \
    "$(awk -v c="$cmds" -v r="$((admitted + rejected + errs))" 'BEGIN{print (r ? c/r : 0)}')" \
    "$([ "$errs" != 0 ] && echo "  ($errs errors)")"
  unset CELL_LIMIT
  stop_planes; kill "$RP" 2>/dev/null; wait "$RP" 2>/dev/null || true
}

echo "accuracy: steady = limit $LIMIT/minute, $SECS s, $RATE req/s per node; burst = limit 20/minute, 200 requests in 1.3 s"
echo "ratio = admitted / (limit + refill over the run); cmds/req = Redis calls (script round trips) per request"
printf '%-7s %-6s %-10s %9s %9s %8s %10s\n' load nodes mode admitted exact ratio cmds/req
for load in $LOADS; do
  for n in $NODES; do
    for s in $MODES; do
      cell "$load" "$n" "$s"
    done
  done
done

[ "$COST" = 1 ] || exit 0
echo
echo "cost: one data plane, wrk -t2 -c32 -d${WRK_SECS}s, limit high enough never to reject"
LIMIT=1000000000
port=$((19390 + RANDOM % 500))
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 & RP=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
declare -A RPS P99
for round in $(seq 1 "$ROUNDS"); do
  for mode in local 0 0.1 lease; do
    if [ "$mode" = local ]; then snapshot "" >"$WORK/c.yaml"; else snapshot "$(rl "$mode" "$port")" >"$WORK/c.yaml"; fi
    start_planes 1 "$WORK/c.yaml"
    url=${URLS# }
    curl -s -o /dev/null -H 'apikey: k1' "$url"
    out=$(wrk -t2 -c32 "-d${WRK_SECS}s" --latency -H 'apikey: k1' "$url")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    printf 'round %d %-6s %10s req/s  p50 %8s  p99 %8s\n' "$round" "$mode" "$rps" "$(awk '$1=="50%" {print $2}' <<<"$out")" "$p99"
    RPS[$mode]="${RPS[$mode]:-} $rps"
    stop_planes
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{ print a[int((NR+1)/2)] }'; }
loc=$(median <<<"${RPS[local]}")
for mode in 0 0.1 lease; do
  awk -v a="$(median <<<"${RPS[$mode]}")" -v b="$loc" -v m="$mode" 'BEGIN{ printf "%-5s median %.0f req/s = %.3f x local (%.0f)\n", m, a, a/b, b }'
done
kill "$RP" 2>/dev/null || true
