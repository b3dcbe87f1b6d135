#!/usr/bin/env bash
# Slow and huge request heads against a running tollgate: N connections that
# each send one header line per second (slowloris), then N connections that
# each try to send a 1 MB head. Prints the gateway's RSS before, at the peak and
# after, how long the slow connections were held, and what they were answered.
#
# Usage: benches/slow_heads.sh [CONNECTIONS] [HEADER_TIMEOUT_SECS]
#        defaults: 300 10. Traffic goes to 127.0.0.1 only and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${1:-300}
TIMEOUT=${2:-10}
cargo build --release --quiet --bin tollgate
BIN=target/release/tollgate
. benches/lib.sh
cat >"$WORK/s.yaml" <<EOF
_format_version: "3.0"
services:
  - { name: up, url: "http://127.0.0.1:19201", routes: [{ name: up, paths: [/], strip_path: false }] }
EOF
"$BIN" demo-upstream --listen 127.0.0.1:19201 --name up --fixed 2>/dev/null & PIDS+=($!)
TOLLGATE_LOG=warn "$BIN" run --config "$WORK/s.yaml" --listen 127.0.0.1:19200 --admin-listen 127.0.0.1:19202 \
  --threads 2 --header-timeout "$TIMEOUT" & PIDS+=($!)
GW=${PIDS[1]}
sleep 1
rss() { awk '/VmRSS/ {print $2}' "/proc/$GW/status"; }
echo "machine: $(nproc) cores; $CONNS connections; --header-timeout $TIMEOUT"
echo "rss before: $(rss) kB"
python3 - "$CONNS" "$TIMEOUT" "$GW" <<'PY'
import socket, sys, time, threading
n, timeout, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def rss():
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1])
peak = [rss()]
stop = False
def sample():
    while not stop:
        peak[0] = max(peak[0], rss()); time.sleep(0.1)
threading.Thread(target=sample, daemon=True).start()

def slow(results, i):
    s = socket.create_connection(("127.0.0.1", 19200)); s.settimeout(1)
    t0 = time.time(); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    answer = b""
    for k in range(timeout * 3):
        try:
            s.sendall(b"X-Slow-%d: %s\r\n" % (k, b"a" * 64))
        except OSError:
            break
        try:
            answer = s.recv(64)
            break
        except socket.timeout:
            pass
    results[i] = (time.time() - t0, answer.split(b"\r\n")[0].decode(errors="replace"))
    s.close()

def huge(results, i):
    s = socket.create_connection(("127.0.0.1", 19200)); s.settimeout(5)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        for _ in range(1024):
            s.sendall(b"a" * 1024)
    except OSError:
        pass
    try:
        results[i] = s.recv(64).split(b"\r\n")[0].decode(errors="replace")
    except OSError as e:
        results[i] = f"error {e}"
    s.close()

for name, fn in (("slow", slow), ("huge", huge)):
    results = [None] * n
    threads = [threading.Thread(target=fn, args=(results, i)) for i in range(n)]
    t0 = time.time()
    for t in threads: t.start()
    for t in threads: t.join()
    answers = {}
    for r in results:
        key = r[1] if isinstance(r, tuple) else r
        answers[key] = answers.get(key, 0) + 1
    if name == "slow":
        held = sorted(r[0] for r in results)
        print(f"slow: held median {held[n//2]:.1f} s, max {held[-1]:.1f} s; answers {answers}")
    else:
        print(f"huge: {time.time()-t0:.1f} s for all; answers {answers}")
    print(f"rss peak so far: {peak[0]} kB")
stop = True
PY
sleep 1
echo "rss after: $(rss) kB"
curl -s http://127.0.0.1:19202/metrics | grep '^tollgate_request_head_refused_total'
