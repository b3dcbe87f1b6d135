#!/usr/bin/env bash
# Soak run: steady paced load through a data plane that follows a control
# plane, while
#   - a snapshot is pushed every second (alternating two versions that differ
#     in one package limit, so every push is a real change),
#   - Redis (the package counters, `sync_rate` below) is restarted every minute,
#   - the control plane is restarted every two minutes.
# Two load streams: key k1 in a package that never limits (every answer must
# be 2xx) and key k2 in a package limited to LIMIT_K2 per second (429s are
# expected there). Reports requests, non-2xx by status and cause, pushes,
# Redis and control-plane restarts, the data plane's RSS every minute, and
# what the data plane's /metrics counted.
#
# Usage: benches/soak.sh [DURATION]   DURATION in seconds or with an m suffix (default 30m)
# Env:   RATE (req/s per stream, default 500), CONNS (per stream, default 8),
#        LIMITER (what goes under rate_limiting besides redis; default "sync_rate: 0.1"),
#        LIMIT_K2 (default 100), PROFILE=release|debug (default release)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-30m}
case "$DUR" in *m) DUR=$((${DUR%m} * 60)) ;; esac
RATE=${RATE:-500}
CONNS=${CONNS:-8}
LIMITER=${LIMITER:-"sync_rate: 0.1"}
LIMIT_K2=${LIMIT_K2:-100}
PROFILE=${PROFILE:-release}
for t in wrk redis-server curl; do
  command -v $t >/dev/null || { echo "$t is required" >&2; exit 1; }
done
if [ "$PROFILE" = release ]; then cargo build --release --quiet --bin tollgate; else cargo build --quiet --bin tollgate; fi
BIN=target/$PROFILE/tollgate
source benches/lib.sh

UP=127.0.0.1:19301 CP=127.0.0.1:19305 PROXY=127.0.0.1:19300 ADMIN=127.0.0.1:19302 RPORT=19307

snapshot() { # FILE K1_LIMIT
  { items_head "$UP"; cat <<EOF
      rate_limiting:
        $LIMITER
        redis: { host: 127.0.0.1, port: $RPORT, connect_timeout: 200, read_timeout: 200, send_timeout: 200 }
EOF
  items_api; cat <<EOF
api_packages:
  - name: open
    rate_limiting_config: { limit: $2, duration: seconds }
    operations: [{ api: items, method: GET, path: /items }]
  - name: tight
    rate_limiting_config: { limit: $LIMIT_K2, duration: seconds }
    operations: [{ api: items, method: GET, path: /items }]
applications:
  - { name: a1, auth_strategy: keys, credentials: [{ key: k1 }], registrations: [{ api_package: open }] }
  - { name: a2, auth_strategy: keys, credentials: [{ key: k2 }], registrations: [{ api_package: tight }] }
EOF
  } >"$1"
}
snapshot "$WORK/a.yaml" 1000000000
snapshot "$WORK/b.yaml" 1000000001

start_redis() {
  redis-server --port $RPORT --save '' --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
  REDIS=$!
  until redis-cli -p $RPORT ping >/dev/null 2>&1; do sleep 0.05; done
}
start_cp() {
  TOLLGATE_LOG=warn "$BIN" cp --listen $CP --data-dir "$WORK/cp" >>"$WORK/cp.log" 2>&1 &
  CPPID=$!
  until curl -sf "http://$CP/health" >/dev/null 2>&1; do sleep 0.05; done
}

"$BIN" demo-upstream --listen $UP --fixed >/dev/null 2>&1 & PIDS+=($!)
start_redis
start_cp
"$BIN" push "$WORK/a.yaml" --to "http://$CP" >/dev/null
TOLLGATE_LOG=warn "$BIN" run --control-plane "http://$CP" --cache-dir "$WORK/cache" \
  --listen $PROXY --admin-listen $ADMIN --threads 2 >"$WORK/dp.log" 2>&1 & DP=$!; PIDS+=($DP)
until curl -sf "http://$ADMIN/health" >/dev/null; do sleep 0.1; done
until [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: k1' "http://$PROXY/items")" = 200 ]; do sleep 0.1; done
rss() { awk '/^VmRSS/ {printf "%d", $2/1024}' "/proc/$DP/status"; }

# Paced wrk: each connection waits CONNS*1000/RATE ms between requests; the
# statuses are tallied per stream.
cat >"$WORK/paced.lua" <<EOF
local gap = $CONNS * 1000 / $RATE
counts = {}
function delay() return gap end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("counts")) do all[s] = (all[s] or 0) + n end
  end
  for s, n in pairs(all) do io.write(string.format("status %d %d\n", s, n)) end
  io.write(string.format("p50_ms %.2f\np99_ms %.2f\nmax_ms %.2f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("socket_errors %d\n", summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
EOF
wrk -t1 -c"$CONNS" -d"${DUR}s" --timeout 5s -s "$WORK/paced.lua" -H 'apikey: k1' "http://$PROXY/items" >"$WORK/k1.out" 2>&1 & W1=$!; PIDS+=($W1)
wrk -t1 -c"$CONNS" -d"${DUR}s" --timeout 5s -s "$WORK/paced.lua" -H 'apikey: k2' "http://$PROXY/items" >"$WORK/k2.out" 2>&1 & W2=$!; PIDS+=($W2)

RSS0=$(rss)
echo "soak: ${DUR}s, $RATE req/s per stream, limiter '$LIMITER', $PROFILE build; data plane RSS at start ${RSS0} MB"
pushes=0 push_fail=0 redis_restarts=0 cp_restarts=0 n=0
rss_series="$RSS0"
t_end=$((SECONDS + DUR))
while [ $SECONDS -lt $t_end ]; do
  sleep 1
  n=$((n + 1))
  f=$([ $((n % 2)) -eq 0 ] && echo a || echo b)
  if "$BIN" push "$WORK/$f.yaml" --to "http://$CP" >/dev/null 2>&1; then pushes=$((pushes + 1)); else push_fail=$((push_fail + 1)); fi
  if [ $((n % 60)) -eq 0 ]; then
    kill "$REDIS"; wait "$REDIS" 2>/dev/null || true
    sleep 1
    start_redis; redis_restarts=$((redis_restarts + 1))
    rss_series="$rss_series $(rss)"
  fi
  if [ $((n % 120)) -eq 30 ]; then
    kill "$CPPID"; wait "$CPPID" 2>/dev/null || true
    sleep 1
    start_cp; cp_restarts=$((cp_restarts + 1))
  fi
done
wait $W1 $W2 || true
RSS1=$(rss)
kill "$REDIS" "$CPPID" 2>/dev/null || true

summary() { # NAME FILE
  awk -v name="$1" '
    $1=="status" { total += $3; if ($2 < 200 || $2 >= 300) bad[$2] = $3 }
    $1=="p50_ms" { p50 = $2 } $1=="p99_ms" { p99 = $2 } $1=="max_ms" { mx = $2 }
    $1=="socket_errors" { se = $2 }
    END {
      printf "%s: %d responses, p50 %s ms, p99 %s ms, max %s ms, socket errors %d\n", name, total, p50, p99, mx, se
      for (s in bad) {
        cause = (s == 429) ? "package limit (expected on k2)" : (s == 502 || s == 504) ? "upstream unreachable/timeout" : (s >= 500) ? "gateway error" : "refused by the gateway"
        printf "  non-2xx %s: %d  (%s)\n", s, bad[s], cause
      }
    }' "$2"
}
summary "k1 (never limited)" "$WORK/k1.out"
summary "k2 (limited to $LIMIT_K2/s)" "$WORK/k2.out"
echo "pushes applied to the control plane: $pushes, refused while it restarted: $push_fail"
echo "Redis restarts: $redis_restarts, control-plane restarts: $cp_restarts"
echo "data plane config_version at the end: $(curl -s "http://$ADMIN/status" | sed -n 's/.*"config_version":\([0-9]*\).*/\1/p')"
echo "data plane RSS (MB) at start, then each minute, end: $rss_series $RSS1"
echo "data plane /metrics:"
curl -s "http://$ADMIN/metrics" | grep -E '^tollgate_(http_requests_total|redis_errors_total|config_reloads_total|ace_decisions_total|limiter_keys)' | grep -v ' 0$' | sed 's/^/  /'
fivexx=$(cat "$WORK/k1.out" "$WORK/k2.out" | awk '$1=="status" && $2>=500 {n+=$3} END {print n+0}')
echo "5xx answers in all: $fivexx"
if grep -qiE 'panic|fatal' "$WORK/dp.log"; then echo "data plane log has panics:"; grep -iE 'panic|fatal' "$WORK/dp.log" | head; fi
