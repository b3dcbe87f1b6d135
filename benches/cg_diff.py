#!/usr/bin/env python3
"""Per-function instructions per request from the callgrind files that
`KEEP=PREFIX benches/instructions.sh N ...` leaves behind.

    benches/cg_diff.py PREFIX N NAME [OTHER]

With one NAME: the functions that cost most per request (self cost, the run
with N requests minus the run with none, divided by N). With OTHER as well:
the functions whose per-request cost differs most between the two binaries
(NAME minus OTHER), e.g. `tollgate bare_pingora_mimalloc`.
Needs callgrind_annotate (valgrind)."""

import re
import signal
import subprocess
import sys
from collections import defaultdict

LINE = re.compile(r"^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$")


def self_costs(path):
    """Self cost per function (file:function, without the object suffix)."""
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", "--auto=no", path],
        capture_output=True, text=True, check=True,
    ).stdout
    costs = defaultdict(int)
    for line in out.splitlines():
        m = LINE.match(line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = re.sub(r"\s+\[[^\]]*\]$", "", m.group(2))
        # The function, not the source file it was inlined from.
        name = name.split(":", 1)[-1]
        costs[name] += int(m.group(1).replace(",", ""))
    return costs


def per_request(prefix, n, name):
    with_n = self_costs(f"{prefix}.{n}.{name}")
    without = self_costs(f"{prefix}.0.{name}")
    return {k: (v - without.get(k, 0)) / n for k, v in with_n.items()}


def main():
    # Piped into `head`: stop quietly.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    prefix, n, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    a = per_request(prefix, n, name)
    if len(sys.argv) == 4:
        rows = sorted(a.items(), key=lambda kv: -kv[1])
        print(f"total {sum(a.values()):,.0f} instructions/request")
        for k, v in rows[:40]:
            print(f"{v:9,.0f}  {k[:150]}")
        return
    b = per_request(prefix, n, sys.argv[4])
    keys = set(a) | set(b)
    rows = sorted(((a.get(k, 0) - b.get(k, 0), a.get(k, 0), b.get(k, 0), k) for k in keys),
                  key=lambda r: -abs(r[0]))
    print(f"total {sum(a.values()):,.0f} vs {sum(b.values()):,.0f} instructions/request")
    print(f"{'diff':>9} {'first':>9} {'second':>9}  function")
    for d, x, y, k in rows[:50]:
        print(f"{d:9,.0f} {x:9,.0f} {y:9,.0f}  {k[:140]}")


if __name__ == "__main__":
    main()
