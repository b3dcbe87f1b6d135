#!/usr/bin/env bash
# Load harness: one local upstream, then the same wrk run against
#   ace        tollgate with ACE enforcing a package limit on every request
#   noplugins  tollgate with the same routes and no plugins
#   pingora    a bare Pingora proxy (examples/bare_pingora.rs, system allocator)
#   pingora-mi the same on mimalloc, the allocator tollgate uses
#   nginx      nginx as a reverse proxy (skipped when nginx is not installed)
# and prints requests/s, p50 and p99 for each, plus ratios to the baselines.
#
# Usage: benches/load.sh [DURATION] [CONNECTIONS] [PROXY_THREADS]
#        defaults: 10s 64 2.  Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10s}
CONNS=${2:-64}
THREADS=${3:-2}
WRK_THREADS=${WRK_THREADS:-2}
ROUNDS=${ROUNDS:-1}
UP=127.0.0.1:19101

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bin tollgate --example bare_pingora --example bare_pingora_mimalloc
BIN=target/release/tollgate
BARE=target/release/examples/bare_pingora
BARE_MI=target/release/examples/bare_pingora_mimalloc

. benches/lib.sh

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listening on $1" >&2
  return 1
}

write_ace_snapshot "$WORK/ace.yaml" "$UP"
cat >"$WORK/noplugins.yaml" <<EOF
_format_version: "3.0"
services:
  - { name: bench, url: "http://$UP", routes: [{ name: bench, paths: [/bench], strip_path: false }] }
EOF
cat >"$WORK/nginx.conf" <<EOF
worker_processes $THREADS;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream up { server $UP; keepalive 128; }
  server {
    listen 127.0.0.1:19030;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF

"$BIN" demo-upstream --listen "$UP" --name bench --fixed 2>/dev/null & PIDS+=($!)
TOLLGATE_LOG=warn "$BIN" run --config "$WORK/ace.yaml" --listen 127.0.0.1:19000 --admin-listen 127.0.0.1:19001 --threads "$THREADS" & PIDS+=($!)
TOLLGATE_LOG=warn "$BIN" run --config "$WORK/noplugins.yaml" --listen 127.0.0.1:19010 --admin-listen 127.0.0.1:19011 --threads "$THREADS" & PIDS+=($!)
"$BARE" 127.0.0.1:19020 "$UP" "$THREADS" 2>/dev/null & PIDS+=($!)
"$BARE_MI" 127.0.0.1:19040 "$UP" "$THREADS" 2>/dev/null & PIDS+=($!)
TARGETS="ace:19000 noplugins:19010 pingora:19020 pingora-mi:19040"
declare -A PROC=([ace]=${PIDS[1]} [noplugins]=${PIDS[2]} [pingora]=${PIDS[3]} [pingora-mi]=${PIDS[4]})
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  "$NGINX" -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/nginx-error.log" 2>/dev/null && TARGETS="$TARGETS nginx:19030"
fi
for p in 19101 19000 19010 19020 19040; do wait_port "127.0.0.1:$p"; done

# Sanity: ACE answers 200 with the key and 401 without.
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: bench-key' http://127.0.0.1:19000/bench)
[ "$code" = 200 ] || { echo "ace gateway answered $code" >&2; exit 1; }

# CPU time (user + system, all threads) of a proxy's processes, in clock ticks.
cpu_ticks() {
  local pids=$1 total=0
  if [ "$1" = nginx ]; then pids="$(cat "$WORK/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')"; fi
  for p in $pids; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
HZ=$(getconf CLK_TCK)
declare -A RPS P50 P99 CPU
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print v }'; }
echo "machine: $(nproc) cores, $(uname -r); wrk -t$WRK_THREADS -c$CONNS -d$DURATION; proxy threads $THREADS; rounds $ROUNDS"
for round in $(seq 1 "$ROUNDS"); do
  for t in $TARGETS; do
    name=${t%%:*}; port=${t#*:}
    curl -s -o /dev/null -H 'apikey: bench-key' "http://127.0.0.1:$port/bench" || true
    who=${PROC[$name]:-nginx}
    c0=$(cpu_ticks "$who")
    out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" --latency -H 'apikey: bench-key' "http://127.0.0.1:$port/bench")
    c1=$(cpu_ticks "$who")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu=$(awk -v d="$((c1 - c0))" -v hz="$HZ" -v n="$reqs" 'BEGIN{ printf "%.1f", d * 1000000 / hz / n }')
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    [ -n "$non2xx" ] && echo "warning: $name had $non2xx non-2xx responses" >&2
    RPS[$name]="${RPS[$name]:-} $rps"; P50[$name]="${P50[$name]:-} $p50"; P99[$name]="${P99[$name]:-} $p99"; CPU[$name]="${CPU[$name]:-} $cpu"
    printf 'round %d %-10s %10s req/s  p50 %8s ms  p99 %8s ms  proxy CPU %6s us/req\n' "$round" "$name" "$rps" "$p50" "$p99" "$cpu"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
echo
printf '%-10s %12s %10s %10s %14s\n' target "req/s" "p50 ms" "p99 ms" "CPU us/req"
for t in $TARGETS; do
  name=${t%%:*}
  printf '%-10s %12s %10s %10s %14s\n' "$name" "$(median <<<"${RPS[$name]}")" "$(median <<<"${P50[$name]}")" "$(median <<<"${P99[$name]}")" "$(median <<<"${CPU[$name]}")"
done
ace=$(median <<<"${RPS[ace]}")
for base in noplugins pingora pingora-mi nginx; do
  [ -n "${RPS[$base]:-}" ] || continue
  b=$(median <<<"${RPS[$base]}")
  ca=$(median <<<"${CPU[ace]}"); cb=$(median <<<"${CPU[$base]}")
  awk -v a="$ace" -v b="$b" -v n="$base" -v ca="$ca" -v cb="$cb" 'BEGIN{ printf "ace / %-10s throughput ratio %.3f   proxy CPU per request ratio %.3f\n", n, a/b, ca/cb }'
done
