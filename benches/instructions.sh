#!/usr/bin/env bash
# Instructions per proxied request of one or more tollgate binaries, counted
# by callgrind: repeatable on a busy machine, where wrk's req/s are not. Each
# binary runs twice on the ACE bench snapshot (package limit charged on every
# request), once with N keep-alive requests and once with none; the
# difference divided by N is the per-request cost (startup cancels out).
#
# Usage: benches/instructions.sh N BIN [BIN...]     e.g. 2000 old/tollgate new/tollgate
#        A BIN written bare:PATH is a bare Pingora proxy (examples/bare_pingora*),
#        counted the same way for comparison. The first BIN must be tollgate
#        (it serves as the upstream). Needs valgrind. Traffic goes to 127.0.0.1 only.
#        SNAP=noplugins counts tollgate on the same route with no plugins.
#        KEEP=PREFIX keeps the callgrind files as PREFIX.N.NAME and PREFIX.0.NAME, NAME
#        being the binary's file name (tollgate-noplugins with SNAP=noplugins);
#        benches/cg_diff.py subtracts them into a per-function cost per request.
set -euo pipefail
N=$1; shift
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
. "$(dirname "$0")/lib.sh"
UP=127.0.0.1:19401
write_ace_snapshot "$WORK/ace.yaml" "$UP"
if [ "${SNAP:-ace}" = noplugins ]; then
  cat >"$WORK/ace.yaml" <<EOF
_format_version: "3.0"
services:
  - { name: bench, url: "http://$UP", routes: [{ name: bench, paths: [/bench], strip_path: false }] }
EOF
fi
"$1" demo-upstream --listen "$UP" --name bench --fixed 2>/dev/null & PIDS+=($!)

# total instructions of one gateway run that serves $2 requests
count() {
  local bin=$1 n=$2 out="$WORK/cg.$RANDOM"
  if [[ $bin == bare:* ]]; then
    valgrind --tool=callgrind --callgrind-out-file="$out" \
      "${bin#bare:}" 127.0.0.1:19410 "$UP" 1 2>"$WORK/vg.log" & local pid=$!
    # a bare connect (no request) tells the listener is up; it costs both runs the same
    for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/19410) 2>/dev/null && break; sleep 0.2; done
  else
    TOLLGATE_LOG=error valgrind --tool=callgrind --callgrind-out-file="$out" \
      "$bin" run --config "$WORK/ace.yaml" --listen 127.0.0.1:19410 --admin-listen 127.0.0.1:19411 \
      --threads 1 2>"$WORK/vg.log" & local pid=$!
    for _ in $(seq 1 300); do curl -s -o /dev/null http://127.0.0.1:19411/health && break; sleep 0.2; done
  fi
  python3 - "$n" <<'PY'
import http.client, sys
n = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", 19410, timeout=30)
for _ in range(n):
    c.request("GET", "/bench", headers={"apikey": "bench-key"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  local name; name=$(basename "${bin#bare:}")
  [[ $bin != bare:* && ${SNAP:-ace} != ace ]] && name="$name-$SNAP"
  [ -n "${KEEP:-}" ] && cp "$out" "$KEEP.$n.$name" || true
  awk '/^summary:/ {print $2}' "$out"
}
echo "callgrind, 1 proxy thread, $N keep-alive requests per run"
for bin in "$@"; do
  with=$(count "$bin" "$N")
  without=$(count "$bin" 0)
  echo "$bin: $(( (with - without) / N )) instructions/request"
done
