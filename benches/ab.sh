#!/usr/bin/env bash
# A/B throughput of two tollgate binaries on the same ACE snapshot (a package
# limit charged on every request), in alternating wrk rounds so that machine
# noise hits both alike. Prints each round and the median ratio B/A.
#
# Usage: benches/ab.sh BIN_A BIN_B [ROUNDS] [DURATION] [CONNECTIONS] [THREADS]
#        defaults: 5 rounds of 8s, 64 connections, 2 proxy threads. Needs wrk.
set -euo pipefail
A=$1 B=$2
ROUNDS=${3:-5} DURATION=${4:-8s} CONNS=${5:-64} THREADS=${6:-2}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
. "$(dirname "$0")/lib.sh"
UP=127.0.0.1:19301
write_ace_snapshot "$WORK/ace.yaml" "$UP"
"$B" demo-upstream --listen "$UP" --name bench --fixed 2>/dev/null & PIDS+=($!)
TOLLGATE_LOG=warn "$A" run --config "$WORK/ace.yaml" --listen 127.0.0.1:19310 --admin-listen 127.0.0.1:19311 --threads "$THREADS" & PIDS+=($!)
TOLLGATE_LOG=warn "$B" run --config "$WORK/ace.yaml" --listen 127.0.0.1:19320 --admin-listen 127.0.0.1:19321 --threads "$THREADS" & PIDS+=($!)
sleep 1.5
for port in 19310 19320; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: bench-key' "http://127.0.0.1:$port/bench")
  [ "$code" = 200 ] || { echo "gateway on $port answered $code" >&2; exit 1; }
done
rps() { wrk -t2 -c"$CONNS" -d"$DURATION" -H 'apikey: bench-key' "http://127.0.0.1:$1/bench" | awk '/Requests\/sec/ {print $2}'; }
echo "machine: $(nproc) cores; wrk -t2 -c$CONNS -d$DURATION; proxy threads $THREADS; A=$A B=$B"
RATIOS=()
for r in $(seq 1 "$ROUNDS"); do
  # Alternate which goes first so warm-up and drift do not favour one side.
  if [ $((r % 2)) = 1 ]; then a=$(rps 19310); b=$(rps 19320); else b=$(rps 19320); a=$(rps 19310); fi
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", b/a}')
  RATIOS+=("$ratio")
  echo "round $r: A $a req/s, B $b req/s, B/A $ratio"
done
median=$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
echo "median B/A: $median"
