#!/usr/bin/env bash
# Scale run for the control-plane feed: a synthetic snapshot of 1,000,000
# credentials (100,000 applications), 10,000 operations and 1,000 packages,
# pushed through `tollgate cp` to a data plane. Prints snapshot size, push and
# propagation time, the data plane's RSS, and wrk p99 without and with pushes
# of such snapshots every few seconds. The control plane and the pushes run at
# nice 10: here they share two cores with the data plane, in production they
# run elsewhere.
#
# Usage: benches/scale.sh [APPS] [CREDS_PER_APP] [DURATION_S]   (defaults 100000 10 20)
# ROUNDS (default 1) alternates steady and under-pushes runs; PUSH_EVERY=0
# measures the noise floor (no pushes in the second run of each round).
# APIS, OPS (per API) and PKGS size the rest (defaults 100 100 1000: 10,000
# operations); e.g. `APIS=10 OPS=100 PKGS=100 benches/scale.sh 100 10 20` for a
# small snapshot of 1,000 operations.
# SINK=1 sends the timed pushes to a second control plane that no data plane
# subscribes to: the pusher and a control plane still work as before, the data
# plane receives nothing. The ratio then is what the harness's own pushing
# costs the proxy on this machine.
# PIN=1 gives the data plane CPU 0 and everything else (upstream, wrk, control
# planes, pusher) CPU 1, as in a run where the proxy has its core to itself.
# BIN runs another tollgate build (default target/release/tollgate).
# PUSHES_ONLY=1 stops after the CPU-per-push measurement (no wrk runs).
set -euo pipefail
cd "$(dirname "$0")/.."
APPS=${1:-100000}
CREDS=${2:-10}
DUR=${3:-20}
PUSH_EVERY=${PUSH_EVERY:-3}
APIS=${APIS:-100}
OPS=${OPS:-100}
PKGS=${PKGS:-1000}
# How the control plane and the pusher run beside the data plane: `nice -n 10`
# (default) or `chrt -i 0` (SCHED_IDLE: only on otherwise idle CPU).
CP_PRIO=${CP_PRIO:-nice -n 10}
DP_CPU=; REST_CPU=
if [ -n "${PIN:-}" ]; then DP_CPU="taskset -c 0"; REST_CPU="taskset -c 1"; fi
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bin tollgate --example gen_snapshot
BIN=${BIN:-target/release/tollgate}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

UP=127.0.0.1:19201
target/release/examples/gen_snapshot "$APPS" "$CREDS" "$APIS" "$OPS" "$PKGS" json "http://$UP" >"$WORK/a.json"
sed 's/"limit":1000000,/"limit":1000001,/g' "$WORK/a.json" >"$WORK/b.json"
echo "snapshot: $(du -h "$WORK/a.json" | cut -f1) JSON, $((APPS * CREDS)) credentials, $((APIS * OPS)) operations, $PKGS packages"

$REST_CPU "$BIN" demo-upstream --listen "$UP" --fixed 2>/dev/null & PIDS+=($!)
TOLLGATE_LOG=warn $REST_CPU $CP_PRIO "$BIN" cp --listen 127.0.0.1:19205 --data-dir "$WORK/cp" & PIDS+=($!)
sleep 0.5
TOLLGATE_LOG=warn $DP_CPU "$BIN" run --control-plane http://127.0.0.1:19205 --cache-dir "$WORK/cache" \
  --listen 127.0.0.1:19200 --admin-listen 127.0.0.1:19202 --threads 2 & DP=$!; PIDS+=($DP)
CP=$(pgrep -f "cp --listen 127.0.0.1:19205" | head -1)
PUSH_TO=http://127.0.0.1:19205
if [ -n "${SINK:-}" ]; then
  TOLLGATE_LOG=warn $REST_CPU $CP_PRIO "$BIN" cp --listen 127.0.0.1:19206 --data-dir "$WORK/sink" & PIDS+=($!)
  PUSH_TO=http://127.0.0.1:19206
fi
until curl -sf http://127.0.0.1:19202/health >/dev/null; do sleep 0.1; done
rss() { awk '/^VmRSS/ {printf "%d MB", $2/1024}' "/proc/$DP/status"; }
hwm() { awk '/^VmHWM/ {printf "%d MB", $2/1024}' "/proc/$DP/status"; }
version() { curl -s http://127.0.0.1:19202/status | sed -n 's/.*"config_version":\([0-9]*\).*/\1/p'; }
echo "data plane RSS before the first push: $(rss)"

t0=$(date +%s.%N)
"$BIN" push "$WORK/a.json" --to http://127.0.0.1:19205 >/dev/null
t1=$(date +%s.%N)
until [ "$(version)" = "1" ]; do sleep 0.01; done
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN{ printf "push (upload, validate, compile, persist on the cp): %.2f s; then applied on the data plane after %.2f s\n", b-a, c-b }'
sleep 1
echo "data plane RSS holding the snapshot: $(rss) (peak so far $(hwm))"

# Four more pushes without load, alternating the two documents (same
# applications, one package limit differs): wall time until applied, and the
# CPU each side spent per push.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
d0=$(ticks "$DP"); c0=$(ticks "$CP"); t0=$(date +%s.%N)
for v in 2 3 4 5; do
  f=$([ $((v % 2)) -eq 0 ] && echo b || echo a)
  "$BIN" push "$WORK/$f.json" --to http://127.0.0.1:19205 >/dev/null
  until [ "$(version)" = "$v" ]; do sleep 0.01; done
done
t1=$(date +%s.%N); d1=$(ticks "$DP"); c1=$(ticks "$CP"); hz=$(getconf CLK_TCK)
awk -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" -v d=$((d1 - d0)) -v c=$((c1 - c0)) -v hz="$hz" \
  'BEGIN{ printf "push of a changed limit, until applied: %.2f s; CPU per push: data plane %d ms, control plane %d ms\n", t/4, d*1000/hz/4, c*1000/hz/4 }'
echo "data plane RSS after those pushes: $(rss) (peak so far $(hwm))"
# PUSHES_ONLY=1 stops here: the CPU per push of two builds compared, e.g.
# `for b in old new; do BIN=$b PUSHES_ONLY=1 benches/scale.sh; done`.
[ -n "${PUSHES_ONLY:-}" ] && exit 0

URL="http://127.0.0.1:19200/api0/res0"
curl -s -o /dev/null -w "probe: %{http_code}\n" -H 'apikey: key-0-0' "$URL"
# wrk's p99 in ms (it prints us, ms or s).
p99() { awk '$1=="99%" { v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
  print (u=="us" ? v/1000 : (u=="s" ? v*1000 : v)) }'; }
summary() { echo "$(awk '/Requests\/sec/ {print $2}' <<<"$1") req/s, p50 $(awk '$1=="50%" {print $2}' <<<"$1"), p99 $(p99 <<<"$1") ms"; }
# Steady and under-pushes runs alternate ROUNDS times, so that drift of a
# shared machine shows as spread instead of as a ratio.
ROUNDS=${ROUNDS:-1}
ratios=()
for round in $(seq 1 "$ROUNDS"); do
  base=$($REST_CPU wrk -t2 -c32 -d"${DUR}s" --latency -H 'apikey: key-0-0' "$URL")
  echo "round $round: steady load, no pushes: $(summary "$base")"
  # A push starts every PUSH_EVERY seconds (start to start). PUSH_EVERY=0
  # pushes nothing: the ratios then show this machine's noise floor.
  ( end=$((SECONDS + DUR)); n=0
    while [ "$PUSH_EVERY" != 0 ] && [ $SECONDS -lt $end ]; do
      # The other document than the one applied, so every push is a change.
      # (With SINK the data plane's version stays put: alternate by count.)
      v=$([ -n "${SINK:-}" ] && echo $((n + 1)) || version)
      f=$([ $((v % 2)) -eq 0 ] && echo a || echo b)
      s0=$(date +%s.%N)
      $REST_CPU $CP_PRIO "$BIN" push "$WORK/$f.json" --to "$PUSH_TO" >/dev/null 2>&1 || true
      n=$((n + 1))
      sleep "$(awk -v s="$s0" -v e="$(date +%s.%N)" -v p="$PUSH_EVERY" 'BEGIN { d = p - (e - s); print (d > 0 ? d : 0) }')"
    done; echo "$n" >"$WORK/pushes" ) &
  PUSHER=$!
  load=$($REST_CPU wrk -t2 -c32 -d"${DUR}s" --latency -H 'apikey: key-0-0' "$URL")
  wait $PUSHER || true
  echo "round $round: pushes every ${PUSH_EVERY}s ($(cat "$WORK/pushes") pushes): $(summary "$load")"
  grep -q "Non-2xx\|Socket errors" <<<"$load" && echo "round $round: errors during pushes: $(grep -E 'Non-2xx|Socket errors' <<<"$load")"
  r=$(awk -v a="$(p99 <<<"$base")" -v b="$(p99 <<<"$load")" 'BEGIN { printf "%.2f", b / a }')
  ratios+=("$r")
  echo "round $round: p99 under pushes / steady p99 = $r"
done
echo "p99 ratio per round: ${ratios[*]}; median $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
echo "data plane RSS after the pushes: $(rss) (peak $(hwm)); last applied version $(version)"
