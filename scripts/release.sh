#!/usr/bin/env bash
# Builds the release binary and splits it in two:
#   dist/tollgate        stripped (no symbols, no debug info): what ships
#   dist/tollgate.debug  its symbols and line tables, for profiling, core dumps
#                        and backtraces with file:line (docs/deployment.md)
# The two are tied by the binary's build id and a .gnu_debuglink section, so
# gdb, perf and addr2line find the debug file without flags once it sits where
# they look.
#
#   scripts/release.sh                      # cargo build --profile dist, then split
#   BIN=path/to/tollgate scripts/release.sh # split an already built binary
#   OUT=dir scripts/release.sh              # write elsewhere than dist/
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-dist}
bin=${BIN:-}
if [ -z "$bin" ]; then
  # `dist`: the release profile with fat LTO (Cargo.toml).
  cargo build --profile dist --locked --bin tollgate
  bin=target/dist/tollgate
fi
command -v objcopy >/dev/null || { echo "objcopy not found (Debian: apt-get install binutils)" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out/tollgate" "$out/tollgate.debug"
objcopy --only-keep-debug "$bin" "$out/tollgate.debug"
chmod -x "$out/tollgate.debug"
# The debuglink records the debug file's name and checksum, not its directory.
(cd "$out" && objcopy --strip-all --add-gnu-debuglink=tollgate.debug "$OLDPWD/$bin" tollgate)
build_id=$(readelf -n "$out/tollgate" | awk '/Build ID/ {print $3}')
size() { du -h "$1" | cut -f1; }
echo "$bin: $(size "$bin")"
echo "$out/tollgate: $(size "$out/tollgate") (stripped, build id ${build_id:-none})"
echo "$out/tollgate.debug: $(size "$out/tollgate.debug")"
