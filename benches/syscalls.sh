#!/usr/bin/env bash
# System calls per proxied request of tollgate binaries (and of a bare Pingora
# proxy, given as bare:PATH), counted by strace over N keep-alive requests on
# the ACE bench snapshot. Like instructions.sh this does not depend on machine
# noise: each syscall is a kernel entry, and a wake-up written to an eventfd
# is work another thread (or the same one) must then do.
#
# Usage: benches/syscalls.sh N BIN [BIN...]   e.g. 500 target/release/tollgate bare:target/release/examples/bare_pingora_mimalloc
#        The first BIN must be tollgate (it serves as the upstream). Needs strace.
#        RUN_ARGS: extra `run` flags for the tollgate binaries.
set -euo pipefail
N=$1; shift
command -v strace >/dev/null || { echo "strace is required (apt-get install strace)" >&2; exit 1; }
. "$(dirname "$0")/lib.sh"
UP=127.0.0.1:19601
write_ace_snapshot "$WORK/ace.yaml" "$UP"
"$1" demo-upstream --listen "$UP" --name bench --fixed 2>/dev/null & PIDS+=($!)

count() {
  local bin=$1 trace="$WORK/trace.$RANDOM"
  if [[ $bin == bare:* ]]; then
    strace -f -o "$trace" "${bin#bare:}" 127.0.0.1:19610 "$UP" 1 2>/dev/null & local pid=$!
    for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/19610) 2>/dev/null && break; sleep 0.2; done
  else
    # shellcheck disable=SC2086
    TOLLGATE_LOG=error strace -f -o "$trace" "$bin" run --config "$WORK/ace.yaml" --listen 127.0.0.1:19610 \
      --admin-listen 127.0.0.1:19611 --threads 1 ${RUN_ARGS:-} 2>/dev/null & local pid=$!
    for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:19611/health && break; sleep 0.2; done
  fi
  python3 - "$N" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", 19610, timeout=30)
for _ in range(int(sys.argv[1])):
    c.request("GET", "/bench", headers={"apikey": "bench-key"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
  sleep 0.3
  pkill -INT -P "$pid" || true
  wait "$pid" 2>/dev/null || true
  # Only the window from the first request read to the last response written.
  python3 - "$trace" "$N" "$bin" <<'PY'
import collections, re, sys
lines = open(sys.argv[1]).read().splitlines()
first = next(i for i, l in enumerate(lines) if 'GET /bench' in l and ('recvfrom' in l or 'read(' in l))
last = max(i for i, l in enumerate(lines) if 'HTTP/1.1 200' in l and ('sendto' in l or 'write' in l))
c = collections.Counter()
for l in lines[first:last + 1]:
    m = re.match(r'\d+\s+(\w+)\(', l)
    if m:
        c[m.group(1)] += 1
n = int(sys.argv[2])
per = ", ".join(f"{k} {v / n:.2f}" for k, v in c.most_common() if v / n >= 0.01)
print(f"{sys.argv[3]}: {sum(c.values()) / n:.2f} syscalls/request ({per})")
PY
}
echo "strace, 1 proxy thread, $N keep-alive requests"
for bin in "$@"; do count "$bin"; done
