#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 600), then
# minimizes each corpus and prints executions, corpus size and crashes.
#
# Usage: scripts/fuzz.sh [SECONDS]
#   FUZZ_TARGETS   targets to run (default: all, from fuzz/Cargo.toml)
#   FUZZ_PARALLEL  how many targets run at once (default 2)
#   FUZZ_SEEDS     extra seed directory for the path targets (read only:
#                  what the fuzzer finds from it lands in fuzz/corpus/)
#   CARGO_LOCK     lock file that serializes cargo builds (default /tmp/cargo.lock)
#
# Installs what it needs: the nightly toolchain (rustup) and cargo-fuzz.
# Crashes are written to fuzz/artifacts/<target>/; the exit status is 1 if
# any target crashed.
set -euo pipefail

secs=${1:-600}
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"
lockfile=${CARGO_LOCK:-/tmp/cargo.lock}
parallel=${FUZZ_PARALLEL:-2}

locked() {
    if command -v flock >/dev/null; then flock "$lockfile" "$@"; else "$@"; fi
}

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    locked cargo install cargo-fuzz --locked
fi

targets=${FUZZ_TARGETS:-$(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' "$fuzz/Cargo.toml" | grep -v '^tollgate')}
cd "$fuzz"
locked cargo +nightly fuzz build
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin="$fuzz/target/$triple/release"
logs="$fuzz/target/logs"
mkdir -p "$logs"

run() {
    local t=$1 extra=()
    case $t in
        normalize_route | property_forwarded_path) [ -n "${FUZZ_SEEDS:-}" ] && extra=("$FUZZ_SEEDS") ;;
    esac
    mkdir -p "corpus/$t" "artifacts/$t" "$logs/$t"
    # -jobs=1 writes the fuzzer's output to fuzz-0.log in the working directory.
    (cd "$logs/$t" && nice -n 10 "$bin/$t" "$fuzz/corpus/$t" "${extra[@]}" \
        -artifact_prefix="$fuzz/artifacts/$t/" -max_total_time="$secs" \
        -jobs=1 -workers=1 -rss_limit_mb=2048 >"$logs/$t/driver.log" 2>&1) || true
}

running=0
for t in $targets; do
    echo "fuzzing $t for ${secs}s"
    run "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$parallel" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

crashed=0
printf '%-26s %14s %8s %10s %8s\n' target executions files bytes crashes
for t in $targets; do
    locked cargo +nightly fuzz cmin "$t" "corpus/$t" >"$logs/$t/cmin.log" 2>&1 || true
    # libFuzzer's last status line ("#N DONE ...", or the last one before a crash).
    execs=$(grep -ao '^#[0-9][0-9]*' "$logs/$t/fuzz-0.log" 2>/dev/null | tail -1 | tr -d '#' || true)
    files=$(find "corpus/$t" -type f | wc -l)
    bytes=$(find "corpus/$t" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
    crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
    [ "$crashes" -gt 0 ] && crashed=1
    printf '%-26s %14s %8s %10s %8s\n' "$t" "${execs:-?}" "$files" "$bytes" "$crashes"
done
exit "$crashed"
