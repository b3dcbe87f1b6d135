#!/usr/bin/env bash
# A/B throughput of two tollgate binaries on the same ACE snapshot (a package
# limit charged on every request), in alternating wrk rounds so that machine
# noise hits both alike. Prints each round and the median ratio B/A.
#
# Usage: benches/ab.sh BIN_A BIN_B [ROUNDS] [DURATION] [CONNECTIONS] [THREADS]
#        defaults: 5 rounds of 8s, 64 connections, 2 proxy threads. Needs wrk.
#        A_ARGS / B_ARGS: extra `run` flags for one side (the same binary may
#        then be both A and B, to measure a flag).
set -euo pipefail
A=$1 B=$2
ROUNDS=${3:-5} DURATION=${4:-8s} CONNS=${5:-64} THREADS=${6:-2}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
. "$(dirname "$0")/lib.sh"
UP=127.0.0.1:19301
write_ace_snapshot "$WORK/ace.yaml" "$UP"
"$B" demo-upstream --listen "$UP" --name bench --fixed 2>/dev/null & PIDS+=($!)
TOLLGATE_LOG=warn "$A" run --config "$WORK/ace.yaml" --listen 127.0.0.1:19310 --admin-listen 127.0.0.1:19311 --threads "$THREADS" ${A_ARGS:-} & PIDS+=($!)
TOLLGATE_LOG=warn "$B" run --config "$WORK/ace.yaml" --listen 127.0.0.1:19320 --admin-listen 127.0.0.1:19321 --threads "$THREADS" ${B_ARGS:-} & PIDS+=($!)
sleep 1.5
for port in 19310 19320; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: bench-key' "http://127.0.0.1:$port/bench")
  [ "$code" = 200 ] || { echo "gateway on $port answered $code" >&2; exit 1; }
done
GA=${PIDS[1]} GB=${PIDS[2]}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# req/s and the gateway's own CPU per request (µs), for one wrk run on port $1 against pid $2
run() {
  local c0 c1 out n
  c0=$(ticks "$2")
  out=$(wrk -t2 -c"$CONNS" -d"$DURATION" -H 'apikey: bench-key' "http://127.0.0.1:$1/bench")
  c1=$(ticks "$2")
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}')"
}
echo "machine: $(nproc) cores; wrk -t2 -c$CONNS -d$DURATION; proxy threads $THREADS; A=$A ${A_ARGS:-} B=$B ${B_ARGS:-}"
RATIOS=() CPU_RATIOS=()
for r in $(seq 1 "$ROUNDS"); do
  # Alternate which goes first so warm-up and drift do not favour one side.
  if [ $((r % 2)) = 1 ]; then a=$(run 19310 "$GA"); b=$(run 19320 "$GB"); else b=$(run 19320 "$GB"); a=$(run 19310 "$GA"); fi
  read -r ar ac <<<"$a"; read -r br bc <<<"$b"
  ratio=$(awk -v a="$ar" -v b="$br" 'BEGIN{printf "%.3f", b/a}')
  cpu=$(awk -v a="$ac" -v b="$bc" 'BEGIN{printf "%.3f", b/a}')
  RATIOS+=("$ratio"); CPU_RATIOS+=("$cpu")
  echo "round $r: A $ar req/s ${ac} µs CPU/req, B $br req/s ${bc} µs CPU/req; B/A throughput $ratio, CPU $cpu"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
echo "median B/A: throughput $(median "${RATIOS[@]}"), CPU per request $(median "${CPU_RATIOS[@]}")"
